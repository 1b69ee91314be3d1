# Runs on the MicroPython unix port: a device under test.
# argv: config.json path, run time (ms), report interval (ms, 0 = none)
# Prints one line per event so the host test can follow it (agent_lines).
import sys
import json
import time
import iotlink
from iotlink.device import Device
from agent_lines import answer, show

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = Device(cfg_path)
dev.command(answer)
show(dev)

try:
    dev.connect()
except iotlink.AuthError as e:
    print("AUTH", e.code, e)
    sys.exit(3)
n = 0
t0 = time.ticks_ms()
next_report = t0
while time.ticks_diff(time.ticks_ms(), t0) < run_ms:
    if report_ms and time.ticks_diff(time.ticks_ms(), next_report) >= 0:
        dev.report({"n": n})
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        next_report = time.ticks_add(next_report, report_ms)
    dev.poll(20)
print("STATS", json.dumps(dev.stats))
