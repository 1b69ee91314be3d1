"""A board that works one DTU / Wi-Fi device through ALIENTEK 原子云.

原子云 is not an MQTT cloud: a board meets it as an application on the
account, over its WebSocket (iotlink.apis.alientek.Session), like the phone
app does.  This board subscribes to one device (a DTU or an ATK Wi-Fi module
with a sensor or display behind it), sends it the board's readings as a text
line every ``report_interval`` seconds, and obeys the lines the device sends
back.  config.json::

  {"cloud": {"type": "alientek", "token": "<API token>", "org_id": 1,
             "ca": "alientek-ca.der", "devices": ["<20-digit number>"]},
   "app": {"dtu": "<20-digit number>", "report_interval": 60}}

app.dtu defaults to the first of cloud.devices.  Sent to the device (0x03):
``temperature=20.4 count=3`` CR LF, not while the cloud says it is offline.
Lines from the device (0x06), answered with one line each:
  led on | led off     the board LED        -> led=on / led=off
  interval <seconds>   5..86400             -> interval=<seconds>
  ping                                      -> pong uptime=<seconds>
  anything else                             -> unknown: <line>

Run on the unix port against the local 原子云 (``iotlink run --cloud alientek``
does it all):
  MICROPYPATH=lib:boards/unix .venv/bin/micropython firmware/examples/alientek_dtu.py config.json
"""

import sys
import time

import iotlink
from iotlink import config, log
from iotlink.apis import alientek
import board

_BOOT = time.ticks_ms()


class DtuLink:
    def __init__(self, cfg):
        a = config.section(cfg, "app")
        devs = config.section(cfg, "cloud").get("devices") or [None]
        self.dtu = config.get(a, "dtu", str, devs[0], "app")
        self.interval = config.get(a, "report_interval", int, 60, "app", lo=5, hi=86400)
        self.run_s = config.get(a, "run_seconds", int, 0, "app", lo=0)
        if self.dtu is None:
            raise iotlink.ConfigError("app.dtu: required (or one number in cloud.devices)")
        if not isinstance(self.dtu, str) or len(self.dtu) != 20 or not self.dtu.isdigit():
            raise iotlink.ConfigError("app.dtu: must be a 20-digit device number")
        self.s = s = alientek.Session(cfg)
        s.subscribe(self.dtu)
        self.online = None   # unknown until the cloud says
        s.on("data", self.data)
        s.on("online", self.seen)
        s.on("offline", self.seen)
        s.on("status", lambda event, detail: board.status(event))

    def seen(self, req):
        if req.target in (self.dtu, None):
            self.online = req.kind == "online"
            print("DTU", req.kind)

    def data(self, req):
        if req.target != self.dtu:
            return
        self.online = True
        for line in req.params.split(b"\n"):
            line = line.strip()
            if line:
                print("FROM DTU", line.decode() if _text(line) else line)
                self.reply(self.obey(line))

    def obey(self, line):
        w = line.split()
        if w == [b"led", b"on"] or w == [b"led", b"off"]:
            on = w[1] == b"on"
            board.led(on)
            return b"led=on" if on else b"led=off"
        if len(w) == 2 and w[0] == b"interval" and w[1].isdigit() and 5 <= int(w[1]) <= 86400:
            self.interval = int(w[1])
            return ("interval=%d" % self.interval).encode()
        if w == [b"ping"]:
            return ("pong uptime=%d" % (time.ticks_diff(time.ticks_ms(), _BOOT) // 1000)).encode()
        return b"unknown: " + line[:40]

    def reply(self, text):
        print("TO DTU", text.decode() if _text(text) else text)
        self.s.send(self.dtu, text + b"\r\n")

    def report(self):
        if self.online is False:
            return
        r = board.sensors()
        line = " ".join("%s=%s" % (k, r[k]) for k in sorted(r))
        print("REPORT", line)
        self.s.send(self.dtu, line + "\r\n")

    def run(self):
        s = self.s
        try:
            s.connect()
        except OSError as e:
            log.warn("first connect failed (%s): retrying", e)
        t0 = due = time.ticks_ms()
        while not self.run_s or time.ticks_diff(time.ticks_ms(), t0) < self.run_s * 1000:
            if time.ticks_diff(time.ticks_ms(), due) >= 0:
                due = time.ticks_add(due, self.interval * 1000)
                self.report()
            board.feed()
            s.poll(max(0, min(1000, time.ticks_diff(due, time.ticks_ms()))))
        s.close()
        print("STATS", s.stats)


def _text(b):
    try:
        b.decode()
        return True
    except UnicodeError:
        return False


def main(path="config.json"):
    try:
        cfg = config.load(path)
        board.setup(cfg)
        app = DtuLink(cfg)
    except iotlink.ConfigError as e:
        print("alientek_dtu: config problem:", e)
        board.status("config")
        return None
    app.run()
    return app


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.json")
