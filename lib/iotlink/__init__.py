"""iotlink: one small API to IoT clouds from MicroPython boards.

    import iotlink
    dev = iotlink.connect("config.json")
    @dev.command
    def command(req):
        return {"done": req.name}
    dev.report({"temperature": 21.5})
    while True:
        dev.poll(1000)
"""

from .errors import ConfigError, AuthError
from .device import Device

__version__ = "0.1.0"


def connect(config="config.json", **kw):
    """Build a Device from a config dict or path and connect it.

    Raises ConfigError (names the bad field) or AuthError (credentials
    refused).  Any other connect failure is logged and retried by poll()."""
    dev = Device(config, **kw)
    dev.connect()
    return dev
