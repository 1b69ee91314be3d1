"""A relay (or the board LED) driven by one SenseCAP measurement, with hysteresis.

The board subscribes to the organisation's SenseCAP Data OpenStream and
watches one measurement of one LoRaWAN device, e.g. the air temperature of a
weather station.  config.json::

  {"cloud": {"type": "sensecap", "org_id": "<OrgID>", "access_key": "<API access key>",
             "filters": [{"eui": "2CF7F1C0440000A1", "measurement": 4097}]},
   "app": {"eui": "2CF7F1C0440000A1", "measurement": 4097,
           "threshold": 30.0, "hysteresis": 1.0, "above": true,
           "pin": 5, "active_low": false, "stale_s": 3600}}

above true: the output goes on at value >= threshold and off again below
threshold - hysteresis (a fan, an alarm).  above false: on at value <=
threshold, off above threshold + hysteresis (a heater).  pin: the GPIO of the
relay; without it the board LED (board.led) shows the state.  stale_s: when
the device has sent nothing for that long the output goes off (0: never).

Run on the unix port against the local OpenStream (``iotlink sim sensecap``):
  MICROPYPATH=lib:.deps:boards/unix .venv/bin/micropython firmware/examples/sensecap_threshold.py config.json
"""

import sys
import time

import iotlink
from iotlink.device import Device
from iotlink import config, clock, log
import board


class Threshold:
    def __init__(self, cfg):
        a = config.section(cfg, "app")
        self.eui = config.get(a, "eui", str, where="app").upper()
        self.mid = config.get(a, "measurement", int, where="app", lo=0)
        self.threshold = config.get(a, "threshold", float, where="app")
        self.hyst = config.get(a, "hysteresis", float, 0.0, "app", lo=0)
        self.above = config.get(a, "above", bool, True, "app")
        self.stale_ms = config.get(a, "stale_s", int, 0, "app", lo=0) * 1000
        self.run_s = config.get(a, "run_seconds", int, 0, "app", lo=0)
        pin = config.get(a, "pin", int, None, "app", lo=0)
        self.active_low = config.get(a, "active_low", bool, False, "app")
        self.pin = None
        if pin is not None:
            try:
                from machine import Pin
                self.pin = Pin(pin, Pin.OUT)
            except (ImportError, AttributeError):
                log.warn("no machine.Pin on this port: the board LED shows the output")
        self.on = None  # unknown until the first reading
        self.dev = Device(cfg)
        self.dev.on("data", self.data)
        self.dev.on("status", lambda event, detail: board.status(event))

    def data(self, req):
        p = req.params
        if req.name != "reading" or p["eui"] != self.eui or p["id"] != self.mid:
            return
        v = p["value"]
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, (int, float)):
            log.warn("measurement %d: value is not a number", self.mid)
            return
        print("READING", self.eui, self.mid, v, p.get("unit", ""))
        self.decide(v)

    def decide(self, v):
        t, h = self.threshold, self.hyst
        if self.above:
            want = v >= t if not self.on else v >= t - h
        else:
            want = v <= t if not self.on else v <= t + h
        if want != self.on:
            self.switch(want, v)

    def switch(self, on, why):
        self.on = on
        if self.pin is not None:
            self.pin.value(on != self.active_low)
        else:
            board.led(on)
        print("OUTPUT", "on" if on else "off", why)

    def check_stale(self):
        if not self.stale_ms or not self.on:
            return
        if self.dev.cloud.online(self.eui, clock.now_ms(), self.stale_ms) is False:
            log.warn("no reading from %s for %d s: output off", self.eui, self.stale_ms // 1000)
            self.switch(False, "stale")

    def run(self):
        dev = self.dev
        dev.connect()
        t0 = time.ticks_ms()
        while not self.run_s or time.ticks_diff(time.ticks_ms(), t0) < self.run_s * 1000:
            self.check_stale()
            board.feed()
            dev.poll(1000)
        dev.disconnect()


def main(path="config.json"):
    try:
        cfg = config.load(path)
        board.setup(cfg)
        app = Threshold(cfg)
    except iotlink.ConfigError as e:
        print("sensecap_threshold: config problem:", e)
        board.status("config")
        return None
    try:
        app.run()
    except iotlink.AuthError as e:
        print("sensecap_threshold: OpenStream refused the credentials:", e)
        board.status("auth")
    return app


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.json")
