"""A device on the MicroPython unix port against the local iotkit (real
mosquitto behind the checking front), in both server variants: the built-in
broker answering on /s/..._reply and EMQX answering on /c/..._reply."""

import json

import pytest

from iotlink_tools.sims.iotkit import EMQX, PLUGIN, Offline

from .conftest import PK, PK2, Lines, device_config, script

HANDLERS = r"""
from iotlink.clouds import iotkit_config
@dev.command
def cmd(req):
    n = req.name
    if n == 'echo':
        return {'got': req.params, 'target': req.target}
    if n == 'boom':
        raise ValueError('boom')
    if n == 'cfg':
        dev.publish(*iotkit_config.config_get(cloud), qos=1)
        return {}
    if n == 'exit':
        stop.append(1)
        return {}
    raise KeyError('unknown service ' + n)

@dev.on('set')
def on_set(req):
    if 'bad' in req.params:
        raise ValueError('read only')
    print('SET', json.dumps(req.params))

@dev.on('config')
def on_config(req):
    print('CONFIG', req.name, json.dumps(req.params))

@dev.on('event')
def on_event(req):
    print('EVENT', req.name, req.target, json.dumps(req.params))

dev.report({'temp': 21.5, 'hum': 40})
dev.event('overheat', {'temp': 91.5})
"""

DN = "dev-e2e"


def reply_method(r):
    return r["method"], r["code"]


def test_device_round_trips(sim, upy_run):
    out = Lines(upy_run.start(script(device_config(sim, DN), HANDLERS, seconds=60)))
    out.expect(r"^UP True")
    sim.wait(lambda: sim.reported.get(DN) == {"temp": 21.5, "hum": 40}, 10, "report")
    sim.wait(lambda: (DN, "overheat", {"temp": 91.5}) in sim.events, 10, "event")
    assert sim.online(DN)

    # a service call: the result under both data and params, same id, method + _reply
    r = sim.invoke(DN, "echo", {"a": 1}, timeout=5)
    assert r["method"] == "thing.service.echo_reply" and r["code"] == 0
    assert r["data"] == r["params"] == {"got": {"a": 1}, "target": None}
    topic = [t for d, t, b in sim.uplinks if isinstance(b, dict) and b.get("id") == r["id"]]
    assert topic == ["/sys/%s/%s/s/service/echo_reply" % (PK, DN)]
    r = sim.invoke(DN, "boom", {}, timeout=5)
    assert r["code"] == 500 and "boom" in r["data"]["error"] and r["params"] == r["data"]
    r = sim.invoke(DN, "nosuch", {}, timeout=5)  # an unknown service: the handler raises
    assert r["code"] == 500 and "unknown service nosuch" in r["data"]["error"]

    # property set: reply, then the new state is reported
    r = sim.set_properties(DN, {"temp": 30}, timeout=5)
    assert (r["method"], r["code"], r["data"], r["params"]) == \
        ("thing.service.property.set_reply", 0, {}, {})
    out.expect(r'^SET \{"temp": ?30\}')
    sim.wait(lambda: sim.reported[DN].get("temp") == 30, 5, "re-report")
    r = sim.set_properties(DN, {"bad": 1}, timeout=5)
    assert r["code"] == 500 and "read only" in r["data"]["error"]

    # property get, answered from the last reported values (no get handler)
    r = sim.get_properties(DN, ["temp", "hum", "nope"], timeout=5)
    assert reply_method(r) == ("thing.service.property.get_reply", 0)
    assert r["data"] == r["params"] == {"temp": 30, "hum": 40}

    # config push
    r = sim.config_set(DN, {"interval": 60}, timeout=5)
    assert reply_method(r) == ("thing.config.set_reply", 0)
    out.expect(r'^CONFIG set \{"interval": ?60\}')
    if sim.doc_methods:  # config/get exists only in the DOC/EMQX builds
        sim.configs[DN] = {"interval": 61}
        sim.invoke(DN, "cfg", {}, timeout=5)
        out.expect(r'^CONFIG get \{"interval": ?61\}')

    # the platform's answers to our uplinks were matched (posts, event, re-report)
    sim.invoke(DN, "exit", {}, timeout=5)
    m = out.expect(r"^STATS (.*) (\d+) (\d+)$")
    stats = json.loads(m.group(1))
    assert int(m.group(2)) >= 3 and int(m.group(3)) == 0
    assert stats["handler_errors"] == 3 and stats["bad_input"] == 0
    out.finish()


