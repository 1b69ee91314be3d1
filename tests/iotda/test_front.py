"""The local IoTDA's door, spoken to with hand-built MQTT packets."""

import socket
import struct
import time

import pytest

from iotlink_tools.mqtt_front import varint
from iotlink_tools.sims.iotda import password

DEV, SECRET = "dev_plain", "s3cret-plain"


def _s(b):
    return struct.pack("!H", len(b)) + b


def connect_pkt(cid, user, pw, ka=120):
    flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if pw is not None else 0)
    body = _s(b"MQTT") + bytes((4, flags)) + struct.pack("!H", ka) + _s(cid.encode())
    if user is not None:
        body += _s(user.encode())
    if pw is not None:
        body += _s(pw.encode())
    return b"\x10" + varint(len(body)) + body


def ts(shift_h=0):
    return time.strftime("%Y%m%d%H", time.gmtime(time.time() + shift_h * 3600))


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        more = s.recv(n - len(b))
        if not more:
            break
        b += more
    return b


def login(sim, cid, user, pw, ka=120):
    s = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    s.sendall(connect_pkt(cid, user, pw, ka))
    ack = recv_exact(s, 4)
    assert ack[:3] == b"\x20\x02\x00"
    return s, ack[3]


def closed(s, timeout=3):
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("cid,user,pw,ka,code", [
    ("{d}_0_0_{t}", DEV, "{p}", 120, 0),
    ("{d}_0_0_{t}", DEV, "{p}", 29, 2),
    ("{d}_0_0_{t}", DEV, "{p}", 1201, 2),
    ("{d}_0_0_{t}", DEV, "{p}", 0, 2),
    ("{d}", DEV, "{p}", 120, 2),
    ("{d}_2_0_{t}", DEV, "{p}", 120, 2),
    ("{d}_0_0_{t}1", DEV, "{p}", 120, 2),
    ("{d}_0_0_{t}", DEV, "0" * 64, 120, 4),
    ("{d}_0_0_{t}", DEV, None, 120, 4),
    ("{d}_0_0_{t}", "someone", "{p}", 120, 4),
    ("ghost_0_0_{t}", "ghost", "{p}", 120, 5),
])
def test_connect_checks(iotda, cid, user, pw, ka, code):
    t = ts()
    p = password(SECRET, t)
    fill = lambda v: v if v is None else v.format(d=DEV, t=t, p=p)
    s, got = login(iotda, fill(cid), fill(user), fill(pw), ka)
    try:
        assert got == code
        if code:
            assert closed(s)  # refused: the link is closed after CONNACK
    finally:
        s.close()


@pytest.mark.parametrize("shift,code", [(0, 0), (-1, 0), (1, 0), (-3, 4), (5, 4)])
def test_sign_type_1_checks_the_hour(iotda, shift, code):
    t = ts(shift)
    s, got = login(iotda, "%s_0_1_%s" % (DEV, t), DEV, password(SECRET, t))
    s.close()
    assert got == code
    # sign type 0 takes any hour as long as the password matches it
    old = "2019120219"
    s, got = login(iotda, "%s_0_0_%s" % (DEV, old), DEV, password(SECRET, old))
    s.close()
    assert got == 0


def test_topic_rights(iotda):
    t = ts()
    s, code = login(iotda, "%s_0_0_%s" % (DEV, t), DEV, password(SECRET, t))
    assert code == 0
    mine = ("$oc/devices/%s/sys/commands/#" % DEV).encode()
    filters = [mine, b"$oc/devices/other/sys/#", b"#", ("$oc/devices/%s/sys/+/x" % DEV).encode()]
    body = struct.pack("!H", 7) + b"".join(_s(f) + b"\x01" for f in filters)
    s.sendall(b"\x82" + varint(len(body)) + body)
    hdr = recv_exact(s, 2)
    assert hdr[0] == 0x90
    ack = recv_exact(s, hdr[1])
    assert ack == struct.pack("!H", 7) + bytes((1, 0x80, 0x80, 0x80))
    # nothing allowed: answered without the broker
    body = struct.pack("!H", 8) + _s(b"$oc/devices/other/x") + b"\x00"
    s.sendall(b"\x82" + varint(len(body)) + body)
    assert recv_exact(s, 5) == b"\x90\x03\x00\x08\x80"
    # own topic publish is fine, another device's closes the link
    own = _s(("$oc/devices/%s/sys/messages/up" % DEV).encode()) + b"hi"
    s.sendall(b"\x30" + varint(len(own)) + own)
    assert not closed(s, 0.5)
    other = _s(b"$oc/devices/other/sys/messages/up") + b"hi"
    s.sendall(b"\x30" + varint(len(other)) + other)
    assert closed(s)
    s.close()
    assert any(i["key"] == DEV and topic == "$oc/devices/other/sys/messages/up" and what == "pub"
               for i, topic, what in iotda.front.refused)


def test_one_live_link_per_device(iotda):
    t = ts()
    a, code_a = login(iotda, "%s_0_0_%s" % (DEV, t), DEV, password(SECRET, t))
    b, code_b = login(iotda, "%s_0_0_%s" % (DEV, t), DEV, password(SECRET, t))
    try:
        assert (code_a, code_b) == (0, 0)
        assert closed(a)
        assert not closed(b, 0.7)
    finally:
        a.close()
        b.close()


def test_removed_device_is_dropped_and_refused(test_ca):
    from iotlink_tools.sims.iotda import LocalIoTDA
    with LocalIoTDA({"tmp_dev": "x1"}) as sim:
        t = ts()
        s, code = login(sim, "tmp_dev_0_0_" + t, "tmp_dev", password("x1", t))
        assert code == 0
        sim.remove_device("tmp_dev")
        assert closed(s)
        s.close()
        s, code = login(sim, "tmp_dev_0_0_" + t, "tmp_dev", password("x1", t))
        s.close()
        assert code == 5
