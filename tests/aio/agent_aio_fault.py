# Runs on the MicroPython unix port: the asyncio device under fault injection,
# with the lines of tests/fault/agent_fault.py so its tests run unchanged.
# argv: config.json path, longest run time (ms), report interval (ms, 0 = none),
#       and optionally the ticker interval (ms, default 20)
# WORST {"poll": ms, "report": ms}: "poll" is the largest gap a ticker task
# saw between its wake-ups (how long the event loop was held), "report" the
# longest report() call; SLOW <name> <ms> when either is over the interval
# + 200 ms.  The "exit" command stops reporting, lets what is queued go out
# and ends the run early.
import sys
import json
import time
import asyncio
from iotlink import aio

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tick_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 20
dev = aio.Device(cfg_path)
stop = asyncio.Event()
worst = {"poll": 0, "report": 0}


@dev.command
def command(req):
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "exit":
        stop.set()
        return {}
    return {"pong": req.params.get("n")}


@dev.on("status")
def on_status(event, detail):
    print("STATUS", event)


def timed(name, t):
    d = time.ticks_diff(time.ticks_ms(), t)
    if d > worst[name]:
        worst[name] = d
    if d > tick_ms + 200:
        print("SLOW", name, d)


async def ticker():
    while True:
        t = time.ticks_ms()
        await asyncio.sleep_ms(tick_ms)
        timed("poll", time.ticks_add(t, tick_ms))


async def reporter():
    n = 0
    while report_ms and not stop.is_set():
        t = time.ticks_ms()
        dev.report({"n": n})
        timed("report", t)
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        await asyncio.sleep_ms(report_ms)


async def main():
    asyncio.create_task(ticker())
    asyncio.create_task(reporter())
    await dev.connect()
    try:
        await asyncio.wait_for_ms(stop.wait(), run_ms)
    except asyncio.TimeoutError:
        pass
    t1 = time.ticks_ms()
    while (dev.backlog() or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 5000:
        await asyncio.sleep_ms(50)
    await asyncio.sleep_ms(100)
    print("WORST", json.dumps(worst))
    print("ERROR", type(dev.error).__name__, dev.error)
    print("STATS", json.dumps(dev.stats))


asyncio.run(main())
