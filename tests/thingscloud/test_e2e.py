"""Devices on the MicroPython unix port against the local ThingsCloud: a device
created over the HTTP API, provisioned on the board with the device
certificate endpoint, connected over TLS, driven over HTTP."""

import hashlib
import http.server
import json
import os
import time

import pytest

from ..https_server import serve

from .conftest import Lines, app_keys, script, wait_for
from iotlink.apis.thingscloud import Client

FW = os.urandom(20000 + 77)

HANDLERS = r"""
from iotlink.clouds import thingscloud_provision as tp, thingscloud_ota, thingscloud_uplinks
cache = 'tc_cert.json'
cfg1 = tp.provision(cfg, cache)
cfg2 = tp.provision(cfg, cache)
print('PROVISIONED', cfg1['cloud']['access_token'] == cfg2['cloud']['access_token'],
      'access_token' in cfg)
dev = iotlink.connect(cfg1)
cloud = dev.cloud

@dev.command
def cmd(req):
    n = req.name
    if n == 'echo':
        return {'got': req.params, 'rid': list(req.rid)}
    if n == 'boom':
        raise ValueError('boom')
    if n == 'get':
        dev.publish(*thingscloud_uplinks.attributes_get(req.params.get('keys'), 42), qos=1)
        return {}
    if n == 'event':
        dev.event('alarm', {'code': 1390})
        return {}
    if n == 'up':
        dev.publish(*thingscloud_uplinks.data('stream', b'\x00\x01\xfe'), qos=1)
        return {}
    if n == 'otaUpgrade':
        with open('fw.new', 'wb') as f:
            out = thingscloud_ota.upgrade(req.params, f.write, ca=CA)
        print('OTA', out['ota_result'], out['version'])
        return out
    if n == 'exit':
        stop.append(1)
        return {}

@dev.on('set')
def on_set(req):
    if 'bad' in req.params:
        raise ValueError('read only')
    print('SET', req.target, json.dumps(req.params))

@dev.on('event')
def on_event(req):
    if req.name != 'attributes/response':
        print('EVENT', req.name, req.rid, json.dumps(req.params), req.error)

@dev.on('data')
def on_data(req):
    print('DATA', req.name, req.params)
"""


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/fw.bin":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(FW)))
        self.end_headers()
        self.wfile.write(FW)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def files(test_ca):
    url, stop = serve(_Files, test_ca)
    yield url
    stop()


