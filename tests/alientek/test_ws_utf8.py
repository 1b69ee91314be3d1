"""RFC 6455 §8.1: a text message that is not UTF-8 fails the connection
with close 1007.  The same client script runs on the MicroPython unix port
and on CPython (shim) against scripted servers; the validator is compared
with CPython's strict UTF-8 decoder."""

import random
import struct

from iotlink.utf8 import valid as utf8

from .bare import BareServer
from .conftest import upy_script

# overlong, surrogate and above-U+10FFFF forms are what a lax decode() lets pass
BAD = [b"\xff", b"\x80", b"ok\xc3", b"abc\xe2\x82", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
       b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"a\xc3(b", b"\xf0\x9f\x98"]
GOOD = "héllo €uro 原子云 \U0001F600 \ud7ff\ue000\uffff\U0010FFFF".encode()
CUT = GOOD.index("€".encode()) + 1          # inside the 3-byte euro sign
CUT2 = GOOD.index("\U0001F600".encode()) + 2  # inside the 4-byte emoji

CLIENT = """
from iotlink import ws
URL = "ws://127.0.0.1:%d/"

def msg(w):
    for _ in range(20):
        if w.ready(2000):
            m = w.recv()
            if m is not None:
                return m
    return None

def attempt(name):
    w = ws.connect(URL, timeout_ms=2000)
    try:
        m = msg(w)
        print(name, "RESULT", m[0], m[1].hex())
    except ws.Closed as e:
        print(name, "CLOSED", e.code)
    except OSError as e:
        print(name, "OSERROR", e)
    w.close()

for i in range(%d):
    attempt("bad%%d" %% i)
for name in ("good", "split", "splitbad", "binary"):
    attempt(name)
print("DONE")
"""


def _bad(i, data):
    def s(p):
        p.handshake()
        p.frame(1, data)
        return p.read()
    s.__name__ = "bad%d" % i
    return s


def s_good(p):
    p.handshake()
    p.frame(1, GOOD)
    return p.read()


def s_split(p):
    # a multibyte character cut by each frame boundary, a ping in between
    p.handshake()
    p.frame(1, GOOD[:CUT], fin=False)
    p.frame(9, b"mid")
    p.frame(0, GOOD[CUT:CUT2], fin=False)
    p.frame(0, GOOD[CUT2:])
    p.read()                         # the pong
    return p.read()


def s_splitbad(p):
    # valid start of a character in the first frame, a wrong byte after it
    p.handshake()
    p.frame(1, GOOD[:CUT], fin=False)
    p.frame(0, b"(" + GOOD[CUT:])
    return p.read()


def s_binary(p):
    # binary messages are not text: any bytes pass
    p.handshake()
    p.frame(2, b"\xff\xc0\xaf", fin=False)
    p.frame(0, b"\xed\xa0\x80")
    return p.read()


def _serve():
    return BareServer([_bad(i, b) for i, b in enumerate(BAD)] + [s_good, s_split, s_splitbad, s_binary])


def _check(out, srv):
    assert not srv.errors, srv.errors
    assert "DONE" in out, out
    lines = dict(l.split(" ", 1) for l in out.splitlines() if " " in l and not l.startswith("iotlink"))
    r = srv.results
    for i in range(len(BAD)):
        assert lines["bad%d" % i] == "CLOSED 1007", (BAD[i], lines["bad%d" % i])
        assert r["bad%d" % i][0] == 8 and r["bad%d" % i][2] == struct.pack("!H", 1007)
    assert lines["good"] == "RESULT 1 " + GOOD.hex()
    assert lines["split"] == "RESULT 1 " + GOOD.hex()
    assert lines["splitbad"] == "CLOSED 1007"
    assert lines["binary"] == "RESULT 2 " + "ffc0afeda080"
    res = srv.results
    for name in ("s_good", "s_split", "s_binary"):   # our normal close after a good message
        assert res[name][0] == 8 and res[name][2] == struct.pack("!H", 1000)
    assert res["s_splitbad"][2] == struct.pack("!H", 1007)


def test_text_must_be_utf8_on_the_unix_port(upy_run):
    srv = _serve()
    try:
        out = upy_script(upy_run, CLIENT % (srv.port, len(BAD)), timeout=60)
    finally:
        srv.stop()
    _check(out, srv)


def test_text_must_be_utf8_on_cpython():
    srv = _serve()
    lines = []
    try:
        exec(CLIENT % (srv.port, len(BAD)), {"print": lambda *a: lines.append(" ".join(str(x) for x in a))})
    finally:
        srv.stop()
    _check("\n".join(lines), srv)


def _strict(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_validator_agrees_with_a_strict_decoder():
    assert utf8(b"") and utf8(GOOD) and utf8(memoryview(GOOD))
    for b in BAD:
        assert not utf8(b), b
    # every 1- and 2-byte sequence, then random runs biased towards the edges
    for a in range(256):
        assert utf8(bytes((a,))) == _strict(bytes((a,)))
        for c in range(256):
            b = bytes((a, c))
            assert utf8(b) == _strict(b), b
    edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
             0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    rnd = random.Random(6455)
    for _ in range(60000):
        b = bytes(rnd.choice(edges) if rnd.random() < 0.8 else rnd.randrange(256)
                  for _ in range(rnd.randrange(1, 7)))
        assert utf8(b) == _strict(b), b
    for cp in list(range(0, 0x3000, 7)) + list(range(0xD000, 0x110000, 997)) + [0xD7FF, 0xE000, 0x10FFFF]:
        if not 0xD800 <= cp <= 0xDFFF:
            assert utf8(chr(cp).encode()), hex(cp)
