"""The ThingsCloud codec on CPython: spec vectors, every topic, bad input."""

import hashlib
import json
import os
import random

import pytest

from iotlink.clouds import thingscloud as tc
from iotlink.errors import ConfigError
from iotlink.request import COMMAND, SET, EVENT, DATA, SYSTEM

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

TOKEN, PKEY = "abcd1234efgh5678", "XyZ12abCDe"


def cloud(**extra):
    c = {"type": "thingscloud", "host": "sh-3-mqtt.iot-api.com", "access_token": TOKEN,
         "project_key": PKEY}
    c.update(extra)
    return tc.Cloud({"cloud": c})


def js(b):
    return json.loads(b)


def test_spec_connect_vector():
    c = cloud(client_id="tc_3c71bf1a2b3c")
    assert c.credentials(0) == ("tc_3c71bf1a2b3c", "abcd1234efgh5678", "XyZ12abCDe")
    assert (c.ep["host"], c.ep["port"], c.ep["tls"], c.ep["keepalive"]) == \
        ("sh-3-mqtt.iot-api.com", 1883, False, 120)
    assert c.will() is None and c.REPORT_AFTER_SET is True


def test_default_client_id_is_stable_short_and_hides_the_token():
    cid = cloud().credentials(0)[0]
    assert cid == "tc_" + hashlib.sha256(TOKEN.encode()).hexdigest()[:16]
    assert len(cid) <= 23 and TOKEN not in cid
    assert cloud(access_token="other-token").credentials(0)[0] != cid


def test_tls_is_configurable():
    with pytest.raises(ConfigError, match="cloud.ca"):
        cloud(tls=True)
    c = cloud(tls=True, ca="ca.der")
    assert (c.ep["port"], c.ep["verify"]) == (8883, True)
    assert cloud(tls=True, ca="ca.der", port=8884).ep["port"] == 8884


@pytest.mark.parametrize("field,value,msg", [
    ("access_token", None, "cloud.access_token: required"),
    ("project_key", None, "cloud.project_key: required"),
    ("access_token", 5, "cloud.access_token: must be a string"),
    ("streams", ["ok", "bad/id"], "cloud.streams"),
    ("streams", "stream", "cloud.streams: must be a list"),
    ("keepalive", 0, "cloud.keepalive"),
    ("gateway", "yes", "cloud.gateway"),
])
def test_config_errors_name_the_field(field, value, msg):
    c = {"type": "thingscloud", "host": "h", "access_token": TOKEN, "project_key": PKEY}
    c[field] = value
    with pytest.raises(ConfigError) as e:
        tc.Cloud({"cloud": c})
    assert msg in str(e.value)
    assert TOKEN not in str(e.value) and PKEY not in str(e.value)


def test_subscriptions():
    subs = [t for t, q in cloud().subscriptions()]
    assert subs == [b"attributes/push", b"attributes/response", b"attributes/get/response/+",
                    b"command/send/+", b"command/reply/response/+", b"event/response/+"]
    subs = [t for t, q in cloud(streams=["stream", "modbus-1"], gateway=True).subscriptions()]
    assert b"data/stream/set" in subs and b"data/modbus-1/set" in subs
    assert b"gateway/attributes/push" in subs and b"gateway/command/send" in subs
    assert all(b"#" not in t for t in subs)


def test_spec_topic_vectors():
    c = cloud()
    t, p = c.report({"temperature": 31.2, "humidity": 62.5}, None, 0)
    assert (t, p) == (b"attributes", '{"temperature":31.2,"humidity":62.5}')
    assert c.attributes_get() == (b"attributes/get/1000", "{}")
    assert c.attributes_get(["relay", "setpoint"], 7) == (b"attributes/get/7", '{"keys":["relay","setpoint"]}')
    req = c.decode(b"command/send/77", b'{"method":"restart","params":{},"id":77}')
    assert (req.kind, req.name, req.params, req.error) == (COMMAND, "restart", {}, None)
    t, p = c.reply(req, {"ok": True}, None)
    assert t == b"command/reply/77" and js(p) == {"method": "restart", "params": {"ok": True}, "id": 77}
    t, p = c.event("alarm", {"code": 1390}, 0)
    assert t == b"event/report/1000" and js(p) == {"method": "alarm", "params": {"code": 1390}}


def test_chip_id_vectors():
    assert tc.chip_id(bytes.fromhex("246F28AABBCC")) == "AABBCC"
    assert tc.chip_id(bytes.fromhex("246F2800BBCC")) == "BBCC"


def test_version_reported_after_connect():
    assert cloud().on_connect(0) == ()
    (t, p, qos, retain), = cloud(version="1.0.0").on_connect(0)
    assert (t, js(p), retain) == (b"attributes", {"version": "1.0.0"}, False)


