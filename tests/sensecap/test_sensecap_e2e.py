"""Boards on the MicroPython unix port receiving through the local OpenStream,
and the OpenStream door itself (client id, credentials, org-only topics)."""

import json
import socket
import struct

import pytest

from iotlink_tools.sims.sensecap import WEATHER, TRACKER, LEAK

from .sc_helpers import start

DEVICE = r"""
import sys, json, time, gc
import iotlink
from iotlink.device import Device
from iotlink import clock
dev = Device(sys.argv[1])
done = []

@dev.on("data")
def data(req):
    p = req.params
    print("R", req.kind, req.name, json.dumps(p))
    if p["value"] == 424242:
        done.append(1)
    if p["id"] == 4100:
        raise ValueError("handler trouble")

try:
    dev.connect()
except iotlink.AuthError as e:
    print("AUTH", e.code)
    sys.exit(0)
gc.collect()
print("UP", dev.connected, "HEAP", gc.mem_alloc())
end = time.ticks_add(time.ticks_ms(), 25000)
while not done and time.ticks_diff(end, time.ticks_ms()) > 0:
    dev.poll(50)
gc.collect()
print("HEAP_END", gc.mem_alloc())
c = dev.cloud
print("LATEST", json.dumps([c.value("%s", 4097), c.value("%s", 5002), c.online("%s", clock.now_ms()),
                            c.online("%s", clock.now_ms(), 1), c.online("0000000000000000", clock.now_ms())]))
print("STATS", json.dumps(dev.stats))
dev.disconnect()
""" % (WEATHER, TRACKER, WEATHER, WEATHER)


def readings(lines):
    out = []
    for line in lines.all:
        if line.startswith("R "):
            _, kind, name, body = line.split(" ", 3)
            out.append((kind, name, json.loads(body)))
    return out