def test_create_provision_connect_drive(sim, test_ca, upy_run, files):
    app, ak, sk = app_keys(sim)
    api = Client(sim.api_url, app, ak, sk)
    sensor = next(t for t in api.device_types() if t["name"] == "sensor")
    did = api.create_device("board 77", type=sensor["id"], device_key="board-77")["id"]
    cfg = {"cloud": {"type": "thingscloud", "host": "127.0.0.1", "port": sim.tls_port, "tls": True,
                     "ca": test_ca["ca_der"], "api": sim.api_url, "project_key": sim.project_key,
                     "device_key": "board-77", "streams": ["stream"], "version": "1.0.0"},
           "session": {"backoff_min_ms": 200, "backoff_max_ms": 1000}}
    calls = sim.cert_calls
    body = "CA = %r\n" % test_ca["ca"] + HANDLERS
    out = Lines(upy_run.start(script(cfg, body, seconds=60)))
    out.expect(r"^PROVISIONED True False")
    out.expect(r"^UP True")
    assert sim.cert_calls == calls + 1  # fetched once, then from the cache file
    assert json.loads(open(os.path.join(upy_run.folder, "tc_cert.json")).read())["id"] == did
    info = [i for i, code in sim.front.connects if i.get("key") == did][-1]
    assert info["tls"] and info["keepalive"] == 120 and not info["will"] and info["clean"]
    assert wait_for(lambda: api.device(did)["online"])
    # the version attribute after CONNACK
    assert wait_for(lambda: "version" in sim.devices[did]["attributes"])
    assert {a["identifier"]: a["value"] for a in api.attributes(did)} == {"version": "1.0.0"}

    # attributes pushed over HTTP: the handler runs, the new state is re-reported
    api.push_attributes(did, {"relay": True, "setpoint": 22.5})
    out.expect(r'^SET None \{"relay": true, "setpoint": 22.5\}|^SET None \{"setpoint": 22.5, "relay": true\}')
    assert wait_for(lambda: "relay" in sim.devices[did]["attributes"])
    vals = {a["identifier"]: a["value"] for a in api.attributes(did)}
    assert vals == {"version": "1.0.0", "relay": True, "setpoint": 22.5}
    n = len(sim.uplinks)
    api.push_attributes(did, {"bad": 1})  # handler raises: logged, nothing re-reported
    time.sleep(0.5)
    assert not [u for u in sim.uplinks[n:] if u[0] == did and u[1] == "attributes"]

    # commands over HTTP: reply on command/reply/<id> echoing method and id
    cid = api.send_command(did, "echo", {"n": 1})
    r = sim.wait_reply(did, cid, 10)
    assert r == {"method": "echo", "params": {"got": {"n": 1}, "rid": [str(cid), cid]}, "id": cid}
    cid = api.send_command(did, "boom", {}, id=4242)
    assert sim.wait_reply(did, 4242, 10) == {"method": "boom", "params": {"error": "ValueError: boom"},
                                             "id": 4242}
    # the cloud's ack of the reply reaches the event handler
    out.expect(r"^EVENT command/reply/response 4242 \{\"result\": 1\} None")

    # bad input never stops the loop
    sim.down(did, "command/send/5", b"{bad json")
    assert "JSON" in sim.wait_reply(did, 5, 10)["params"]["error"]
    sim.down(did, "command/send/6", {"method": "echo", "params": [1], "id": 6})
    assert sim.wait_reply(did, 6, 10)["params"] == {"error": "params must be a JSON object"}
    sim.down(did, "attributes/push", b"[1, 2]")
    sim.down(did, "data/stream/set", b"x" * 20000)  # over session.max_payload: drained
    # custom data down: raw bytes, never decoded
    sim.down(did, "data/stream/set", b"\x01\x02\xff")
    out.expect(r"^DATA stream b'\\x01\\x02\\xff'")

    # attribute get: request built by the codec, answer delivered as an event
    assert sim.command("get", {"keys": ["relay"]}, 10, did)["params"] == {}
    out.expect(r'^EVENT attributes/get/response 42 \{"relay": true\} None')
    # events and their ack
    sim.command("event", {}, 10, did)
    assert wait_for(lambda: sim.events.get(did) == [{"method": "alarm", "params": {"code": 1390}}])
    out.expect(r'^EVENT event/response 1000 \{"result": 1\} None')
    # custom data up
    sim.command("up", {}, 10, did)
    assert wait_for(lambda: sim.data.get(did) == [("stream", b"\x00\x01\xfe")])

    # OTA over a command: download with the SHA-256 check, reply with ota_result
    good = hashlib.sha256(FW).hexdigest()
    r = sim.command("otaUpgrade", {"upgrade": True, "url": files + "/fw.bin", "version": "1.0.1",
                                   "sha256": good}, 20, did)
    assert r["params"] == {"ota_result": 0, "version": "1.0.1"}
    assert open(os.path.join(upy_run.folder, "fw.new"), "rb").read() == FW
    r = sim.command("otaUpgrade", {"upgrade": True, "url": files + "/fw.bin", "version": "1.0.2",
                                   "md5": "0" * 32}, 20, did)
    assert r["params"]["ota_result"] == 3 and "MD5" in r["params"]["error"]
    r = sim.command("otaUpgrade", {"url": files + "/nope.bin", "version": "1.0.3"}, 20, did)
    assert r["params"]["ota_result"] == 1
    r = sim.command("otaUpgrade", {"upgrade": True, "version": "1.0.4"}, 20, did)
    assert r["params"]["ota_result"] == 4

    sim.command("exit", {}, 10, did)
    text = out.finish()
    stats = json.loads(text.split("STATS ", 1)[1].splitlines()[0])
    assert stats["link_errors"] == 0 and stats["connects"] == 1
    assert stats["bad_input"] >= 3 and stats["handler_errors"] >= 1
    token = sim.devices[did]["access_token"]
    assert "Traceback" not in text and token not in text and sim.project_key not in text


