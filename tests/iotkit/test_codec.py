"""The iotkit codec on CPython: config checks, topics and payloads, downlinks,
replies, answer matching (both server variants' reply topics), sub-devices."""

import json
import random

import pytest

from iotlink.clouds import iotkit
from iotlink.errors import ConfigError
from iotlink.request import COMMAND, SET, GET, EVENT, SYSTEM

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

PK, DN, SECRET = "pkA1", "gw-01", "very-secret-product-key"
BASE = b"/sys/pkA1/gw-01/"


def make(**kw):
    c = {"type": "iotkit", "product_key": PK, "device_name": DN, "model": "GW01",
         "product_secret": SECRET}
    c.update(kw)
    return iotkit.Cloud({"cloud": c})


def body(payload):
    return json.loads(payload)


def answer(cloud, topic, obj):
    """Feed an answer downlink through decode() and system()."""
    req = cloud.decode(topic, json.dumps(obj).encode() if not isinstance(obj, bytes) else obj)
    assert req is not None and req.kind == SYSTEM
    return list(cloud.system(req, 0))


# ----- config ------------------------------------------------------------------

@pytest.mark.parametrize("field", ["product_key", "device_name", "model"])
def test_underscore_rejected_naming_the_field(field):
    with pytest.raises(ConfigError) as e:
        make(**{field: "has_underscore"})
    msg = str(e.value)
    assert msg.startswith("cloud.%s: must not contain '_'" % field)
    assert "has_underscore" not in msg


@pytest.mark.parametrize("field", ["product_key", "device_name", "product_secret"])
def test_required_fields(field):
    c = {"type": "iotkit", "product_key": PK, "device_name": DN, "product_secret": SECRET}
    del c[field]
    with pytest.raises(ConfigError, match="^cloud.%s: required" % field):
        iotkit.Cloud({"cloud": c})


@pytest.mark.parametrize("bad", ["a/b", "a+b", "a#b"])
def test_topic_characters_rejected(bad):
    with pytest.raises(ConfigError, match="^cloud.device_name: must not contain"):
        make(device_name=bad)


def test_defaults_and_secret_not_in_errors():
    c = make()
    assert (c.ep["host"], c.ep["port"], c.ep["tls"], c.ep["keepalive"]) == ("iotkit.cc", 1883, False, 30)
    assert make(model=None).client_id == PK + "_" + DN + "_iotlink"
    with pytest.raises(ConfigError, match="^cloud.ca: required with tls"):
        make(tls=True)
    assert make(tls=True, ca="ca.der").ep["port"] == 8883
    with pytest.raises(ConfigError) as e:
        make(keepalive=1)
    assert "cloud.keepalive" in str(e.value)
    with pytest.raises(ConfigError) as e:
        make(product_secret=5)
    assert "cloud.product_secret" in str(e.value)
    assert SECRET not in repr(c.__dict__.get("_pw"))


# ----- uplinks -----------------------------------------------------------------

def test_property_post_and_event():
    c = make()
    t, p = c.report({"volt": 26}, None, 0)
    assert t == BASE + b"s/event/property/post"
    assert body(p) == {"id": "1", "method": "thing.event.property.post", "params": {"volt": 26}}
    t, p = c.event("overheat", {"temp": 91.5}, 0)
    assert t == BASE + b"s/event/overheat"
    assert body(p) == {"id": "2", "method": "thing.event.overheat", "params": {"temp": 91.5}}
    assert body(c.event("boot", None, 0)[1])["params"] == {}
    for bad in ("", "a/b", "x#", "property.post"):
        with pytest.raises(ValueError):
            c.event(bad, {}, 0)
    with pytest.raises(TypeError):
        c.report([1], None, 0)
    with pytest.raises(ValueError, match="unknown sub-device"):
        c.report({"a": 1}, None, 0, "ghost")


def test_service_argument_is_ignored():
    c = make()
    assert c.report({"a": 1}, "Battery", 0)[0] == BASE + b"s/event/property/post"


def test_config_get():
    c = make()
    t, p = c.config_get()
    assert t == BASE + b"s/config/get" and body(p)["method"] == "thing.config.get"
    acts = answer(c, BASE + b"c/config/get_reply", {"id": body(p)["id"], "method": "thing.config.get_reply",
                                                    "code": 0, "data": {"interval": 60}})
    assert acts[0][:2] == ("event", iotkit.CONFIG)
    assert (acts[0][2].kind, acts[0][2].name, acts[0][2].params) == ("config", "get", {"interval": 60})


