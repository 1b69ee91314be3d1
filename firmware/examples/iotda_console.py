"""An IoTDA board with a remote console (secure tunnel -> REPL) and file
upload/download next to its normal MQTT session.

    micropython firmware/examples/iotda_console.py config.json

config.json is the usual IoTDA one; ``app.console_password`` (optional)
protects the console, ``app.run_seconds`` stops the loop (0: forever).
The console opens when the platform creates a tunnel for this device; each
line typed at ``iotlink tunnel`` runs here.  ``upload(name, path)`` and
``download(name, path)`` are there for the console too.
"""

import sys
import time
import iotlink
from iotlink import config
from iotlink.drivers import iotda_files, iotda_tunnel

cfg = config.load(sys.argv[1] if len(sys.argv) > 1 else "config.json")
app = cfg.get("app", {})
dev = iotlink.connect(cfg)
files = iotda_files.Files(dev)


@dev.command
def command(req):
    return {"uptime_ms": time.ticks_ms()}


def upload(name, path):
    return files.upload(name, path)


def download(name, path):
    return files.download(name, path)


tun = iotda_tunnel.Tunnel(dev, password=app.get("console_password"), on_event=files.event,
                          names={"dev": dev, "upload": upload, "download": download})
print("console ready: waiting for a tunnel", dev.cloud.device_id)
run_s = app.get("run_seconds", 0)
end = time.ticks_add(time.ticks_ms(), run_s * 1000)
last = time.ticks_ms()
while not run_s or time.ticks_diff(end, time.ticks_ms()) > 0:
    dev.poll(50)
    tun.poll(50)
    if time.ticks_diff(time.ticks_ms(), last) >= 10000:
        last = time.ticks_ms()
        dev.report({"uptime_s": last // 1000})
dev.disconnect()
