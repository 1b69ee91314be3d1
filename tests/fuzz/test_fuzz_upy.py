"""Bursts of malformed downlinks at a device on the MicroPython unix port, for
every MQTT cloud against its local stand-in (plain MQTT on mosquitto), then a
good command (SenseCAP, receive-only: a good reading): the loop is still
running and answers it; the link was never dropped."""

import json
import random
import threading
import time

import pytest

from iotlink_tools.console import Console
from iotlink_tools.sims.iotda import LocalIoTDA
from iotlink_tools import upy

DEVICE = r"""
import sys, json, time
from iotlink.device import Device
cfg = json.loads(open(sys.argv[1]).read())
dev = Device(cfg)
runs = []

@dev.command
def cmd(req):
    runs.append(req.name)
    if req.name == 'ping':
        print('PING', json.dumps(req.params))
        return {'pong': req.params.get('n')}
    if req.name == 'exit':
        runs.append('exit')
        return {}
    if len(runs) % 2:
        raise ValueError('handler failed')
    return {'ok': 1}

for k in ('set', 'get', 'message', 'event'):
    dev.on(k, lambda req: None)

@dev.on('data')
def data(req):
    p = req.params
    if isinstance(p, dict) and p.get('value') == 4242:
        print('READING', p.get('id'), p.get('value'))
        runs.append('exit')
dev.connect()
print('UP', dev.connected)
end = time.ticks_add(time.ticks_ms(), int(sys.argv[2]))
while 'exit' not in runs and time.ticks_diff(end, time.ticks_ms()) > 0:
    dev.poll(50)
dev.poll(200)
print('STATS', json.dumps(dev.stats))
"""


def corpus(seed, n):
    """Malformed and hostile payloads: broken JSON, wrong types, deep nesting,
    non-UTF-8, huge numbers, big bodies."""
    rnd = random.Random(seed)
    fixed = [b"", b"{", b"}", b"null", b"[]", b"[1,2]", b"\xff\xfe\x00", b'"str"', b"1e999",
             b"{" * 300 + b"}" * 300, b"[" * 500, b'{"id": {"a": 1}}', b'{"params": 3}',
             b'{"paras": [1]}', b'{"services": "x"}', b'{"services": [1, null, {}]}',
             b'{"command_name": 7}', b'{"id": 1e400}', b"\x00" * 100,
             json.dumps({"x": "y" * 3000}).encode(), b'{"a": "\\ud800"}']
    out = list(fixed)
    while len(out) < n:
        k = rnd.randrange(4)
        if k == 0:
            out.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 80))))
        elif k == 1:
            body = json.dumps({rnd.choice(["id", "params", "paras", "services", "command_name",
                                           "service_id", "properties", "n"]):
                               rnd.choice([None, 1, "s", [], {}, [{}], {"a": []}, -1e9, True])
                               for _ in range(rnd.randrange(1, 5))}).encode()
            cut = rnd.randrange(len(body) + 1)
            out.append(body[:cut] if rnd.random() < 0.5 else body)
        elif k == 2:
            d = rnd.randrange(1, 60)
            out.append(b'{"a":' * d + b"[" * d)
        else:
            out.append(b'{"id": "%d", "params": %s}' % (rnd.randrange(1000), rnd.choice(
                [b"[]", b"1", b'"x"', b"null", b"{}", b'{"n": {"deep": [1]}}'])))
    return out


def settle(count, quiet=0.8, timeout=30):
    """Wait until ``count()`` (uplinks seen) stops growing: the device has
    worked through the burst.  A command sent while the inbox is still full
    would be dropped by design (session.inbox bounds it; counted, logged)."""
    end = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.1)
        n = count()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
    raise AssertionError("the device never settled")


class Device:
    def __init__(self, tmp_path, cfg, run_ms=40000):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg))
        script = tmp_path / "device.py"
        script.write_text(DEVICE)
        self.p = upy.start(str(script), args=(str(path), str(run_ms)))
        self.lines = []
        self.up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.up.wait(15), self.lines

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("UP True"):
                self.up.set()

    def finish(self):
        self.p.wait(30)
        assert self.p.returncode == 0, "\n".join(self.lines)
        return json.loads([l for l in self.lines if l.startswith("STATS ")][-1][6:])


