"""iotlink: one small API to IoT clouds from MicroPython boards.

    import iotlink
    dev = iotlink.connect("config.json")
    @dev.command
    def command(req):
        return {"done": req.name}
    dev.report({"temperature": 21.5})
    while True:
        dev.poll(1000)

The blocking Device is ``iotlink.device.Device`` and the asyncio one
``iotlink.aio.Device``: this package imports neither, so an app loads only
the driver it uses.
"""

from .errors import ConfigError, AuthError  # noqa: F401 (for the app)

__version__ = "0.1.0"


def connect(config="config.json", **kw):
    """Build a Device from a config dict or path and connect it.

    Raises ConfigError (names the bad field) or AuthError (credentials
    refused).  Any other connect failure is logged and retried by poll().
    With ``cloud.transport`` "https" (IoTDA) the device is the HTTPS one
    (drivers/iotda_https.py): same calls, one request each, no downlinks."""
    from .config import load, transport
    cfg = load(config) if isinstance(config, str) else config
    if isinstance(cfg, dict) and transport(cfg) == "https":
        from .drivers.iotda_https import Device as HttpsDevice
        dev = HttpsDevice(cfg)
    else:
        from .device import Device
        dev = Device(cfg, **kw)
    dev.connect()
    return dev