def test_attribute_push_is_a_set():
    c = cloud()
    req = c.decode(b"attributes/push", b'{"relay1":true}')
    assert (req.kind, req.params, req.error) == (SET, {"relay1": True}, None)
    assert c.reply(req, None, None) is None  # no ack topic: the re-report is the answer
    for bad in (b"[1]", b"{nope", b"\xff\xfe", b"7"):
        r = c.decode(b"attributes/push", bad)
        assert r.kind == SET and r.error


def test_command_ids_and_errors():
    c = cloud()
    req = c.decode(b"command/send/5", b'{"method":"m","params":{"a":1},"id":"abc"}')
    assert req.rid == ("5", "abc")
    t, p = c.reply(req, None, "boom")
    assert t == b"command/reply/5" and js(p) == {"method": "m", "params": {"error": "boom"}, "id": "abc"}
    r = c.decode(b"command/send/6", b'{"method":"m"}')  # no params: tolerated as {}
    assert r.params == {} and r.error is None
    assert js(c.reply(r, None, None)[1]) == {"method": "m", "params": {}}
    for bad, err in ((b'{"params":{}}', "method"), (b'{"method":"m","params":[1]}', "params"),
                     (b'{"method":3,"params":{}}', "method"), (b"not json", "JSON"), (b"[]", "object")):
        r = c.decode(b"command/send/9", bad)
        assert r.kind == COMMAND and err in r.error
        t, p = c.reply(r, None, r.error)
        assert t == b"command/reply/9" and "error" in js(p)["params"]


def test_builders():
    c = cloud()
    assert c.data("stream", b"\x01\x03\x04\x00") == (b"data/stream", b"\x01\x03\x04\x00")
    assert c.data("s-1", "text") == (b"data/s-1", b"text")
    with pytest.raises(ValueError):
        c.data("a/b", b"x")
    assert c.event_report("otaCheck", None, 12) == (b"event/report/12", '{"method":"otaCheck","params":{}}')
    t, p = c.command_reply("otaUpgrade", {"ota_result": 0}, 88)
    assert t == b"command/reply/88" and js(p)["id"] == 88
    with pytest.raises(ValueError):
        c.report({"a": 1}, "svc", 0)
    with pytest.raises(ValueError):
        c.attributes_get(None, "a/b")


def test_custom_data_down_stays_raw():
    c = cloud(streams=["stream"])
    for payload in (b"\x01\x03\xff\x00", b'{"json":"stays bytes"}', b""):
        r = c.decode(b"data/stream/set", payload)
        assert (r.kind, r.name, r.params) == (DATA, "stream", payload)
        assert isinstance(r.params, bytes)
        assert c.reply(r, None, None) is None
    assert c.decode(b"data/a+b/set", b"x") is None
    assert c.decode(b"data//set", b"x") is None


def test_acks_become_events():
    c = cloud()
    r = c.decode(b"attributes/response", b'{"result":1,"message":"success"}')
    assert (r.kind, r.name, r.params) == (EVENT, "attributes/response", {"result": 1, "message": "success"})
    r = c.decode(b"attributes/response", b"ok")
    assert r.params == b"ok"  # format unverified: raw when not JSON
    r = c.decode(b"attributes/get/response/1000", b'{"result":1,"attributes":{"relay":true}}')
    assert (r.name, r.params, r.rid, r.error) == ("attributes/get/response", {"relay": True}, "1000", None)
    r = c.decode(b"attributes/get/response/3", b'{"result":0,"message":"no such device"}')
    assert r.error == "no such device" and r.params == {}
    r = c.decode(b"attributes/get/response/3", b"\xff")
    assert r.error
    r = c.decode(b"command/reply/response/77", b'{"result":1}')
    assert (r.kind, r.name, r.rid) == (EVENT, "command/reply/response", "77")
    r = c.decode(b"event/response/1000", b"")
    assert (r.name, r.rid, r.params) == ("event/response", "1000", {})
    assert c.reply(r, None, None) is None


def test_unknown_topics():
    c = cloud()
    for t in (b"attributes", b"command/send", b"foo", b"$sys/x", b"gateway/unknown", b"data/x"):
        assert c.decode(t, b"{}") is None


