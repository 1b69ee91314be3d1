# Runs on the MicroPython unix port: a device under test, driven by asyncio
# (iotlink.aio) beside a 10 ms ticker task that records the loop's largest gap.
# argv: config.json path, run time (ms), report interval (ms, 0 = none)
# The same lines as tests/device/agent.py (STATUS, CMD, SET, MSG, REPORT,
# AUTH, STATS) plus GAP <largest ms between ticks> at the end.
import sys
import json
import time
import asyncio
import iotlink
from iotlink import aio

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dev = aio.Device(cfg_path)
gap = [0]


@dev.command
async def command(req):
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "slow":
        await asyncio.sleep_ms(req.params.get("ms", 1000))
    if req.name == "fail":
        raise ValueError("asked to fail")
    if req.name == "text":
        return "not a dict"
    return {"pong": req.params.get("n")}


@dev.on("set")
def on_set(req):
    print("SET", json.dumps(req.params))


@dev.on("message")
def on_message(req):
    print("MSG", len(req.params))


@dev.on("status")
def on_status(event, detail):
    print("STATUS", event)


async def ticker():
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(10)
        now = time.ticks_ms()
        gap[0] = max(gap[0], time.ticks_diff(now, last))
        last = now


async def main():
    asyncio.create_task(ticker())
    try:
        await dev.connect()
    except iotlink.AuthError as e:
        print("AUTH", e.code, e)
        sys.exit(3)
    n = 0
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < run_ms:
        if report_ms:
            dev.report({"n": n})
            print("REPORT", n, "queued" if not dev.connected else "")
            n += 1
        await asyncio.sleep_ms(report_ms or 100)
    print("GAP", gap[0])
    print("STATS", json.dumps(dev.stats))


asyncio.run(main())
