# Runs on the MicroPython unix port: the device facing a hostile broker.
# argv: config.json path, longest run time (ms), report interval (ms), poll ms
# Lines: CMD, STATUS, LOG <library log line>, SLOW <call> <ms> for a call
# that took over poll ms + 200, and at the end WORST {"poll": ms, "report": ms},
# ERROR <dev.error> and STATS.  The "exit" command ends the run.
import sys
import json
import time
import iotlink
from iotlink import log

cfg_path, run_ms, report_ms, poll_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
log.sink = lambda line: print("LOG", line)
dev = iotlink.Device(cfg_path)
stop = []


@dev.command
def command(req):
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "exit":
        stop.append(1)
        return {}
    return {"pong": req.params.get("n")}


@dev.on("status")
def on_status(event, detail):
    print("STATUS", event)


worst = {"poll": 0, "report": 0}


def timed(name, fn, *args):
    t = time.ticks_ms()
    fn(*args)
    d = time.ticks_diff(time.ticks_ms(), t)
    if d > worst[name]:
        worst[name] = d
    if d > poll_ms + 200:
        print("SLOW", name, d)


dev.connect()
n = 0
t0 = time.ticks_ms()
next_report = t0
while not stop and time.ticks_diff(time.ticks_ms(), t0) < run_ms:
    if time.ticks_diff(time.ticks_ms(), next_report) >= 0:
        timed("report", dev.report, {"n": n})
        n += 1
        next_report = time.ticks_add(time.ticks_ms(), report_ms)
    timed("poll", dev.poll, poll_ms)
dev.poll(200)
print("WORST", json.dumps(worst))
print("ERROR", type(dev.error).__name__, dev.error)
print("STATS", json.dumps(dev.stats))
