# The device of the outage benchmark, on the unix port: QoS 1 reports at a
# fixed rate with the session defaults (only the cloud address is configured).
# argv: config.json path, reports per second, longest run (ms)
# Lines: REPORT <n>, STATUS <event> <ms>, and at the end STATS <json>.
# Ends when the host creates "<config path>.stop", after sending what is queued.
import sys
import json
import time
from iotlink.device import Device

cfg_path, rate, run_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = Device(cfg_path)


@dev.on("status")
def on_status(event, detail):
    print("STATUS", event, time.ticks_ms())


def stopped():
    try:
        open(cfg_path + ".stop").close()
        return True
    except OSError:
        return False


dev.connect()
n = 0
period = 1000 // rate
t0 = next_report = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < run_ms and not (n % rate == 0 and stopped()):
    if time.ticks_diff(time.ticks_ms(), next_report) >= 0:
        dev.report({"n": n})
        print("REPORT", n)
        n += 1
        next_report = time.ticks_add(next_report, period)
    dev.poll(max(0, time.ticks_diff(next_report, time.ticks_ms())))
t1 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 60000:
    dev.poll(50)
dev.poll(200)
print("STATS", json.dumps(dev.stats))