BAD = [
    # (topic suffix, payload, id expected in the error reply or None)
    ("service/echo", b"{not json", None),
    ("service/echo", b"\xff\xfe\x00", None),
    ("service/echo", b"[1,2]", None),
    ("service/echo", b'{"id":"b1","method":"thing.service.echo","params":[1,2]}', "b1"),
    ("service/echo", b'{"id":"b2","method":"thing.service.echo","params":"text"}', "b2"),
    ("service/echo", b'{"id":"b3","params":{}}', "b3"),
    ("service/echo", b'{"id":"b4","method":"thing.service.other","params":{}}', "b4"),
    ("service/property/set", b'{"id":"b5","method":"thing.service.property.set","params":[]}', "b5"),
    ("service/property/get", b'{"id":"b6","method":"thing.service.property.get","params":"t"}', "b6"),
    ("config/set", b'{"id":"b7","method":"thing.config.set","params":5}', "b7"),
]


def test_bad_input_does_not_stop_the_loop(sim, upy_run):
    dn = "dev-bad"
    out = Lines(upy_run.start(script(device_config(sim, dn), HANDLERS, seconds=40)))
    out.expect(r"^UP True")
    sim.wait(lambda: sim.online(dn), 10, "online")
    for suffix, payload, _ in BAD:
        sim.publish_raw(dn, suffix, payload)
    sim.publish_raw(dn, "nonsense/topic", b'{"id":"x"}')          # unknown topic: ignored
    sim.publish_raw(dn, "event/property/post_reply", b"garbage")  # unreadable answer
    sim.publish_raw(dn, "event/property/post_reply",
                    b'{"id":"77","method":"thing.event.property.post_reply","code":0}')  # not ours
    sim.publish_raw(dn, "service/echo", b"\x00" * 20000)          # over session.max_payload
    r = sim.invoke(dn, "echo", {"still": "alive"}, timeout=10)
    assert r["data"] == {"got": {"still": "alive"}, "target": None}
    for _, _, rid in BAD:
        if rid:
            r = sim.wait_reply(rid, 5)
            assert r["code"] == 400 and r["data"]["error"], r
    no_id = [r for r in sim.replies if r.get("id") is None]
    assert len(no_id) == 3 and all(r["code"] == 400 for r in no_id)
    sim.invoke(dn, "exit", {}, timeout=5)
    m = out.expect(r"^STATS (.*) (\d+) (\d+)$")
    stats = json.loads(m.group(1))
    assert stats["bad_input"] == len(BAD) + 2  # + the unknown topic and the oversize one
    assert int(m.group(3)) == 1                # the garbage answer
    out.finish()


GATEWAY = r"""
from iotlink.clouds import iotkit_gateway
n = [0]

@dev.on('event')
def on_event(req):
    print('EVENT', req.name, req.target, json.dumps(req.params))
    if req.name == 'registered':
        n[0] += 1
        dev.child(req.target).report({'v': n[0]})
        dev.child(req.target).event('hello', {'from': req.target})

@dev.command
def cmd(req):
    print('CMD', req.name, req.target)
    if req.name == 'drop':
        iotkit.remove_child(dev, req.params['dn'])
    if req.name == 'exit':
        stop.append(1)
    return {'child': req.target}

@dev.on('set')
def on_set(req):
    print('SET', req.target, json.dumps(req.params))

@dev.on('status')
def on_status(ev, detail):
    if ev == 'up':  # EMQX builds: a device is online once something is sent for it
        dev.report({'gw': 1})
        for dn, (pk, ok) in iotkit_gateway.children(cloud).items():
            if ok:
                dev.child(dn).report({'up': 1})

dev.report({'gw': 1})
for pk, dn in ((%r, 'TEST_SW_000005'), (%r, 'kid-2'), (%r, 'kid-3'), ('noproduct', 'kid-bad')):
    iotkit.add_child(dev, pk, dn, 'S01')
""" % (PK2, PK2, PK2)

KIDS = ("TEST_SW_000005", "kid-2", "kid-3")


