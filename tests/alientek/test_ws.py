"""lib/iotlink/ws.py on the unix port against a bare server (each scenario
scripted byte by byte) and against the local 原子云."""

import hashlib
import struct

from .bare import BareServer

from .conftest import upy_script

CLIENT = """
import time
from iotlink import ws
URL = "ws://127.0.0.1:%d/chat?x=1"

def conn(**kw):
    kw.setdefault("timeout_ms", 2000)
    return ws.connect(URL, **kw)

def recv_msg(w, n=20):
    for _ in range(n):
        if w.ready(2000):
            m = w.recv()
            if m is not None:
                return m
    return None

def attempt(name, fn):
    try:
        print(name, "RESULT", fn())
    except ws.Closed as e:
        print(name, "CLOSED", e.code)
    except OSError as e:
        print(name, "OSERROR", str(e)[:100])

# 1: ping from the server, fragmented message with a ping inside, client ping,
#    16- and 64-bit lengths, close handshake started by the client
w = conn()
m = recv_msg(w)
print("frag", m[0], m[1])
w.ping(b"p1")
time.sleep_ms(100)
recv_msg(w, 2)
print("pongs", w.pongs)
w.send(b"x" * 300)
w.send(bytes(range(256)) * 280)
w.send("text", binary=False)
print("digest", recv_msg(w)[1].decode())
w.close()
print("closed", w.closed)

# 2: the server closes
w = conn()
attempt("srvclose", lambda: recv_msg(w))

# 3: oversize single frame (64-bit length, no payload sent) and oversize fragments
w = conn(max_size=1024)
attempt("huge", lambda: recv_msg(w))
w = conn(max_size=1024)
attempt("fragsize", lambda: recv_msg(w))

# 4: dropped TCP between frames, and in the middle of one
w = conn()
attempt("drop", lambda: recv_msg(w))
w = conn()
attempt("midframe", lambda: recv_msg(w))

# 5: protocol errors: masked server frame, reserved bits, continuation first
for name in ("masked", "rsv", "cont"):
    w = conn()
    attempt(name, lambda: recv_msg(w))

# 6: handshake refused, wrong accept key
attempt("http404", lambda: conn())
attempt("badaccept", lambda: conn())

# 7: a stalled peer: half a frame then nothing
w = conn(timeout_ms=500)
t0 = time.ticks_ms()
attempt("stall", lambda: recv_msg(w))
print("stall_ms", time.ticks_diff(time.ticks_ms(), t0))
print("DONE")
"""


def s1_features(p):
    p.handshake()
    out = {"path": p.path, "headers": p.headers}
    p.frame(9, b"are you there")
    out["pong"] = p.read()
    p.frame(2, b"part1-", fin=False)
    p.frame(9, b"mid")               # a control frame between fragments
    p.frame(0, b"part2-", fin=False)
    p.frame(0, b"end")
    out["pong2"] = p.read()
    out["client_ping"] = p.read()
    p.frame(10, out["client_ping"][2])
    got = [p.read() for _ in range(3)]
    out["sizes"] = [(op, len(d), masked) for op, _, d, masked in got]
    out["big_ok"] = got[1][2] == bytes(range(256)) * 280
    p.frame(1, hashlib.sha1(got[1][2]).hexdigest().encode())
    out["close"] = p.read()
    p.frame(8, out["close"][2][:2])
    return out


def s2_server_close(p):
    p.handshake()
    p.frame(8, struct.pack("!H", 1001) + b"going away")
    return p.read()


def s3_huge(p):
    p.handshake()
    p.frame(2, length=1 << 40)       # header only: a client that allocates dies here
    return p.read()


def s3_fragsize(p):
    p.handshake()
    p.frame(2, b"a" * 600, fin=False)
    p.frame(0, b"b" * 600)
    return p.read()


def s4_drop(p):
    p.handshake()


def s4_midframe(p):
    p.handshake()
    p.sock.sendall(bytes((0x82, 100)) + b"0123456789")


def s5_masked(p):
    p.handshake()
    p.frame(2, b"masked", mask=b"abcd")
    return p.read()


def s5_rsv(p):
    p.handshake()
    p.frame(2, b"x", rsv=0x40)
    return p.read()


def s5_cont(p):
    p.handshake()
    p.frame(0, b"x")
    return p.read()


def s6_404(p):
    p.handshake(status="404 Not Found")


def s6_badaccept(p):
    p.handshake(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


def s7_stall(p):
    p.handshake()
    p.sock.sendall(bytes((0x82, 50)) + b"half")
    import time
    time.sleep(2)


def test_websocket_client_on_the_unix_port(upy_run):
    srv = BareServer([s1_features, s2_server_close, s3_huge, s3_fragsize, s4_drop, s4_midframe,
                      s5_masked, s5_rsv, s5_cont, s6_404, s6_badaccept, s7_stall])
    try:
        out = upy_script(upy_run, CLIENT % srv.port, timeout=60)
    finally:
        srv.stop()
    assert not srv.errors, srv.errors
    lines = dict(l.split(" ", 1) for l in out.splitlines() if " " in l and not l.startswith("iotlink"))
    assert "DONE" in out, out
    r = srv.results
    # handshake: path and query kept, a 16-byte base64 key, version 13
    s1 = r["s1_features"]
    assert s1["path"] == "/chat?x=1" and s1["headers"]["sec-websocket-version"] == "13"
    assert len(__import__("base64").b64decode(s1["headers"]["sec-websocket-key"])) == 16
    assert s1["pong"] == (10, True, b"are you there", True) and s1["pong2"] == (10, True, b"mid", True)
    assert s1["client_ping"] == (9, True, b"p1", True)
    assert lines["frag"] == "2 b'part1-part2-end'" and lines["pongs"] == "1"
    assert s1["sizes"] == [(2, 300, True), (2, 71680, True), (1, 4, True)] and s1["big_ok"]
    assert lines["digest"] == hashlib.sha1(bytes(range(256)) * 280).hexdigest()
    assert s1["close"][0] == 8 and s1["close"][2][:2] == struct.pack("!H", 1000)
    assert lines["closed"] == "True"
    assert lines["srvclose"] == "CLOSED 1001" and r["s2_server_close"][2] == struct.pack("!H", 1001)
    assert lines["huge"] == "CLOSED 1009" and r["s3_huge"][2] == struct.pack("!H", 1009)
    assert lines["fragsize"] == "CLOSED 1009" and r["s3_fragsize"][2] == struct.pack("!H", 1009)
    assert lines["drop"].startswith("OSERROR") and lines["midframe"].startswith("OSERROR")
    for name in ("masked", "rsv", "cont"):
        assert lines[name] == "CLOSED 1002"
        assert r["s5_" + name][2] == struct.pack("!H", 1002)
    assert lines["http404"].startswith("OSERROR") and "HTTP 404" in lines["http404"]
    assert "/chat" not in lines["http404"]   # the path may hold a token: never in errors
    assert lines["badaccept"].startswith("OSERROR") and "Accept" in lines["badaccept"]
    assert lines["stall"].startswith("OSERROR") and 400 <= int(lines["stall_ms"]) < 1900
