# Standard scenario, iotlink: connect, subscribe, 1 command answered, 10 reports.
# argv: config.json path, mode: "min" (the scenario only, for the heap search)
#       or "measure" (then allocation per report / per command and the report rate)
import sys
import gc
import time
gc.collect()
A0 = gc.mem_alloc()
import json
from iotlink.device import Device

path, mode = sys.argv[1], sys.argv[2]
with open(path) as f:
    cfg = json.loads(f.read())
dev = Device(cfg)
cur = [None]
raw = []
handle = dev.handle


def spy(topic, msg):
    cur[0] = (topic, msg)
    return handle(topic, msg)


dev.handle = spy


@dev.command
def cmd(req):
    if not raw:
        raw.append(cur[0])
    return {"ok": 1}


dev.connect()
t0 = time.ticks_ms()
while not raw and time.ticks_diff(time.ticks_ms(), t0) < 20000:
    dev.poll(50)
payload = {"temperature": 21.5, "humidity": 40}
for i in range(10):
    dev.report(payload)
t0 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    dev.poll(20)
if not raw or len(dev._out) or dev.stats["sent"] < 11:
    print("INCOMPLETE", json.dumps(dev.stats))
    sys.exit(1)
gc.collect()
print("SESSION_HEAP", gc.mem_alloc() - A0)
print("MODULES", " ".join(sorted(k for k in sys.modules if k.startswith("iotlink") or k.startswith("umqtt"))))
if mode == "measure":
    n = 100
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    for i in range(n):
        dev.report(payload)
    after = gc.mem_alloc()
    gc.enable()
    print("PER_REPORT_ALLOC", (after - before) // n)
    k = 30
    topic, msg = raw[0]
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    for i in range(k):
        handle(topic, msg)
    after = gc.mem_alloc()
    gc.enable()
    print("PER_COMMAND_ALLOC", (after - before) // k)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    gc.collect()
    t0 = time.ticks_us()
    done = 0
    while done < n and time.ticks_diff(time.ticks_us(), t0) < 2000000:   # at most ~2 s
        dev.report(payload)
        done += 1
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("RATE", done * 1000000 // max(dt, 1))
    if not dev.connected or len(dev._out):
        print("INCOMPLETE", json.dumps(dev.stats))
        sys.exit(1)
print("DONE", dev.stats["sent"])
