"""iotkit device configuration: ask for it (DOC builds only).  The answer goes
to the "config" handler as Request(CONFIG, "get", params); the platform's
config set arrives there as Request(CONFIG, "set", params)."""

from .iotkit import _CFG_GET


def config_get(c):
    """Ask for the device's configuration (DOC; the answer goes to the
    "config" handler as Request(CONFIG, "get", params))."""
    return c.up(c._base + b"s/config/get", _CFG_GET, {})
