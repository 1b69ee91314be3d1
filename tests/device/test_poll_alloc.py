"""The poll loop of a connected, idle session allocates nothing on the real
MicroPython unix port: a board that polls every few ms for months must not
churn its heap (allocation leads to fragmentation and GC pauses)."""

import json


SCRIPT = """
import gc, sys, json, time
from iotlink.device import Device


def measure(dev):
    # locals only: a new global would grow the module dict and count here
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(3000):
        dev.poll(0)
    b = gc.mem_alloc()
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 1500:
        dev.poll(50)         # waits in ipoll, wakes for the keepalive check
    c = gc.mem_alloc()
    gc.enable()
    return b - a, c - b


with open(sys.argv[1]) as f:
    dev = Device(json.loads(f.read()))
assert dev.connect()
for _ in range(20):          # settle: anything a first poll loads or builds
    dev.poll(5)
spin, waits = measure(dev)
print("ALLOC", spin, waits, dev.connected)
"""


def test_idle_poll_allocates_nothing(mosquitto, tmp_path, upy_run):
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": mosquitto.port,
                     "client_id": "idle1", "keepalive": 30}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = upy_run.run(SCRIPT, args=(str(path),), timeout=60)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("ALLOC")][0]
    _, spin, waits, up = line.split()
    assert up == "True"
    assert int(spin) == 0, "3000 poll(0) calls allocated %s bytes" % spin
    assert int(waits) == 0, "1.5 s of poll(50) allocated %s bytes" % waits
