"""Exceptions raised by iotlink.  Messages never carry secret values."""


class ConfigError(ValueError):
    """config.json is missing a field or has one of the wrong type; the message names it."""


class AuthError(Exception):
    """The cloud refused the credentials (CONNACK 4 or 5): retrying will not help."""

    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


class ProtocolError(OSError):
    """The broker broke MQTT 3.1.1 (a malformed or unexpected packet): the link
    is closed and made again."""