GATEWAY = r"""
from iotlink.clouds import thingscloud_gateway
dev = iotlink.connect(cfg)
cloud = dev.cloud
kid = dev.child('addr-1')

@dev.command
def cmd(req):
    if req.name == 'exit':
        stop.append(1)
        return {}
    if req.name == 'online':
        dev.publish(*thingscloud_gateway.connect(req.params['device']), qos=1)
        return {}
    return {'for': req.target, 'got': req.params}

@dev.on('set')
def on_set(req):
    print('SET', req.target, json.dumps(req.params))
    if req.target:
        dev.child(req.target).report(req.params)

kid.report({'temp': 18.5})
"""


def test_gateway_sub_devices(sim, test_ca, upy_run):
    gw = sim.add_device("gw", type=next(t for t in sim.types.values() if t["conn_type"] == "3")["id"])
    cfg = sim.config(gw["id"], tls=True, gateway=True)
    cfg["cloud"]["ca"] = test_ca["ca_der"]
    out = Lines(upy_run.start(script(cfg, GATEWAY, seconds=30)))
    out.expect(r"^UP True")
    did = gw["id"]
    assert wait_for(lambda: sim.children.get(did, {}).get("addr-1", {}).get("attributes") == {"temp": 18.5})
    sim.down(did, "gateway/attributes/push", {"addr-1": {"relay": True}, "addr-2": {"x": 2}})
    out.expect(r'^SET addr-1 \{"relay": true\}')
    out.expect(r'^SET addr-2 \{"x": 2\}')
    assert wait_for(lambda: sim.children[did].get("addr-2", {}).get("attributes") == {"x": 2})
    r = sim.command("on", {"ch": 1}, 10, did, target="addr-2")
    assert r["device"] == "addr-2" and r["command"]["params"] == {"for": "addr-2", "got": {"ch": 1}}
    sim.command("online", {"device": "addr-1"}, 10, did)
    assert wait_for(lambda: sim.children[did]["addr-1"]["online"])
    sim.command("exit", {}, 10, did)
    text = out.finish()
    assert "Traceback" not in text


RATE = r"""
dev = iotlink.connect(cfg)
n = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 2500:
    dev.report({'n': n})
    n += 1
    dev.poll(50)
print('SENT', n - 1)
dev.poll(800)  # the last coalesced report goes out once report_min_ms has passed
stop.append(1)
"""


def test_report_min_ms_keeps_a_device_under_the_flow_limit(test_ca, upy_run, tmp_path):
    """The local cloud closes a device sending more than 6 messages in 3 s; with
    session.report_min_ms the same tight report loop stays connected and the
    cloud still ends with the last value."""
    from iotlink_tools.sims.thingscloud import Sim
    s = Sim(str(tmp_path), tls=test_ca, rate_limit=(6, 3)).start()
    try:
        slow, fast = s.demo, s.add_device("fast")
        runs = {}
        for d, gap in ((slow, 600), (fast, 0)):
            cfg = s.config(d["id"])
            cfg["session"] = {"report_min_ms": gap, "backoff_min_ms": 5000, "backoff_max_ms": 5000}
            runs[d["id"]] = Lines(upy_run.start(script(cfg, RATE, seconds=5)))
        texts = {k: v.finish(30) for k, v in runs.items()}
        last = int(texts[slow["id"]].split("SENT ")[1].split()[0])
        assert slow["id"] not in s.kicked and fast["id"] in s.kicked
        ups = [p for d, r, p in s.uplinks if d == slow["id"] and r == "attributes"]
        assert 3 <= len(ups) <= 7 and json.loads(ups[-1]) == {"n": last}
        st = json.loads(texts[slow["id"]].split("STATS ")[1].splitlines()[0])
        assert st["link_errors"] == 0 and st["coalesced"] >= 3 and last > 20
        st = json.loads(texts[fast["id"]].split("STATS ")[1].splitlines()[0])
        assert st["link_errors"] >= 1
    finally:
        s.stop()
