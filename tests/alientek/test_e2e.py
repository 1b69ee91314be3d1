"""End to end on the unix port over verified TLS: a board app (REST +
WebSocket) controls a DTU whose board runs the ATK driver on the simulated
module, both against the local 原子云 (the Sim contract)."""

import json
import struct

import pytest

from iotlink_tools.sims.alientek import Sim

from .conftest import UPY

DTU_FIRMWARE = """
import sys, json, time
sys.path.append(%(upy)r)
from ptyuart import PtyUart
from iotlink.drivers.atk import ATK
cfg = json.loads(%(cfg)r)["atk"]
m = ATK(PtyUart(cfg["uart"]), cfg["number"], cfg["password"], timeout_ms=3000, guard_ms=60,
        backoff_min_ms=100, backoff_max_ms=400)
led = [False]

@m.on("data")
def data(req):
    try:
        cmd = json.loads(req.params)
        name = cmd["name"]
    except Exception:
        m.send(b"echo:" + req.params)
        return
    if name == "led":
        led[0] = bool(cmd["params"].get("on"))
    m.send(json.dumps({"name": name, "ok": True, "led": led[0]}) + "\\r\\n")
    if name == "bye":
        m.poll(100)
        raise SystemExit

m.connect()
print("DTU UP")
try:
    while True:
        m.poll(100)
except SystemExit:
    pass
m.close()
"""

BOARD_APP = """
import gc, json, time
from iotlink.apis import alientek
cfg = json.loads(%(cfg)r)
s = alientek.Session(cfg)
api = s.api()
org = api.orgs()[0]["id"]
group = api.groups(org)[0]["id"]
dev = [d for d in api.devices(org, group) if d["name"] == "demo-dtu"][0]
print("FOUND", dev["number"], dev["id"], api.state(org, dev["id"]))
done = []

@s.on("online")
def online(req):
    print("ONLINE", req.target, api.state(org, dev["id"]))
    s.send(req.target, b'{"name": "led", "params": {"on": true}}\\r\\n')

@s.on("offline")
def offline(req):
    print("OFFLINE", req.target)

@s.on("data")
def data(req):
    print("DATA", req.name, req.target, req.params)
    if b'"bye"' in req.params:
        done.append(1)
    if b'"led"' in req.params:
        h = api.packets(org, req.target, page=1, limit=5)
        print("HISTORY", h["items"][0]["data"] == req.params, h["total_item"])
        s.send(req.target, "plain text")

@s.on("status")
def status(ev, detail):
    print("STATUS", ev)

gc.collect()
before = gc.mem_alloc()
s.connect()
gc.collect()
print("HEAP", gc.mem_alloc() - before)
t0 = time.ticks_ms()
while not done and time.ticks_diff(time.ticks_ms(), t0) < 40000:
    s.poll(100)
print("STATS", json.dumps(s.stats))
s.close()
"""


@pytest.fixture
def sim(tmp_path):
    s = Sim(str(tmp_path / "sim")).start()
    yield s
    s.stop()


def test_board_controls_the_simulated_dtu(sim, procs):
    cfg = sim.demo_config()
    assert cfg["cloud"]["ws"].startswith("wss://") and cfg["cloud"]["api"].startswith("https://")
    cfg["cloud"]["keepalive"] = 1
    cfg["session"] = {"backoff_min_ms": 100, "backoff_max_ms": 500}
    number = sim.dtu.number
    board = procs(BOARD_APP % {"cfg": json.dumps(cfg)}, "board")
    board.expect(r"^FOUND %s %d disconnected" % (number, sim.dtu.id))
    board.expect(r"^STATUS up")
    sim.cloud.wait_subscribed(number)
    dtu = procs(DTU_FIRMWARE % {"upy": UPY, "cfg": json.dumps(cfg)}, "dtu")
    dtu.expect(r"^DTU UP")
    board.expect(r"^ONLINE %s connected" % number)
    board.expect(r'^DATA dtu %s b\'{"name": "led", "ok": true, "led": true}\\r\\n\'' % number)
    board.expect(r"^HISTORY True 1")
    board.expect(r"^DATA dtu %s b'echo:plain text'" % number)

    # bad frames on the board's connection: none stops its loop
    conn = [c for c in sim.cloud.ws if number in c.subs][0]
    conn.send_frame(1, b"a text frame")
    for bad in (b"", b"\x09" + number.encode(), b"\x06" + b"123", b"\x01" + number.encode()):
        conn.send(bad)
    # the connection drops: the board reconnects and subscribes again
    conn.drop()
    board.expect(r"^STATUS down")
    board.expect(r"^STATUS up")
    sim.cloud.wait(lambda: any(number in c.subs for c in sim.cloud.ws if c is not conn))
    # the Sim contract: an app command to the DTU and its answer; the board sees it too
    assert sim.command("led", {"on": False}) == {"name": "led", "ok": True, "led": False}
    board.expect(r'^DATA dtu %s b\'{"name": "led", "ok": true, "led": false}' % number)
    new = [c for c in sim.cloud.ws if number in c.subs and c is not conn][0]
    sim.cloud.wait(lambda: new.pings >= 1)     # WebSocket pings while idle (keepalive 1 s)
    assert sim.command("bye") == {"name": "bye", "ok": True, "led": False}
    out = board.finish()
    stats = json.loads(out.split("STATS ", 1)[1].splitlines()[0])
    assert stats["bad_input"] == 5 and stats["reconnects"] == 1 and stats["link_errors"] == 1
    assert stats["handler_errors"] == 0 and stats["pings"] >= 1
    dtu.finish()
    heap = int(out.split("HEAP ", 1)[1].split()[0])
    print("board heap after connect (TLS + WebSocket): %d bytes" % heap)
    assert 0 < heap < 60000, heap
    assert sim.cloud.token not in out


def test_server_close_and_refused_handshake_on_the_unix_port(sim, upy_run):
    """A wrong token is refused at the handshake (no crash, backoff); the
    cloud's close frame leads to a reconnect."""
    cfg = sim.demo_config()
    cfg["session"] = {"backoff_min_ms": 100, "backoff_max_ms": 300}
    bad = json.loads(json.dumps(cfg))
    bad["cloud"]["token"] = "f" * 32
    code = """
import json, time
from iotlink.apis import alientek
s = alientek.Session(json.loads(%r))
try:
    s.connect()
except OSError as e:
    print("REFUSED", e)
s.poll(500)
print("CONNECTS", s.stats["connects"], s.stats["link_errors"])
""" % json.dumps(bad)
    r = upy_run.run(code)
    assert "REFUSED websocket handshake with 127.0.0.1:%d refused: HTTP 401" % sim.cloud.port in r.stdout
    assert "CONNECTS 0 0" in r.stdout and "f" * 32 not in r.stdout
    # close frame from the cloud
    import threading
    ready = threading.Event()

    def closer():
        sim.cloud.wait_subscribed(sim.dtu.number)
        c = sim.cloud.ws[0]
        c.send_frame(8, struct.pack("!H", 1001))
        ready.set()
    t = threading.Thread(target=closer, daemon=True)
    t.start()
    code = """
import json, time
from iotlink.apis import alientek
s = alientek.Session(json.loads(%r))
s.connect()
t0 = time.ticks_ms()
while s.stats["connects"] < 2 and time.ticks_diff(time.ticks_ms(), t0) < 5000:
    s.poll(50)
print("STATS", s.stats["connects"], s.stats["link_errors"])
""" % json.dumps(cfg)
    r = upy_run.run(code)
    assert ready.is_set() and "STATS 2 1" in r.stdout, r.stdout
    assert "websocket closed (1001)" in r.stdout