# ----- downlinks and replies -------------------------------------------------------

def test_service_call_and_reply():
    c = make()
    r = c.decode(BASE + b"c/service/reboot",
                 b'{"id":"1757401234567003","method":"thing.service.reboot","params":{"delay":5}}')
    assert (r.kind, r.name, r.params, r.rid, r.target, r.error) == \
        (COMMAND, "reboot", {"delay": 5}, "1757401234567003", None, None)
    t, p = c.reply(r, {"ok": True}, None)
    assert t == BASE + b"s/service/reboot_reply"
    assert body(p) == {"id": "1757401234567003", "method": "thing.service.reboot_reply",
                       "code": 0, "data": {"ok": True}, "params": {"ok": True}}
    t, p = c.reply(r, None, "ValueError: no")
    assert body(p) == {"id": "1757401234567003", "method": "thing.service.reboot_reply",
                       "code": iotkit.E_FAILED, "data": {"error": "ValueError: no"},
                       "params": {"error": "ValueError: no"}}


def test_property_set_get_config():
    c = make()
    r = c.decode(BASE + b"c/service/property/set",
                 b'{"id":"7","method":"thing.service.property.set","params":{"powerstate":1}}')
    assert (r.kind, r.params, r.service) == (SET, {"powerstate": 1}, None)
    t, p = c.reply(r, None, None)
    assert t == BASE + b"s/service/property/set_reply"
    assert body(p) == {"id": "7", "method": "thing.service.property.set_reply", "code": 0,
                       "data": {}, "params": {}}
    assert c.REPORT_AFTER_SET is True
    r = c.decode(BASE + b"c/service/property/get",
                 b'{"id":"8","method":"thing.service.property.get","params":["volt","powerstate"]}')
    assert (r.kind, r.params, r.service) == (GET, ["volt", "powerstate"], None)
    t, p = c.reply(r, {"volt": 26, "powerstate": 1}, None)
    assert t == BASE + b"s/service/property/get_reply"
    assert body(p)["data"] == body(p)["params"] == {"volt": 26, "powerstate": 1}
    r = c.decode(BASE + b"c/config/set", b'{"id":"9","method":"thing.config.set","params":{"interval":60}}')
    assert (r.kind, r.name, r.params) == ("config", "set", {"interval": 60})
    t, p = c.reply(r, None, None)
    assert t == BASE + b"s/config/set_reply"
    assert body(p)["method"] == "thing.config.set_reply" and body(p)["code"] == 0


def test_numeric_id_becomes_string():
    r = make().decode(BASE + b"c/service/x", b'{"id":12,"method":"thing.service.x"}')
    assert r.rid == "12" and r.params == {} and r.error is None


@pytest.mark.parametrize("suffix,payload,error", [
    (b"service/x", b"{not json", "payload is not UTF-8 JSON"),
    (b"service/x", b"\xff\xfe", "payload is not UTF-8 JSON"),
    (b"service/x", b"[1,2]", "payload must be a JSON object"),
    (b"service/x", b'{"id":"a","params":{}}', "method missing"),
    (b"service/x", b'{"id":"a","method":"thing.service.y"}', "method does not match the topic"),
    (b"service/x", b'{"id":"a","method":"thing.service.x","params":[1]}', "params must be a JSON object"),
    (b"service/x", b'{"id":"a","method":"thing.service.x","params":"s"}', "params must be a JSON object"),
    (b"service/x", b'{"id":{"a":1},"method":"thing.service.x"}', "id must be a string"),
    (b"service/property/set", b'{"id":"a","method":"thing.service.property.set","params":[]}',
     "params must be a JSON object"),
    (b"service/property/get", b'{"id":"a","method":"thing.service.property.get","params":{"a":1}}',
     "params must be a list of property names"),
    (b"service/property/get", b'{"id":"a","method":"thing.service.property.get","params":[1]}',
     "params must be a list of property names"),
])
def test_bad_requests_get_an_error_reply(suffix, payload, error):
    c = make()
    r = c.decode(BASE + b"c/" + suffix, payload)
    assert r.error == error
    t, p = c.reply(r, None, r.error)
    assert t == BASE + b"s/" + suffix + b"_reply"
    b = body(p)
    assert b["code"] == iotkit.E_BAD and b["data"] == {"error": error}
    assert b["method"] == "thing." + suffix.decode().replace("/", ".") + "_reply"


