# Where the heap of a session goes: import cost per module (leaves first, so
# each figure is the module's own), the Device object, the connection, and the
# steady state after the standard scenario.  Run with the library as .mpy.
# argv: config.json path, modules (comma-separated, in import order)
import sys
import gc
gc.collect()
last = [gc.mem_alloc()]


def step(what):
    gc.collect()
    now = gc.mem_alloc()
    print("STEP", now - last[0], what)
    last[0] = now


import json
step("json")
for m in sys.argv[2].split(","):
    __import__(m)
    step("import " + m)
with open(sys.argv[1]) as f:
    cfg = json.loads(f.read())
step("config dict")
from iotlink.device import Device
dev = Device(cfg)
step("Device() (+ what it imports lazily)")
raw = []


@dev.command
def cmd(req):
    raw.append(1)
    return {"ok": 1}


step("handler")
import time
dev.connect()
step("connect(): socket, MQTTClient, poller, subscribe, on_connect")
t0 = time.ticks_ms()
while not raw and time.ticks_diff(time.ticks_ms(), t0) < 20000:
    dev.poll(50)
step("1 command answered")
for i in range(10):
    dev.report({"temperature": 21.5, "humidity": 40})
dev.poll(100)
step("10 reports")
import micropython
micropython.qstr_info()  # "qstr pool: ... n_total_bytes=N": the interned names' share
print("MODULES", " ".join(sorted(k for k in sys.modules if k.startswith("iotlink") or k.startswith("umqtt"))))
print("DONE")
