"""Three tasks on one event loop: the cloud session (iotlink.aio), a blinking
LED, a sensor read every second; and a tiny HTTP status page served by the
board.  Only what MicroPython firmware ships (asyncio, json, the board
module).  config.json as for firmware/main.py, plus in "app":

  report_interval  seconds between reports (default 10; readings are taken
                   every second, the report carries the latest)
  http_port        the status page's port (default 80, 8080 on the unix
                   board; 0: no page)
  run_seconds      stop after that long (default 0: run for ever)

The LED blinks slowly while the cloud is up and fast while it is not; the
"led" command ({"on": true}) holds it on, {"on": false} lets it blink again.  "ping" answers
after a short await, as a coroutine handler does.

Run on the unix port against a local cloud, from the repository root:
  .venv/bin/iotlink run --app examples/asyncio_app.py
and open http://127.0.0.1:8080/ while it runs.
"""

import sys
import json
import time
import asyncio

import iotlink
from iotlink import aio, config, log
import board


class App:
    def __init__(self, cfg):
        a = config.section(cfg, "app")
        self.interval = config.get(a, "report_interval", int, 10, "app", lo=1, hi=86400)
        self.http_port = config.get(a, "http_port", int, 8080 if board.NAME == "unix" else 80,
                                    "app", lo=0, hi=65535)
        self.run_s = config.get(a, "run_seconds", int, 0, "app", lo=0)
        self.hold = False
        self.readings = {}
        self.dev = aio.Device(cfg)
        self.dev.command(self.command)
        self.dev.on("status", lambda event, detail: board.status(event))

    async def command(self, req):
        p = req.params or {}
        if req.name == "led":
            self.hold = p.get("on") is True
            return {"led": "on" if self.hold else "blinking"}
        if req.name == "ping":
            await asyncio.sleep_ms(100)     # a coroutine handler may wait
            return {"echo": p, "readings": self.readings}
        raise ValueError("unknown command %s" % req.name)

    async def blink(self):
        on = False
        while True:
            on = self.hold or not on
            board.led(on)
            await asyncio.sleep_ms(1000 if self.dev.connected else 200)

    async def sense(self):
        n = 0
        while True:
            self.readings = board.sensors()
            if n % self.interval == 0:
                self.dev.report(self.readings)  # queued: returns at once
            n += 1
            board.feed()
            await asyncio.sleep_ms(1000)

    async def page(self, reader, writer):
        try:
            await asyncio.wait_for_ms(reader.readline(), 2000)   # the request line
            while await asyncio.wait_for_ms(reader.readline(), 2000) not in (b"\r\n", b"\n", b""):
                pass
            body = json.dumps({"connected": self.dev.connected, "readings": self.readings,
                               "stats": self.dev.stats}).encode()
            writer.write(("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n" % len(body)).encode())
            writer.write(body)
            await writer.drain()
        except Exception as e:
            log.warn("status page: %s", log.err(e))
        finally:
            writer.close()
            await writer.wait_closed()

    async def run(self):
        await self.dev.connect()
        asyncio.create_task(self.blink())
        asyncio.create_task(self.sense())
        if self.http_port:
            await asyncio.start_server(self.page, "0.0.0.0", self.http_port)
            print("status page on port", self.http_port)
        t0 = time.ticks_ms()
        while not self.run_s or time.ticks_diff(time.ticks_ms(), t0) < self.run_s * 1000:
            await asyncio.sleep_ms(1000)
        await self.dev.disconnect()


def main(path="config.json"):
    """Returns when run_seconds are over; a config mistake or refused
    credentials are printed (no boot loop)."""
    try:
        cfg = config.load(path)
        board.setup(cfg)        # Wi-Fi: before the loop starts
        asyncio.run(App(cfg).run())
    except iotlink.ConfigError as e:
        print("iotlink: config problem, fix config.json and reset:", e)
    except iotlink.AuthError as e:
        print("iotlink: the cloud refused this device:", e)
        board.status("auth")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.json")