@pytest.mark.parametrize("topic", [b"/sys/other/gw-01/c/service/x", b"/sys/pkA1/other/c/service/x",
                                   b"/sys/pkA1/gw-01/c/topo/change", b"/sys/pkA1/gw-01/c/service/a/b",
                                   b"/sys/pkA1/gw-01/s/service/x", b"/ota/deivce/upgrade/pkA1/gw-01",
                                   b"/sys/pkA1", b"iotlink/x"])
def test_unknown_topics(topic):
    assert make().decode(topic, b'{"id":"1","method":"thing.service.x"}') is None


# ----- answers to uplinks ----------------------------------------------------------

@pytest.mark.parametrize("way", [b"s", b"c"], ids=["plugin /s/", "emqx /c/"])
def test_answers_matched_by_method_and_id_on_either_topic(way):
    c = make()
    _, p = c.report({"volt": 26}, None, 0)
    rid = body(p)["id"]
    t = BASE + way + b"/event/property/post_reply"
    # another id, or another method with this id: not ours
    assert answer(c, t, {"id": "999", "method": "thing.event.property.post_reply", "code": 0}) == []
    assert answer(c, t, {"id": rid, "method": "thing.event.x_reply", "code": 0}) == []
    assert c.acks == 0
    assert answer(c, t, {"id": rid, "method": "thing.event.property.post_reply", "code": 0,
                         "data": {"volt": 26}}) == []
    assert c.acks == 1 and c.nacks == 0
    # the same answer again matches nothing
    assert answer(c, t, {"id": rid, "method": "thing.event.property.post_reply", "code": 0}) == []
    assert c.acks == 1


def test_refused_uplink_goes_to_the_app():
    c = make()
    _, p = c.event("overheat", {"t": 1}, 0)
    rid = body(p)["id"]
    acts = answer(c, BASE + b"s/event/overheat_reply",
                  {"id": rid, "method": "thing.event.overheat_reply", "code": 7, "data": None})
    (kind, handler, req), = acts
    assert (kind, handler, req.kind, req.name, req.target) == ("event", EVENT, EVENT, "error", None)
    assert req.params == {"method": "thing.event.overheat", "id": rid, "code": 7, "data": None}
    assert c.nacks == 1


def test_unreadable_answers_are_counted_not_raised():
    c = make()
    for junk in (b"garbage", b"\xff", b"[1]", b"null"):
        assert answer(c, BASE + b"c/event/property/post_reply", junk) == []
    assert c.nacks == 4


def test_pending_is_bounded():
    c = make()
    for i in range(100):
        c.report({"i": i}, None, 0)
    assert len(c._pending) == 16
    assert answer(c, BASE + b"s/event/property/post_reply",
                  {"id": "100", "method": "thing.event.property.post_reply", "code": 0}) == []
    assert c.acks == 1


# ----- gateway -----------------------------------------------------------------------

def test_register_report_receive_for_a_child():
    c = make()
    t, p = c.register("Rf4QSjbm65X45753", "TEST_SW_000005", "S01")
    assert t == BASE + b"s/register"
    b = body(p)
    assert b["method"] == "thing.lifetime.register"
    assert b["params"] == {"productKey": "Rf4QSjbm65X45753", "deviceName": "TEST_SW_000005", "model": "S01"}
    kid = b"/sys/Rf4QSjbm65X45753/TEST_SW_000005/"
    acts = answer(c, BASE + b"s/register_reply", {"id": b["id"], "method": "thing.lifetime.register_reply",
                                                   "code": 0, "data": b["params"]})
    assert acts[0] == ("subscribe", kid + b"c/#", 1)
    assert (acts[1][2].name, acts[1][2].target) == ("registered", "TEST_SW_000005")
    assert c.children() == {"TEST_SW_000005": ("Rf4QSjbm65X45753", True)}
    t, p = c.report({"volt": 26}, None, 0, "TEST_SW_000005")
    assert t == kid + b"s/event/property/post"
    t, _ = c.event("alarm", {}, 0, "TEST_SW_000005")
    assert t == kid + b"s/event/alarm"
    r = c.decode(kid + b"c/service/ping", b'{"id":"5","method":"thing.service.ping","params":{}}')
    assert (r.kind, r.name, r.target) == (COMMAND, "ping", "TEST_SW_000005")
    assert c.reply(r, {}, None)[0] == kid + b"s/service/ping_reply"
    r = c.decode(kid + b"c/service/property/set", b'{"id":"6","method":"thing.service.property.set","params":{"a":1}}')
    assert r.target == "TEST_SW_000005"  # Device re-reports a child's set for that child
    assert c.reply(r, None, None)[0] == kid + b"s/service/property/set_reply"
    # answers for a child's uplinks come on the child's topics
    _, p = c.report({"volt": 1}, None, 0, "TEST_SW_000005")
    answer(c, kid + b"s/event/property/post_reply",
           {"id": body(p)["id"], "method": "thing.event.property.post_reply", "code": 0})
    assert c.acks == 2
    # a child of another product with the same name is not ours
    assert c.decode(b"/sys/other/TEST_SW_000005/c/service/ping", b"{}") is None
    with pytest.raises(ValueError):
        c.register("p", DN, "m")
    with pytest.raises(ValueError):
        c.register("p/x", "k", "m")


