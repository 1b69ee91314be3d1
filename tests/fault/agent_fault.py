# Runs on the MicroPython unix port: the device under fault injection.
# argv: config.json path, longest run time (ms), report interval (ms, 0 = none),
#       and optionally the poll() interval (ms, default 20)
# One line per event for the host: REPORT, CMD, STATUS, the library's log
# lines, SLOW <call> <ms> for a poll()/report() over the poll interval + 200 ms;
# at the end WORST {"poll": ms, "report": ms}, ERROR <type> <dev.error>, STATS.
# The "exit" command stops reporting, sends what is still queued and ends the
# run early.
import sys
import json
import time
from iotlink.device import Device

sys.path.append(__file__.rsplit("/", 2)[0] + "/device")
from agent_lines import exit_or_pong, show_status, Worst  # noqa: E402

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
poll_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 20
dev = Device(cfg_path)
stop = []
worst = Worst(poll_ms + 200, "poll", "report")
dev.command(lambda req: exit_or_pong(req, lambda: stop.append(1)))
dev.on("status", show_status)

dev.connect()
n = 0
t0 = time.ticks_ms()
next_report = t0
while not stop and time.ticks_diff(time.ticks_ms(), t0) < run_ms:
    if report_ms and time.ticks_diff(time.ticks_ms(), next_report) >= 0:
        t = time.ticks_ms()
        dev.report({"n": n})
        worst.since("report", t)
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        next_report = time.ticks_add(next_report, report_ms)
    t = time.ticks_ms()
    dev.poll(poll_ms)
    worst.since("poll", t)
t1 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 5000:
    dev.poll(50)
dev.poll(100)
print("WORST", json.dumps(worst.ms))
print("ERROR", type(dev.error).__name__, dev.error)
print("STATS", json.dumps(dev.stats))