def expected(value):
    """What a reading's value should look like on the board: numeric strings
    as numbers, the rest as sent (written here from the spec, not the codec)."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def test_readings_reach_the_board_normalised(sim, tmp_path):
    cfg = sim.demo_config("e2e1", latest=32)   # the three devices send ~20 (EUI, ID) pairs
    cfg["session"]["max_payload"] = 2048
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start(tmp_path / "a", DEVICE, cfg)
    cfg_b = sim.demo_config("e2e2", status=False, filters=[{"eui": WEATHER, "measurement": 4097}])
    b = start(tmp_path / "b", DEVICE, cfg_b)
    try:
        heap = int(a.expect(r"^UP True HEAP (\d+)").group(1))
        b.expect(r"^UP True")
        start_at = len(sim.published)
        sent = {WEATHER: sim.uplink(WEATHER), TRACKER: sim.uplink(TRACKER), LEAK: sim.uplink(LEAK)}
        sim.publish_status(LEAK, 3017, "1", strings=True)
        ours = sim.published[start_at:]
        # bad input: none of it may stop the loop
        d = "/device_sensor_data/%s/%s/1/vs/" % (sim.org, WEATHER)
        for payload in (b"{not json", b"\xff\xfe", b"[1,2]", b'{"timestamp": 1}', b""):
            sim.publish_raw(d + "4097", payload)
        sim.publish_raw(d + "5002", json.dumps({"value": [{"mac": "C3:00:00:00:00:%02X" % i, "rssi": "-60"}
                                                          for i in range(60)], "timestamp": 1}))  # > max_payload
        sim.publish_reading(WEATHER, 4100, 500)          # the handler raises on this one
        sim.publish_reading(WEATHER, 4099, 424242)       # the end marker
        a.expect(r"^STATS", timeout=20)
        sim.publish_reading(WEATHER, 4097, 424242)       # the filtered board's end marker
        b.expect(r"^STATS", timeout=20)
        a.finish()
        b.finish()
    finally:
        a.kill()
        b.kill()

    got = readings(a)
    assert all(k == "data" for k, _, _ in got)
    n_status = sum(1 for t, _ in ours if t.startswith("/device_status_event/"))
    assert sum(1 for _, n, _ in got if n == "status") == n_status >= 4
    # every message published before the bad ones arrived once, in order, normalised
    assert len(got) == len(ours) + 2
    for (topic, payload), (_, name, r) in zip(ours, got):
        levels = topic.split("/")
        body = json.loads(payload)
        assert r["eui"] == levels[3] and r["id"] == int(levels[-1])
        assert name == ("status" if levels[1] == "device_status_event" else "reading")
        assert r["channel"] == (None if name == "status" else int(levels[4]))
        assert r["value"] == expected(body["value"]) and type(r["value"]) is type(expected(body["value"]))
        assert r["ts"] == int(body["timestamp"]) and type(r["ts"]) is int
    weather = [r for _, n, r in got if n == "reading" and r["eui"] == WEATHER][:8]
    assert len({r["ts"] for r in weather}) == 1 and {r["id"] for r in weather} == set(sent[WEATHER])
    by_id = {(r["eui"], r["id"]): r for _, _, r in got}
    assert by_id[(WEATHER, 4097)]["name"] == "Air Temperature" and by_id[(WEATHER, 4097)]["unit"] == "\u2103"
    assert by_id[(WEATHER, 4101)]["unit"] == "Pa"
    assert isinstance(by_id[(TRACKER, 4198)]["value"], float) and by_id[(TRACKER, 4198)]["name"] == "Latitude"
    assert by_id[(TRACKER, 5002)]["value"] == sent[TRACKER][5002]
    assert all(isinstance(e["rssi"], str) for e in by_id[(TRACKER, 5002)]["value"])
    assert by_id[(LEAK, 4116)]["value"] is sent[LEAK][4116]
    assert by_id[(LEAK, 3017)]["name"] == "Charging State" and by_id[(LEAK, 3017)]["value"] == 1

    latest = json.loads([l for l in a.all if l.startswith("LATEST")][0][7:])
    assert latest[0] == sent[WEATHER][4097] and latest[1] == sent[TRACKER][5002]
    assert latest[2:] == [True, False, None]
    stats = json.loads([l for l in a.all if l.startswith("STATS")][0][6:])
    assert stats["bad_input"] == 5 + 1 and stats["handler_errors"] == 1 and stats["connects"] == 1
    out = "\n".join(a.all)
    assert "payload is not UTF-8 JSON" in out and "over session.max_payload dropped" in out
    assert sim.key not in out
    print("heap of a connected session on the unix port: %d bytes" % heap)

    # the filtered board got the weather station's temperature and nothing else
    got_b = readings(b)
    assert [(r["eui"], r["id"], r["value"]) for _, _, r in got_b] == [
        (WEATHER, 4097, sent[WEATHER][4097]), (WEATHER, 4097, 424242)]


def test_wrong_access_key_is_refused_on_the_board(sim, tmp_path):
    cfg = sim.demo_config("e2e3", access_key="0" * 64)
    cfg["session"]["auth_retry_ms"] = 100
    p = start(tmp_path, DEVICE, cfg)
    try:
        p.expect(r"^AUTH 4")
        out = p.finish()
    finally:
        p.kill()
    assert "0" * 64 not in out and "bad username or password" in out


# ----- the door, byte by byte -------------------------------------------------

def _s(b):
    return struct.pack("!H", len(b)) + b


def _connect(port, cid, user, pw):
    body = _s(b"MQTT") + bytes((4, 0xC2)) + struct.pack("!H", 30) + _s(cid.encode())
    body += _s(user.encode()) + _s(pw.encode())
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(bytes((0x10, len(body))) + body)
    ack = s.recv(4)
    return s, ack[3]


def _subscribe(s, topic):
    body = struct.pack("!H", 7) + _s(topic.encode()) + b"\x00"
    s.sendall(bytes((0x82, len(body))) + body)
    ack = s.recv(5)
    assert ack[0] == 0x90
    return ack[4]


def _closed(s, timeout=5):
    s.settimeout(timeout)
    try:
        return s.recv(10) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("cid,user,key,code", [
    ("org-{org}-ab12", "org-{org}", "{key}", 0),
    ("org-{org}-AB12", "org-{org}", "{key}", 2),     # random part: lowercase only
    ("org-{org}", "org-{org}", "{key}", 2),          # no random part
    ("{org}-ab12", "org-{org}", "{key}", 2),
    ("org-{org}-ab12", "{org}", "{key}", 4),          # username without org-
    ("org-{org}-ab12", "org-{org}", "{key}0", 4),    # wrong key
    ("org-999-ab12", "org-999", "{key}", 4),          # unknown organisation
    ("org-{org}-ab12", "org-999", "{key}", 4),        # username of another org
])
def test_door_checks_org_credentials(sim, cid, user, key, code):
    f = dict(org=sim.org, key=sim.key)
    s, got = _connect(sim.port, cid.format(**f), user.format(**f), key.format(**f))
    s.close()
    assert got == code


def test_subscriptions_outside_the_org_are_refused(sim):
    s, code = _connect(sim.port, "org-%s-acl1" % sim.org, "org-" + sim.org, sim.key)
    assert code == 0
    try:
        assert _subscribe(s, "/device_sensor_data/%s/+/+/+/+" % sim.org) == 0
        assert _subscribe(s, "/device_status_event/%s/#" % sim.org) == 0
        for bad in ("/device_sensor_data/999/+/+/+/+", "/device_sensor_data/+/+/+/+/+", "#",
                    "device_sensor_data/%s/+/+/+/+" % sim.org, "/device_sensor_data/%s9/#" % sim.org):
            assert _subscribe(s, bad) == 0x80, bad
    finally:
        s.close()


def test_publishing_closes_the_link_and_one_link_per_client_id(sim):
    s, code = _connect(sim.port, "org-%s-pub1" % sim.org, "org-" + sim.org, sim.key)
    assert code == 0
    t = ("/device_sensor_data/%s/%s/1/vs/4097" % (sim.org, WEATHER)).encode()
    body = _s(t) + b'{"value":1}'
    s.sendall(bytes((0x30, len(body))) + body)
    assert _closed(s)
    s.close()
    first, _ = _connect(sim.port, "org-%s-dup1" % sim.org, "org-" + sim.org, sim.key)
    second, code = _connect(sim.port, "org-%s-dup1" % sim.org, "org-" + sim.org, sim.key)
    assert code == 0 and _closed(first)
    second.close()
    first.close()