def test_mqtt_burst_of_malformed_downlinks_then_a_good_command(mosquitto, tmp_path):
    base = "iotlink/fz1"
    con = Console(mosquitto.port).subscribe(base + "/up/#")
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": mosquitto.port,
                     "client_id": "fz1", "keepalive": 30},
           "session": {"max_payload": 2048, "inbox": 16}}
    dev = Device(tmp_path, cfg)
    subs = ["command/x", "command/ping", "set", "get", "message", "nonsense", "command/",
            "command/a/b", "down", "command/\u00e9"]
    bad = corpus(1, 300)
    for i, payload in enumerate(bad):
        con.publish(base + "/down/" + subs[i % len(subs)], payload, qos=i % 2)
        if i >= 100:
            time.sleep(0.01)
    settle(lambda: len(con.messages))
    con.publish(base + "/down/command/ping", json.dumps({"id": "good", "params": {"n": 42}}))
    _, p = con.wait(lambda t, p: t == base + "/up/reply" and json.loads(p).get("id") == "good",
                    timeout=30)
    assert json.loads(p) == {"id": "good", "ok": True, "name": "ping", "data": {"pong": 42}}
    con.publish(base + "/down/command/exit", b'{"id": "exit"}')
    stats = dev.finish()
    assert stats["link_errors"] == 0 and stats["connects"] == 1, stats
    # what the bounded inbox could not hold was dropped and counted, never a crash
    assert stats["received"] >= len(bad) // 2, stats
    assert stats["bad_input"] > 50, stats
    con.close()


@pytest.fixture
def local_iotda():
    sim = LocalIoTDA({"fz_dev": "fuzz-secret-1"}).start()
    yield sim
    sim.stop()


def test_iotda_burst_of_malformed_downlinks_then_a_good_command(local_iotda, tmp_path):
    sim, did = local_iotda, "fz_dev"
    cfg = sim.config(did, tls=False, keepalive=60)
    cfg["session"] = {"max_payload": 2048}
    dev = Device(tmp_path, cfg)
    rests = ["commands/request_id=f%d", "properties/set/request_id=f%d",
             "properties/get/request_id=f%d", "events/down", "messages/down",
             "shadow/get/response/request_id=f%d", "commands/response/request_id=f%d",
             "commands/request_id=", "nonsense/f%d", "bootstrap/down"]
    bad = corpus(2, 300)
    for i, payload in enumerate(bad):
        rest = rests[i % len(rests)]
        sim._down(did, rest % i if "%d" in rest else rest, payload)
        if i >= 100:
            time.sleep(0.02)   # the first 100 all at once, the rest paced
    settle(lambda: len(sim.uplinks))
    r = sim.send_command(did, "svc", "ping", {"n": 7}, timeout=10)
    assert r == {"result_code": 0, "response_name": "ping", "paras": {"pong": 7}}
    sim.send_command(did, "svc", "exit", {}, timeout=10)
    stats = dev.finish()
    assert stats["link_errors"] == 0 and stats["connects"] == 1, stats
    assert stats["bad_input"] > 50, stats
    # malformed requests with an id were answered with IoTDA's error response
    # (the burst itself put garbage on commands/response topics too: skip what is not JSON)
    errs = []
    for d, r, p in sim.uplinks:
        if d == did and r.startswith("commands/response"):
            try:
                errs.append(json.loads(p))
            except ValueError:
                pass
    assert sum(1 for e in errs if isinstance(e, dict) and e.get("result_code") == 1) > 10