def test_gateway_with_three_children(sim, upy_run):
    gw = "gw-01"
    out = Lines(upy_run.start(script(device_config(sim, gw), GATEWAY, seconds=60)))
    out.expect(r"^UP True")
    # the refused registration comes back as null_reply: an error event for that child
    out.expect(r'^EVENT error kid-bad .*"code": 500')
    sim.wait(lambda: all(sim.online(k) for k in KIDS), 10, "children online")
    for i, k in enumerate(KIDS):
        assert sim.devices[k]["pk"] == PK2 and sim.devices[k]["parent"] == gw
        sim.wait(lambda: k in sim.reported and (k, "hello", {"from": k}) in sim.events, 5, "child report")
    assert sorted(sim.reported[k]["v"] for k in KIDS) == [1, 2, 3]
    assert "kid-bad" not in sim.devices
    gwconn = sim.routes[gw]
    assert all(sim.routes[k] is gwconn for k in KIDS)  # one connection carries them all

    # a service call to one child, answered on the child's topic
    r = sim.invoke("kid-2", "ping", {}, timeout=5)
    assert r["code"] == 0 and r["data"] == {"child": "kid-2"}
    out.expect(r"^CMD ping kid-2")
    assert any(t == "/sys/%s/kid-2/s/service/ping_reply" % PK2 for _, t, _ in sim.uplinks)
    # a property set for a child is not re-reported as the gateway's own
    assert sim.set_properties("kid-3", {"v": 9}, timeout=5)["code"] == 0
    out.expect(r'^SET kid-3 \{"v": ?9\}')
    r = sim.invoke(gw, "ping", {}, timeout=5)  # (an ordered round trip after the set)
    assert r["data"] == {"child": None}
    assert sim.reported[gw] == {"gw": 1}

    # the cloud deregisters one child: answered, its filter unsubscribed
    f1 = "/sys/%s/TEST_SW_000005/c/#" % PK2
    assert f1 in gwconn.filters
    r = sim.deregister(gw, "TEST_SW_000005", timeout=5)
    assert reply_method(r) == ("thing.lifetime.deregister_reply", 0)
    out.expect(r"^EVENT deregistered TEST_SW_000005")
    sim.wait(lambda: f1 not in gwconn.filters, 5, "unsubscribed")
    assert sim.devices["TEST_SW_000005"]["parent"] is None

    # the gateway drops another
    f3 = "/sys/%s/kid-3/c/#" % PK2
    sim.invoke(gw, "drop", {"dn": "kid-3"}, timeout=5)
    sim.wait(lambda: f3 not in gwconn.filters, 5, "unsubscribed")
    dereg = [b for d, t, b in sim.uplinks if t == "/sys/%s/%s/s/deregister" % (PK, gw)]
    assert dereg and dereg[0]["params"] == {"productKey": PK2, "deviceName": "kid-3"}
    if sim.variant == PLUGIN:  # UNSUBSCRIBE takes it offline; no route any more
        assert not sim.online("kid-3") and not sim.online("TEST_SW_000005")
        with pytest.raises(Offline):
            sim.invoke("kid-3", "ping", {}, timeout=2)
    else:  # EMQX/DOC builds answer the gateway's deregister
        sim.wait(lambda: sim.devices["kid-3"]["parent"] is None, 5, "deregistered")
    # the remaining child still works, also after the link is lost and rebuilt
    assert sim.invoke("kid-2", "ping", {}, timeout=5)["data"] == {"child": "kid-2"}
    assert sim.front.kick(gw)
    sim.wait(lambda: sim.routes.get("kid-2") not in (None, gwconn) and sim.online("kid-2"), 10,
             "child back online")
    assert sim.invoke("kid-2", "ping", {}, timeout=5)["data"] == {"child": "kid-2"}
    assert f3 not in sim.routes["kid-2"].filters and f1 not in sim.routes["kid-2"].filters
    sim.invoke(gw, "exit", {}, timeout=5)
    m = out.expect(r"^STATS (.*) (\d+) (\d+)$")
    assert int(m.group(3)) == 1  # the refused registration
    assert json.loads(m.group(1))["reconnects"] == 1
    out.finish()


def test_wrong_secret_refused(sim, upy_run):
    cfg = device_config(sim, "dev-auth")
    cfg["cloud"]["product_secret"] = "not-the-secret"
    code = ("import iotlink, json\n"
            "try:\n"
            "    iotlink.connect(json.loads(%r))\n"
            "except iotlink.AuthError as e:\n"
            "    print('AUTH', e.code)\n") % json.dumps(cfg)
    r = upy_run.run(code, timeout=30)
    assert "AUTH 4" in r.stdout
    assert "not-the-secret" not in r.stdout + r.stderr


HIDE_MD5 = """
import sys, hashlib
class NoMd5:
    sha256 = hashlib.sha256
sys.modules['hashlib'] = NoMd5
"""


def test_tls_with_the_pure_md5(sim, upy_run):
    """Firmware without hashlib.md5 logs in with the pure MD5, here over TLS
    with the server certificate verified."""
    dn = "dev-tls"
    cfg = device_config(sim, dn, tls=True)
    body = ("from iotlink import sign\n"
            "print('PURE', getattr(sign.hashlib, 'md5', None) is None)\n" + HANDLERS)
    out = Lines(upy_run.start(script(cfg, body, seconds=30, prelude=HIDE_MD5)))
    out.expect(r"^PURE True")
    out.expect(r"^UP True")
    r = sim.invoke(dn, "echo", {"tls": 1}, timeout=10)
    assert r["data"] == {"got": {"tls": 1}, "target": None}
    assert sim.front.connects[-1][0]["tls"] is True
    sim.invoke(dn, "exit", {}, timeout=5)
    out.finish()
