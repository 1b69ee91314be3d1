# Runs on the MicroPython unix port: a device under test, driven by asyncio
# (iotlink.aio), with the lines of tests/device/agent.py (agent_lines): its
# command handler is a coroutine, and "slow" awaits params.ms first (SLOW line).
# argv: config.json path, run time (ms), report interval (ms, 0 = none)
# At the end GAP <ms>: the largest gap a 10 ms ticker task saw.
import os
import sys
import json
import time
import asyncio
import iotlink
from iotlink import aio

sys.path.append(__file__.rsplit("/", 2)[0] + "/device")
from agent_lines import answer, show, ticker  # noqa: E402

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if os.getenv("AIO_STREAM_WAIT"):
    aio._core = None    # as on an asyncio without its I/O queue: the stream's own wait
dev = aio.Device(cfg_path)
show(dev)
gap = [0]


@dev.command
async def command(req):
    if req.name == "slow":
        print("SLOW", req.params.get("ms"))
        await asyncio.sleep_ms(req.params.get("ms", 1000))
    return answer(req)


async def main():
    asyncio.create_task(ticker(gap))
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