def test_iotkit_burst_of_malformed_downlinks_then_a_good_command(tmp_path, test_ca):
    from iotlink_tools.sims import iotkit as simmod
    sim = simmod.Sim(variant=simmod.PLUGIN, products={"pkFuzz0000001": "fuzz-product-secret-01"},
                     tls=test_ca).start()
    try:
        dn = "fz-iotkit"
        cfg = sim.config(dn, "pkFuzz0000001")
        cfg["session"] = {"max_payload": 2048}
        dev = Device(tmp_path, cfg)
        sim.wait(lambda: sim.online(dn), 10, "online")
        suffixes = ["service/ping", "service/property/set", "service/property/get",
                    "config/set", "config/get", "event/property/post_reply", "service/",
                    "nonsense", "service/a/b", "deregister"]
        bad = corpus(3, 300)
        for i, payload in enumerate(bad):
            sim.publish_raw(dn, suffixes[i % len(suffixes)], payload)
        settle(lambda: len(sim.replies))
        r = sim.invoke(dn, "ping", {"n": 7}, timeout=10)
        assert r["method"] == "thing.service.ping_reply" and r["code"] == 0, r
        assert r["data"] == {"pong": 7} and r["params"] == r["data"], r
        sim.invoke(dn, "exit", {}, timeout=10)
        stats = dev.finish()
    finally:
        sim.stop()
    assert stats["link_errors"] == 0 and stats["connects"] == 1, stats
    assert stats["bad_input"] > 50, stats
    # requests that carried an id were answered with iotkit's error reply
    assert sum(1 for r in sim.replies if r.get("code") == 400) > 10


def test_thingscloud_burst_of_malformed_downlinks_then_a_good_command(tmp_path):
    from iotlink_tools.sims.thingscloud import Sim
    sim = Sim(str(tmp_path / "tc")).start()
    try:
        did = sim.demo["id"]
        cfg = sim.demo_config()
        cfg["session"] = {"max_payload": 2048}
        dev = Device(tmp_path, cfg)
        topics = ["command/send/%d", "attributes/push", "attributes/get/response/%d",
                  "attributes/response", "event/response/%d", "data/stream/set",
                  "command/send/", "nonsense/%d", "gateway/command/send", "command/send/x/y"]
        bad = corpus(4, 300)
        for i, payload in enumerate(bad):
            t = topics[i % len(topics)]
            sim.down(did, t % i if "%d" in t else t, payload)
            if i >= 100:
                time.sleep(0.01)
        time.sleep(1.0)
        r = sim.command("ping", {"n": 7}, 15)
        assert r["method"] == "ping" and r["params"] == {"pong": 7}, r
        sim.command("exit", {}, 15)
        stats = dev.finish()
    finally:
        sim.stop()
    assert stats["link_errors"] == 0 and stats["connects"] == 1, stats
    assert stats["bad_input"] > 50, stats


def test_sensecap_burst_of_malformed_readings_then_a_good_one(tmp_path):
    from iotlink_tools.sims import sensecap
    sim = sensecap.Sim(str(tmp_path / "sc")).start()
    try:
        cfg = sim.demo_config("fuzz01")
        cfg["session"] = {"max_payload": 2048}
        dev = Device(tmp_path, cfg)
        org, eui = sim.org, sensecap.WEATHER
        topics = ["/device_sensor_data/%s/%s/1/vs/4097" % (org, eui),
                  "/device_sensor_data/%s/%s/1/vs/" % (org, eui),
                  "/device_sensor_data/%s/%s/x/vs/4098" % (org, eui),
                  "/device_status_event/%s/%s/vs/3000" % (org, eui),
                  "/device_status_event/%s/%s/vs/" % (org, eui),
                  "/device_sensor_data/%s/%s/1/vs/notanumber" % (org, eui)]
        bad = corpus(5, 300)
        for i, payload in enumerate(bad):
            sim.publish_raw(topics[i % len(topics)], payload)
        time.sleep(1.0)
        sim.publish_reading(eui, 4097, 4242)
        stats = dev.finish()
    finally:
        sim.stop()
    assert any(l.startswith("READING 4097 4242") for l in dev.lines), dev.lines[-20:]
    assert stats["link_errors"] == 0 and stats["connects"] == 1, stats
    assert stats["bad_input"] > 50, stats
