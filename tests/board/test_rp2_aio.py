"""iotlink.aio on MicroPython's own rp2 firmware (Pico W image, emulated
RP2040), the library from .mpy: the firmware's asyncio runs the session.
The emulated chip has no radio, so the network and the broker are a
stand-in on the board (standin_broker.py: an in-memory socket asyncio polls
like a real one, behind it a minimal MQTT broker); everything above the
socket is the library's: CONNECT, SUBSCRIBE, the greeting, a coroutine
command handler and its reply, a window of QoS 1 reports acknowledged out of
order, a link the peer closes and the reconnect."""

import json
import os

HERE = os.path.dirname(__file__)

SESSION = """
import gc, json, time, asyncio
gc.collect()
boot = gc.mem_free()
import standin_broker
link = standin_broker.Link()
standin_broker.install(link)
from iotlink import aio
gc.collect()
imported = gc.mem_free()
dev = aio.Device({"cloud": {"type": "mqtt", "host": "127.0.0.1", "client_id": "rp2", "qos": 1,
                            "keepalive": 30}}, window=4)
got = []


@dev.command
async def command(req):
    await asyncio.sleep_ms(50)
    got.append(req.name)
    return {"echo": req.params}


async def until(ok, ms=60000):
    t0 = time.ticks_ms()
    while not ok():
        assert time.ticks_diff(time.ticks_ms(), t0) < ms, dev.stats
        await asyncio.sleep_ms(10)


async def main():
    up = await dev.connect()
    link.hold = 4       # from now on PUBACKs come four at a time, newest first
    link.send(b"iotlink/rp2/down/command/ping", b'{"id":"c1","params":{"x":1}}')
    for i in range(10):
        dev.report({"n": i})
    # the greeting, 10 reports and the reply; the last ones wait for acks held
    await until(lambda: len(link.published) >= 12)
    link.flush_acks()
    await until(lambda: not dev.backlog())
    gc.collect()
    session = gc.mem_free()
    link.hold = 0
    link.close()        # the peer ends the link; queued meanwhile, sent after
    await until(lambda: not dev.connected)
    dev.report({"n": 10})
    await until(lambda: dev.connected and not dev.backlog())
    await dev.disconnect()
    print(json.dumps({"up": up, "got": got, "stats": dev.stats, "connects": link.connects,
                      "subscribed": [s.decode() for s in link.subscribed],
                      "published": [(t.decode(), p.decode(), q) for t, p, q in link.published],
                      "boot": boot, "import": imported, "session": session}))

asyncio.run(main())
"""


def test_aio_session_on_the_rp2_firmware(rp2_lib):
    rp2_lib.board.put([(os.path.join(HERE, "standin_broker.py"), "standin_broker.py")])
    got = rp2_lib.last_json(SESSION, timeout=300)
    st = got["stats"]
    assert got["up"] is True and got["got"] == ["ping"]
    assert got["connects"] == 2 and st["connects"] == 2 and st["reconnects"] == 1
    assert got["subscribed"] == ["iotlink/rp2/down/#"] * 2
    reports = [json.loads(p)["n"] for t, p, q in got["published"] if t == "iotlink/rp2/up/report"]
    assert reports == list(range(11))    # every report once, in order, across the reconnect
    replies = [json.loads(p) for t, p, q in got["published"] if t == "iotlink/rp2/up/reply"]
    assert replies == [{"id": "c1", "ok": True, "name": "ping", "data": {"echo": {"x": 1}}}]
    assert st["sent"] == st["queued"] == 12 and st["dropped"] == 0 and st["handler_errors"] == 0
    print("rp2 firmware, iotlink.aio from .mpy: free heap %d after boot, %d after import "
          "(holds %d), %d with the session up (holds %d more)"
          % (got["boot"], got["import"], got["boot"] - got["import"], got["session"],
             got["import"] - got["session"]))
