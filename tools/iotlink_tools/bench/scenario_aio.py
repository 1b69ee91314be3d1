# Standard scenario, iotlink.aio: connect, subscribe, 1 command answered, 10 reports.
# argv: config.json path, mode: "min" (the scenario only, for the heap search)
#       or "measure" (then allocation per acknowledged report and the rates
#       with 1 and with 8 QoS 1 reports in flight)
import sys
import gc
import time
gc.collect()
A0 = gc.mem_alloc()
import json
import asyncio
from iotlink import aio

path, mode = sys.argv[1], sys.argv[2]
with open(path) as f:
    cfg = json.loads(f.read())
dev = aio.Device(cfg, window=1)
got = []


@dev.command
def cmd(req):
    got.append(1)
    return {"ok": 1}


async def acked(target, ms):
    t0 = time.ticks_ms()
    while dev.stats["sent"] < target and time.ticks_diff(time.ticks_ms(), t0) < ms:
        await asyncio.sleep_ms(0)


async def rate(window, payload):
    dev.window = window
    done = dev.stats["sent"]
    t0 = time.ticks_us()
    while time.ticks_diff(time.ticks_us(), t0) < 2000000:   # ~2 s
        while dev.backlog() < window:
            dev.report(payload)
        await asyncio.sleep_ms(0)
    n = dev.stats["sent"] - done
    dt = time.ticks_diff(time.ticks_us(), t0)
    await acked(dev.stats["queued"] - dev.stats["dropped"], 10000)
    return n * 1000000 // max(dt, 1)


async def main():
    await dev.connect()
    t0 = time.ticks_ms()
    while not got and time.ticks_diff(time.ticks_ms(), t0) < 20000:
        await asyncio.sleep_ms(20)
    payload = {"temperature": 21.5, "humidity": 40}
    for i in range(10):
        dev.report(payload)
    await acked(11, 10000)
    if not got or dev.backlog() or dev.stats["sent"] < 11:
        print("INCOMPLETE", json.dumps(dev.stats))
        sys.exit(1)
    gc.collect()
    print("SESSION_HEAP", gc.mem_alloc() - A0)
    print("MODULES", " ".join(sorted(k for k in sys.modules if k.startswith("iotlink"))))
    if mode == "measure":
        n = 100
        gc.collect()
        before = gc.mem_alloc()
        gc.disable()
        sent = dev.stats
        for i in range(n):
            dev.report(payload)
            while sent["sent"] < sent["queued"]:
                await asyncio.sleep_ms(0)
        after = gc.mem_alloc()
        gc.enable()
        print("PER_REPORT_ALLOC", (after - before) // n)
        print("RATE1", await rate(1, payload))
        print("RATE8", await rate(8, payload))
        if not dev.connected or dev.backlog():
            print("INCOMPLETE", json.dumps(dev.stats))
            sys.exit(1)
    print("DONE", dev.stats["sent"])


asyncio.run(main())
