# Runs on the MicroPython unix port: the asyncio device under fault injection,
# with the lines of tests/fault/agent_fault.py so its tests run unchanged.
# argv: config.json path, longest run time (ms), report interval (ms, 0 = none),
#       and optionally the ticker interval (ms, default 20)
# WORST {"poll": ms, "report": ms}: "poll" is the longest a ticker task's
# sleep of that interval took (how long the event loop was held, plus the
# interval), "report" the longest report() call; SLOW <name> <ms> past the
# interval + 200 ms.  The "exit" command stops reporting, lets what is
# queued go out and ends the run early.
import sys
import json
import time
import asyncio
from iotlink import aio

sys.path.append(__file__.rsplit("/", 2)[0] + "/device")
from agent_lines import exit_or_pong, show_status, Worst  # noqa: E402

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tick_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 20
dev = aio.Device(cfg_path)
stop = asyncio.Event()
worst = Worst(tick_ms + 200, "poll", "report")
dev.command(lambda req: exit_or_pong(req, stop.set))
dev.on("status", show_status)


async def loop_held():
    while True:
        t = time.ticks_ms()
        await asyncio.sleep_ms(tick_ms)
        worst.since("poll", t)


async def reporter():
    n = 0
    while report_ms and not stop.is_set():
        t = time.ticks_ms()
        dev.report({"n": n})
        worst.since("report", t)
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        await asyncio.sleep_ms(report_ms)


async def main():
    asyncio.create_task(loop_held())
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
    print("WORST", json.dumps(worst.ms))
    print("ERROR", type(dev.error).__name__, dev.error)
    print("STATS", json.dumps(dev.stats))


asyncio.run(main())
