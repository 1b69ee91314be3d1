"""The local iotkit's door, spoken to with hand-built MQTT packets: CONNACK
codes as the platform's MQTT plugin answers them, auto-registration, filters."""

import socket
import struct

from iotlink_tools.mqtt_front import varint
from iotlink_tools.sims.iotkit import PLUGIN

from .conftest import PK, SECRET

# md5(SECRET + "pkIotlinkTest01_door-1_m1"), computed once with python3 hashlib
GOOD_CID = PK + "_door-1_m1"
GOOD_PW = "7a2a22944f6775bbe8da6cff9b731582"


def _s(b):
    return struct.pack("!H", len(b)) + b


def connect_pkt(cid, user, pw, ka=30):
    flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if pw is not None else 0)
    body = _s(b"MQTT") + bytes((4, flags)) + struct.pack("!H", ka) + _s(cid.encode())
    if user is not None:
        body += _s(user.encode())
    if pw is not None:
        body += _s(pw.encode())
    return b"\x10" + varint(len(body)) + body


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        more = s.recv(n - len(b))
        if not more:
            break
        b += more
    return b


def connack(sim, cid, user, pw):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(connect_pkt(cid, user, pw))
        ack = recv_exact(s, 4)
    assert ack[:3] == b"\x20\x02\x00", ack
    return ack[3]


def test_password_constant_matches_the_formula():
    import hashlib
    assert hashlib.md5((SECRET + GOOD_CID).encode()).hexdigest() == GOOD_PW


def test_connack_codes(sim):
    assert connack(sim, GOOD_CID, "door-1", GOOD_PW) == 0
    assert sim.devices["door-1"]["pk"] == PK and sim.devices["door-1"]["model"] == "m1"
    assert connack(sim, GOOD_CID, "door-1", GOOD_PW.upper()) == 0  # equalsIgnoreCase
    assert connack(sim, PK + "-door-1-m1", "door-1", GOOD_PW) == 2   # no '_' split
    assert connack(sim, PK + "_door-1", "door-1", GOOD_PW) == 2      # two parts
    assert connack(sim, GOOD_CID, None, None) == 5                   # no credentials
    assert connack(sim, GOOD_CID, "door-2", GOOD_PW) == 4            # username != deviceName
    assert connack(sim, "nosuchpk_door-1_m1", "door-1", GOOD_PW) == 4
    assert connack(sim, GOOD_CID, "door-1", "0" * 32) == 4
    # the wrong order md5(clientId + secret)
    import hashlib
    assert connack(sim, GOOD_CID, "door-1", hashlib.md5((GOOD_CID + SECRET).encode()).hexdigest()) == 4
    sim.refuse.add("door-3")
    cid = PK + "_door-3_m1"
    assert connack(sim, cid, "door-3", hashlib.md5((SECRET + cid).encode()).hexdigest()) == 5
    assert "door-3" not in sim.devices


def test_short_filters_refused_by_the_plugin(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as s:
        s.sendall(connect_pkt(GOOD_CID, "door-1", GOOD_PW))
        assert recv_exact(s, 4) == b"\x20\x02\x00\x00"
        filters = [b"#", ("/sys/%s/door-1/c/#" % PK).encode()]
        body = struct.pack("!H", 7) + b"".join(_s(f) + b"\x01" for f in filters)
        s.sendall(b"\x82" + varint(len(body)) + body)
        ack = recv_exact(s, 6)
        assert ack[:4] == b"\x90\x04\x00\x07"
        want = b"\x80\x01" if sim.variant == PLUGIN else b"\x01\x01"
        assert ack[4:] == want
        if sim.variant == PLUGIN:  # the subscription is what puts it online
            sim.wait(lambda: sim.online("door-1"), 5, "online")
        s.sendall(b"\xe0\x00")  # DISCONNECT: offline
    sim.wait(lambda: not sim.online("door-1"), 5, "offline")
