"""Drivers for modules that carry the cloud link themselves (driven over a UART)."""
