# Runs on the MicroPython unix port: the device under fault injection.
# argv: config.json path, longest run time (ms), report interval (ms, 0 = none)
# One line per event for the host.  The "exit" command stops reporting, sends
# what is still queued and ends the run early.
import sys
import json
import time
import iotlink

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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


dev.connect()
n = 0
t0 = time.ticks_ms()
next_report = t0
while not stop and time.ticks_diff(time.ticks_ms(), t0) < run_ms:
    if report_ms and time.ticks_diff(time.ticks_ms(), next_report) >= 0:
        dev.report({"n": n})
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        next_report = time.ticks_add(next_report, report_ms)
    dev.poll(20)
t1 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 5000:
    dev.poll(50)
dev.poll(100)
print("STATS", json.dumps(dev.stats))
