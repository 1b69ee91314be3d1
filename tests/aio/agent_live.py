# Runs on the MicroPython unix port: a 10 ms ticker task beside a cloud
# session, printing "GAP <ms>" (the largest gap between its ticks) every
# 250 ms, so the host can tell which fault the loop was held by.
# argv: config.json path, run time (ms), driver: "aio" (iotlink.aio.Device)
# or "blocking" (iotlink.device.Device, poll(0) called from a task every 10 ms, the
# way an asyncio app uses it without the asyncio driver).
import sys
import time
import asyncio
from iotlink.device import Device
from iotlink import aio

sys.path.append(__file__.rsplit("/", 2)[0] + "/device")
from agent_lines import show_status, ticker  # noqa: E402

cfg_path, run_ms, driver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gap = [0]


async def window():
    while True:
        await asyncio.sleep_ms(250)
        print("GAP", gap[0])
        gap[0] = 0


async def poller(dev):
    while True:
        dev.poll(0)
        await asyncio.sleep_ms(10)


async def reporter(dev):
    n = 0
    while True:
        dev.report({"n": n})
        n += 1
        await asyncio.sleep_ms(200)


async def main():
    if driver == "aio":
        dev = aio.Device(cfg_path)
        dev.on("status", show_status)
        asyncio.create_task(dev.serve())
    else:
        dev = Device(cfg_path)
        dev.on("status", show_status)
        asyncio.create_task(poller(dev))
    asyncio.create_task(ticker(gap))
    asyncio.create_task(window())
    asyncio.create_task(reporter(dev))
    await asyncio.sleep_ms(run_ms)
    print("STATS", dev.stats)


asyncio.run(main())
