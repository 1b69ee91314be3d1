"""Application-side clients of cloud platforms (REST, WebSocket): a board that
watches and controls devices rather than being one."""