def test_null_reply_fails_the_oldest_pending_registration():
    c = make()
    c.register("pkB", "kid-1", "m")
    c.register("pkB", "kid-2", "m")
    c.report({"x": 1}, None, 0)
    fail = {"id": None, "method": "null_reply", "code": 500, "data": None}
    for way, kid in ((b"s", "kid-1"), (b"c", "kid-2")):
        acts = answer(c, BASE + way + b"/register_reply", fail)
        (kind, handler, req), = acts
        assert (req.name, req.target) == ("error", kid)
        assert (req.params["method"], req.params["code"]) == ("thing.lifetime.register", 500)
    assert answer(c, BASE + b"s/register_reply", fail) == []  # nothing pending any more
    assert c.children() == {}
    assert c.nacks == 2
    with pytest.raises(ValueError):
        c.report({"a": 1}, None, 0, "kid-1")


def test_register_answer_with_a_foreign_id_matched_by_device_name():
    c = make()
    c.register("pkB", "kid-1", "m")
    c.register("pkB", "kid-2", "m")
    acts = answer(c, BASE + b"c/register_reply", {"id": "0", "method": "thing.lifetime.register_reply",
                                                  "code": 0, "data": {"productKey": "pkB", "deviceName": "kid-2"}})
    assert acts[0] == ("subscribe", b"/sys/pkB/kid-2/c/#", 1)
    assert c.children() == {"kid-1": ("pkB", False), "kid-2": ("pkB", True)}


def test_deregister_from_the_cloud():
    c = make()
    c.register("pkB", "kid-1", "m")
    r = c.decode(BASE + b"c/deregister",
                 b'{"id":"5","method":"thing.lifetime.deregister","params":{"productKey":"pkB","deviceName":"kid-1"}}')
    assert r.kind == SYSTEM
    acts = list(c.system(r, 0))
    assert acts[0][:2] == ("publish", BASE + b"s/deregister_reply")
    assert body(acts[0][2]) == {"id": "5", "method": "thing.lifetime.deregister_reply", "code": 0,
                                "data": {}, "params": {}}
    assert acts[1] == ("unsubscribe", b"/sys/pkB/kid-1/c/#")
    assert (acts[2][2].name, acts[2][2].target) == ("deregistered", "kid-1")
    assert c.children() == {}
    for bad in (b'{"id":"6","method":"thing.lifetime.deregister","params":[]}', b"junk",
                b'{"id":"6","method":"thing.lifetime.deregister","params":{"deviceName":3}}'):
        acts = list(c.system(c.decode(BASE + b"c/deregister", bad), 0))
        assert len(acts) == 1 and body(acts[0][2])["code"] == iotkit.E_BAD


def test_deregister_from_the_gateway():
    c = make()
    c.register("pkB", "kid-1", "m")
    f = c.child_filter("kid-1")
    t, p = c.deregister("kid-1")
    assert f == b"/sys/pkB/kid-1/c/#"
    assert t == BASE + b"s/deregister"
    assert body(p)["params"] == {"productKey": "pkB", "deviceName": "kid-1"}
    assert c.children() == {}
    with pytest.raises(ValueError):
        c.deregister("kid-1")
    # the answer (DOC servers) is matched and needs nothing more
    assert answer(c, BASE + b"c/deregister_reply", {"id": body(p)["id"],
                  "method": "thing.lifetime.deregister_reply", "code": 0}) == []
    assert c.acks == 1


# ----- fuzz -----------------------------------------------------------------------------

