"""Arbitrary downlinks never escape the dispatch path, and the device still
answers a good command afterwards."""

import json

from hypothesis import given, settings, HealthCheck, strategies as st

import shim
from shim.net import SocketModule, select as fake_select
from iotlink import umqtt_link, clouds
from iotlink.device import Device
from iotlink.request import Request

from . import mqttwire as w

BASE = b"iotlink/dev1"
DOWN = BASE + b"/down/"
CFG = {"cloud": {"type": "mqtt", "host": "broker.test", "client_id": "dev1", "keepalive": 30},
       "session": {"qos": 1, "max_payload": 4096}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)

json_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"id": json_values, "params": json_values, "x": json_values}),
).map(lambda v: json.dumps(v).encode())

topics = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=30).map(lambda b: DOWN + b),
    st.sampled_from([b"command/", b"command/x", b"command/a/b", b"set", b"get", b"message",
                     b"command/\xff", b"set/", b""]).map(lambda b: DOWN + b),
)
payloads = st.one_of(st.binary(max_size=80), json_bodies,
                     st.integers(1, 200).map(lambda n: b"[" * n + b"]" * n))


def good_command(dev):
    return DOWN + b"command/ping", b'{"id": "ok-1", "params": {}}'


def last_reply(dev):
    items = []
    while len(dev._out):
        items.append(dev._out.pop())
    replies = [json.loads(p) for t, p, q, r, pid in items if t == BASE + b"/up/reply"]
    return replies[-1] if replies else None


def make_offline_device():
    dev = Device(CFG)
    dev.command(lambda req: {"pong": req.name})
    dev.on("set", lambda req: True)
    dev.on("message", lambda req: None)
    return dev


@settings(max_examples=400, deadline=None)
@given(topic=topics, payload=payloads)
def test_codec_decode_never_raises(topic, payload):
    cloud = clouds.load(CFG)
    req = cloud.decode(topic, payload)
    assert req is None or isinstance(req, Request)
    if req is not None and req.error is None:
        assert req.kind in ("command", "set", "get", "message")
    if req is not None and req.kind != "message":
        reply = cloud.reply(req, None, req.error)
        assert reply[0] == BASE + b"/up/reply"
        json.loads(reply[1])


@settings(max_examples=300, deadline=None)
@given(msgs=st.lists(st.tuples(topics, payloads), min_size=1, max_size=5))
def test_dispatch_survives_anything_then_answers(msgs):
    dev = make_offline_device()
    for topic, payload in msgs:
        dev.handle(topic, payload)          # the codec and handlers catch it all
        dev._in.append((topic, payload))
    dev.dispatch()
    assert not dev._in
    last_reply(dev)
    dev._in.append(good_command(dev))
    dev.dispatch()
    assert last_reply(dev) == {"id": "ok-1", "name": "ping", "ok": True, "data": {"pong": "ping"}}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=st.lists(st.tuples(topics, payloads, st.sampled_from([0, 1])), min_size=1, max_size=4))
def test_arbitrary_publish_frames_over_the_wire(msgs):
    """The same through umqtt: well-framed PUBLISH packets with any topic and
    payload bytes keep the session up."""
    saved = umqtt_link.socket, umqtt_link.select
    shim.clock.use_fake(shim.TICKS_PERIOD - 1000)
    broker = w.Broker()
    umqtt_link.socket = SocketModule(factory=broker.accept)
    umqtt_link.select = fake_select
    try:
        dev = Device(CFG)
        dev.command(lambda req: {"pong": req.name})
        assert dev.connect()
        for i, (topic, payload, qos) in enumerate(msgs):
            broker.session.send(w.publish(topic, payload, qos=qos, pid=i + 1))
        dev.poll(500)
        assert dev.connected and dev.stats["link_errors"] == 0
        broker.session.send(w.publish(*good_command(dev), qos=1, pid=999))
        dev.poll(200)
        replies = [json.loads(p["payload"]) for p in broker.session.published()
                   if p["topic"] == BASE + b"/up/reply"]
        assert replies and replies[-1] == {"id": "ok-1", "name": "ping", "ok": True, "data": {"pong": "ping"}}
    finally:
        umqtt_link.socket, umqtt_link.select = saved
        shim.clock.use_real()
