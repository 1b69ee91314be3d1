"""The iotlink board app: config.json -> network -> clock -> cloud -> report loop.

Standard commands every cloud can send (command name, params):
  led       {"on": true|false}         switch the board LED
  interval  {"seconds": 5..86400}      change the report interval
  ping      {...}                      echo params back with the uptime
  reboot    {}                         reply, then reset the board
Property set/get work on the same state: "led" and "interval".

With an ``app.ota`` section in config.json ({"good_s", "trial_s",
"max_boots", "deadline_s", "ca", "verify"}: docs/ota.md) the cloud's upgrade
orders install app bundles (and ESP32 firmware), and an update is kept only
once it has reached the cloud.

A missing or broken config.json never boot-loops the board: the error is
printed and main() returns to the REPL.
"""

import sys
import time

import iotlink
from iotlink.device import Device
from iotlink import config, clock, log
import board

_MIN_INTERVAL = 5
_BOOT = time.ticks_ms()


class App:
    def __init__(self, cfg):
        a = config.section(cfg, "app")
        self.interval = config.get(a, "report_interval", int, 60, "app", lo=_MIN_INTERVAL, hi=86400)
        self.run_s = config.get(a, "run_seconds", int, 0, "app", lo=0)  # 0 = forever
        self.ntp = config.get(a, "ntp", str, None, "app")
        self.led = False
        self.reboot_at = None
        self.dev = Device(cfg)
        self.dev.on("set", self.set)
        self.dev.on("get", self.get)
        self.ota = None
        o = a.get("ota")
        if o is None:
            self.dev.command(self.command)
            self.dev.on("status", self.status)
        else:
            from iotlink import ota_app
            self.ota = ota_app.attach(self.dev, command=self.command, status=self.status,
                                      reboot=board.reboot, **ota_app.options(o))

    def command(self, req):
        p = req.params or {}
        if req.name == "led":
            self.set_led(p.get("on"))
            return {"led": self.led}
        if req.name == "interval":
            self.set_interval(p.get("seconds"))
            return {"interval": self.interval}
        if req.name == "ping":
            return {"echo": p, "uptime_s": time.ticks_diff(time.ticks_ms(), _BOOT) // 1000}
        if req.name == "reboot":
            self.reboot_at = time.ticks_add(time.ticks_ms(), 1000)  # after the reply is out
            return {"rebooting": True}
        raise ValueError("unknown command %s" % req.name)

    def set(self, req):
        p = req.params
        for k in p:
            if k not in ("led", "interval"):
                raise ValueError("unknown property %s" % k)
        if "led" in p:
            self.set_led(p["led"])
        if "interval" in p:
            self.set_interval(p["interval"])

    def get(self, req):
        r = self.readings()
        return {k: r[k] for k in req.params} if req.params else r

    def set_led(self, on):
        if not isinstance(on, bool):
            raise ValueError("led must be true or false")
        self.led = on
        board.led(on)

    def set_interval(self, s):
        if not isinstance(s, int) or isinstance(s, bool) or not _MIN_INTERVAL <= s <= 86400:
            raise ValueError("interval must be an integer %d..86400" % _MIN_INTERVAL)
        self.interval = s

    def status(self, event, detail):
        board.status(event)

    def readings(self):
        r = board.sensors()
        r["led"] = self.led
        r["interval"] = self.interval
        return r

    def run(self):
        if self.ntp:
            try:
                clock.ntp(self.ntp)
            except Exception as e:
                log.warn("NTP failed: %s", e)
        dev = self.dev
        dev.connect()
        t0 = time.ticks_ms()
        next_report = t0
        while not self.run_s or time.ticks_diff(time.ticks_ms(), t0) < self.run_s * 1000:
            now = time.ticks_ms()
            if time.ticks_diff(now, next_report) >= 0:
                dev.report(self.readings())
                next_report = time.ticks_add(now, self.interval * 1000)
            if self.reboot_at is not None and time.ticks_diff(now, self.reboot_at) >= 0:
                dev.poll(0)
                board.reboot()
            board.feed()
            if self.ota is not None:
                self.ota.check()
            dev.poll(min(1000, max(0, time.ticks_diff(next_report, time.ticks_ms()))))
        dev.disconnect()


def main(path="config.json"):
    try:
        cfg = config.load(path)
        board.setup(cfg)
        app = App(cfg)
    except iotlink.ConfigError as e:
        print("iotlink: config problem, fix config.json and reset:", e)
        board.status("config")
        return None
    try:
        app.run()
    except iotlink.AuthError as e:
        print("iotlink: the cloud refused this device:", e)
        board.status("auth")
    return app


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.json")