def test_fuzz_never_raises_out_of_the_codec():
    rnd = random.Random(7)
    c = make()
    c.register("pkB", "kid-1", "m")
    topics = [BASE + b"c/service/x", BASE + b"c/service/property/set", BASE + b"c/service/property/get",
              BASE + b"c/config/set", BASE + b"c/deregister", BASE + b"s/event/property/post_reply",
              BASE + b"c/register_reply", b"/sys/pkB/kid-1/c/service/y", BASE + b"c/x/y"]
    pieces = [b'{"id":', b'"1"', b"1", b"null", b"true", b'"method":', b'"thing.service.x"',
              b'"null_reply"', b'"params":', b"[]", b"{}", b'"code":', b"0", b"5", b",", b"}", b"{",
              b"\xff", b'"data":', b'"thing.lifetime.register_reply"', b'"deviceName":"kid-1"']
    for _ in range(3000):
        c.report({"a": 1}, None, 0)
        payload = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        if rnd.random() < 0.3:
            payload = b'{"id":"1","method":"thing.service.x","params":' + rnd.choice(pieces) + b"}"
        r = c.decode(rnd.choice(topics), payload)
        if r is None:
            continue
        if r.kind == SYSTEM:
            c.system(r, 0)
        else:
            out = c.reply(r, None if r.error else {}, r.error)
            assert out is None or json.loads(out[1])["code"] in (0, 400)


# ----- the report answer read in place ---------------------------------------------

def _run(c, topic, payloads):
    """Feed answers; what the codec did: actions, counters, what is still pending."""
    acts = []
    for p in payloads:
        r = c.decode(topic, p)
        acts.append(None if r is None else [(a[0], a[1], getattr(a[2], "params", a[2]))
                                            for a in c.system(r, 0)])
    return acts, c.acks, c.nacks, [tuple(e) for e in c._pending]


ANSWERS = [
    b'{"id":"%s","method":"thing.event.property.post_reply","code":0,"data":{}}',
    b'{"id": "%s", "method": "thing.event.property.post_reply", "code": 0, "data": {"volt": 26}}',
    b'{"id":%s,"method":"thing.event.property.post_reply","code":0}',
    b' {"id":"%s","method":"thing.event.property.post_reply","code":0} ',
    b'{"method":"thing.event.property.post_reply","id":"%s","code":0}',        # another order
    b'{"id":"%s","method":"thing.event.property.post_reply","code":7,"data":null}',   # refused
    b'{"id":"%s","method":"thing.event.property.post_reply","code":0.0}',
    b'{"id":"%s","method":"thing.event.property.post_reply","code":01}',
    b'{"id":"%s","method":"thing.event.property.post_reply","code":"0"}',
    b'{"id":"%s","method":"thing.event.property.post_reply"}',               # no code: success
    b'{"id":"%s","method":"thing.event.other_reply","code":0}',
    b'{"id":"0%s","method":"thing.event.property.post_reply","code":0}',
    b'{"id":"%s5","method":"thing.event.property.post_reply","code":0}',
    b'{"id":"%s","method":"thing.event.property.post_reply","code":0',       # cut short
    b'{"id":"%s","method":"thing.event.property.post_reply","code":0,"code":3}',
    b'{"id":"%s","method":"thing.event.property.post_reply_","code":0}',
    b'{"id":"%s"}',
]


@pytest.mark.parametrize("way", [b"s", b"c"])
@pytest.mark.parametrize("form", ANSWERS)
def test_report_answers_read_in_place_as_json_would(form, way, monkeypatch):
    """The in-place reading of a report's answer ends where the JSON path
    would: same counters, same actions, same uplinks left pending."""
    def session():
        c = make()
        ids = [body(c.report({"i": i}, None, 0)[1])["id"] for i in range(3)]
        c.event("overheat", {}, 0)
        return c, [form.replace(b"%s", i.encode()) for i in ids[1:]] + [form.replace(b"%s", b"99")]

    topic = BASE + way + b"/event/property/post_reply"
    c, payloads = session()
    fast = _run(c, topic, payloads)
    monkeypatch.setattr(iotkit, "_ok_id", lambda b: -1)
    c, payloads = session()
    assert _run(c, topic, payloads) == fast


def test_report_answers_of_children_and_other_devices_take_the_json_path():
    c = make()
    c.register("pkB", "kid-1", "m")
    answer(c, BASE + b"s/register_reply", {"id": "1", "method": "thing.lifetime.register_reply", "code": 0})
    kid = b"/sys/pkB/kid-1/"
    _, p = c.report({"a": 1}, None, 0, "kid-1")
    ok = b'{"id":"%s","method":"thing.event.property.post_reply","code":0}' % body(p)["id"].encode()
    assert c.decode(b"/sys/pkA1/gw-02/s/event/property/post_reply", ok) is None
    r = c.decode(kid + b"s/event/property/post_reply", ok)
    assert r.kind == SYSTEM and r.target == "kid-1"
    assert list(c.system(r, 0)) == [] and c.acks == 2