def test_gateway():
    c = cloud(gateway=True)
    t, p = c.report({"temp": 18.5}, None, 0, "addr1")
    assert t == b"gateway/attributes" and js(p) == {"addr1": {"temp": 18.5}}
    assert c.gateway_report({"a": {"x": 1}, "b": {"y": 2}})[0] == b"gateway/attributes"
    assert c.gateway_connect("a") == (b"gateway/connect", '{"device":"a"}')
    assert c.gateway_disconnect("a") == (b"gateway/disconnect", '{"device":"a"}')
    with pytest.raises(ValueError):
        c.event("e", {}, 0, "addr1")
    r = c.decode(b"gateway/attributes/push", b'{"a1":{"relay":true},"a2":{"x":1},"junk":3}')
    assert r.kind == SYSTEM
    acts = c.system(r, 0)
    assert [(a[0], a[1], a[2].kind, a[2].target, a[2].params) for a in acts] == [
        ("event", "set", SET, "a1", {"relay": True}), ("event", "set", SET, "a2", {"x": 1})]
    r = c.decode(b"gateway/command/send",
                 b'{"device":"a1","command":{"id":5,"method":"on","params":{"ch":2}}}')
    assert (r.kind, r.target, r.name, r.params, r.error) == (COMMAND, "a1", "on", {"ch": 2}, None)
    t, p = c.reply(r, {"done": 1}, None)
    assert t == b"gateway/command/reply"
    assert js(p) == {"device": "a1", "command": {"method": "on", "params": {"done": 1}, "id": 5}}
    for bad in (b'{"command":{}}', b'{"device":"a","command":3}', b"x"):
        assert c.decode(b"gateway/command/send", bad).error
    r = c.decode(b"gateway/attributes/response", b'{"result":1}')
    assert (r.kind, r.name) == (EVENT, "gateway/attributes/response")


def test_fuzz_never_raises_beyond_value_error():
    c = cloud(streams=["s"], gateway=True)
    topics = [t for t, _ in c.subscriptions()] + [b"command/send/1", b"attributes/get/response/1",
                                                  b"command/reply/response/2", b"event/response/3"]
    rnd = random.Random(7)
    pieces = [b"{", b"}", b'"method"', b":", b"[", b"]", b"null", b"1", b'"x"', b",", b"\xff", b'"params"',
              b'"device"', b'"command"', b'"attributes"', b'"result"']
    for _ in range(3000):
        t = rnd.choice(topics).replace(b"+", b"9")
        p = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        if rnd.random() < 0.2:
            p = os.urandom(rnd.randint(0, 40))
        try:
            r = c.decode(t, p)
        except ValueError:
            assert t == b"gateway/attributes/push"
            continue
        assert r is not None
        if r.kind == COMMAND:
            out = c.reply(r, None, r.error)
            assert out and json.loads(out[1])


SUCCESS = [b'{"result":1,"message":"success"}', b'{"result": 1, "message": "success"}',
           b' {"message" : "success" ,\n "result":1}\n']
NOT_PLAIN = [b'{"result":1,"message":"success","extra":2}', b'{"result":0,"message":"success"}',
             b'{"result":1,"message":"Success"}', b'{"result":1}', b'{"result":1,"message":"success"',
             b'{"result":1,"message":"success"}}', b'{"result":true,"message":"success"}', b""]


@pytest.mark.parametrize("payload", SUCCESS + NOT_PLAIN)
def test_attributes_response_same_event_as_json_gives(payload):
    """The plain success answer to a report is recognised in place; whatever
    the payload, the event is the one the JSON reading gives."""
    try:
        want = json.loads(payload) if payload else {}  # an empty ack reads as {}
    except ValueError:
        want = payload
    r = cloud().decode(b"attributes/response", payload)
    assert (r.kind, r.name, r.params, r.service, r.target, r.rid, r.error) == \
        (EVENT, "attributes/response", want, None, None, None, None)


def test_attributes_response_reused_but_never_stale():
    """A success answer comes as one reused Request: what a handler did to the
    previous one does not show in the next."""
    c = cloud()
    r = c.decode(b"attributes/response", SUCCESS[0])
    r.params["seen"] = True
    r.params["result"] = 5
    r.name, r.rid, r.error, r.target = "x", 1, "e", "t"
    r = c.decode(b"attributes/response", SUCCESS[1])
    assert (r.kind, r.name, r.params, r.service, r.target, r.rid, r.error) == \
        (EVENT, "attributes/response", {"result": 1, "message": "success"}, None, None, None, None)
    other = c.decode(b"attributes/response", NOT_PLAIN[0])
    assert other is not r and r.params == {"result": 1, "message": "success"}


def test_less_used_builders_load_on_first_use():
    c = cloud()
    assert c.attributes_get(None, 3) == (b"attributes/get/3", "{}")
    assert c.gateway_disconnect("k") == (b"gateway/disconnect", '{"device":"k"}')
    with pytest.raises(AttributeError):
        c.no_such_method
    assert getattr(c, "RECEIVE_ONLY", True) is False and getattr(c, "service_key", 1) is None
