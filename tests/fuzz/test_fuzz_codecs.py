"""Every cloud codec in lib/iotlink/clouds (found through clouds.TYPES at run
time) and the Device dispatch path, fed arbitrary topics and payloads.

The contract checked: ``decode()`` returns None or a Request, or refuses the
payload with ValueError (UnicodeError and JSON errors are ValueErrors; the
Device logs and counts those); any other exception is a codec bug.  A decoded
request's ``reply()`` gives (topic, payload) or None, or refuses with ValueError
(the Device logs that it cannot encode the reply), SYSTEM requests
give actions without raising, and nothing at all escapes ``Device`` while it
receives and dispatches; a good command afterwards is still answered.
"""

import ast
import json
import os

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from iotlink import clouds
from iotlink.device import Device
from iotlink.request import Request, COMMAND, SET, GET, SYSTEM

from . import cloudcfg

CLOUDS_DIR = os.path.dirname(clouds.__file__)


def _vocabulary(kind):
    """Short string and bytes literals of the codec's module (topic levels, JSON
    keys, markers): fuzz input that reaches past the first check."""
    words = set()
    for name in os.listdir(CLOUDS_DIR):
        if name == kind + ".py" or name.startswith(kind + "_"):
            tree = ast.parse(open(os.path.join(CLOUDS_DIR, name)).read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                    v = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
                    if 0 < len(v) <= 40 and "\n" not in v:
                        words.add(v)
    return sorted(words)


def _cases():
    out = []
    for kind in clouds.TYPES:
        cfg, why = cloudcfg.minimal(kind)
        marks = () if cfg else (pytest.mark.skip(reason="%s: no minimal config (%s)" % (kind, why)),)
        out.append(pytest.param(kind, cfg, id=kind, marks=marks))
    return out


CASES = _cases()


def _topics(cloud, words):
    filters = [f[0].decode("latin-1") for f in cloud.subscriptions()]
    levels = st.one_of(st.sampled_from(words), st.text(max_size=8), st.integers(0, 5000).map(str),
                       st.sampled_from(words).map(lambda w: w + "request_id=1"),
                       st.sampled_from(["request_id=abc", "request_id=", "x/request_id=7", ""]))

    def expand(f, picks):
        parts, k = [], 0
        for lvl in f.split("/"):
            if lvl == "+":
                parts.append(picks[k % len(picks)] if picks else "x")
                k += 1
            elif lvl == "#":
                parts.extend(picks[k:k + 3])
            else:
                parts.append(lvl)
        return "/".join(parts)

    from_filters = st.builds(expand, st.sampled_from(filters), st.lists(levels, max_size=5)) \
        if filters else st.nothing()
    prefixes = [f.split("+")[0].split("#")[0] for f in filters] or [""]
    glued = st.builds(lambda p, w, t: p + w + t, st.sampled_from(prefixes), st.sampled_from(words),
                      st.text(max_size=12))
    exact = st.builds(lambda p, w: p + w, st.sampled_from(prefixes), st.sampled_from(words))
    return st.one_of(from_filters, glued, exact, st.text(max_size=40)).map(
        lambda t: t.encode("utf-8", "surrogatepass")) | st.binary(max_size=40)


def _payloads(words):
    keys = st.sampled_from(words) | st.text(max_size=6)
    scalars = (st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) |
               st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(words) |
               st.text(max_size=10))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(keys, inner, max_size=4), max_leaves=15)
    objects = st.dictionaries(keys, values, max_size=6)
    return st.one_of(objects.map(lambda v: json.dumps(v).encode()),
                     values.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=60),
                     st.integers(1, 100).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
                     st.sampled_from([b"", b"{", b"null", b"[]", b"\xff\xfe", b'{"services": null}',
                                      b"{}", b'"text"', b"1e999", b" {} "]))


def _check_decoded(cloud, req):
    assert isinstance(req, Request), repr(req)
    # the Device hands any kind to the handler registered under that name;
    # codecs may add their own (iotkit's "config")
    assert isinstance(req.kind, str) and req.kind, req.kind
    if req.kind == SYSTEM:
        acts = getattr(cloud, "system", None)
        if acts is not None:
            for a in acts(req, 1700000000000) or ():
                assert isinstance(a, tuple) and a and isinstance(a[0], str), a
    elif req.kind in (COMMAND, SET, GET):
        for result, err in (({}, None), (None, req.error or "failed")):
            try:
                out = cloud.reply(req, result, err)
            except ValueError:
                continue   # Device logs "cannot encode reply" and goes on
            if out is not None:
                topic, payload = out
                assert isinstance(topic, (bytes, bytearray)) and topic
                assert isinstance(payload, (bytes, bytearray, str))


@pytest.mark.parametrize("kind,cfg", CASES)
def test_decode_never_raises_unexpectedly(kind, cfg):
    cloud = clouds.load(cfg)
    words = _vocabulary(kind)
    seen = {"decoded": 0, "refused": 0}

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              database=None)
    @given(topic=_topics(cloud, words), payload=_payloads(words))
    def run(topic, payload):
        try:
            req = cloud.decode(topic, payload)
        except ValueError:
            seen["refused"] += 1
            return
        if req is not None:
            seen["decoded"] += 1
            _check_decoded(cloud, req)

    run()
    # the generator does reach past the topic checks, not just "unknown topic"
    # (a ValueError is raised only for a topic the codec recognised)
    assert seen["decoded"] + seen["refused"] > 0, seen


def _device(cfg):
    dev = Device(dict(cfg, session={"inbox": 100, "outbox": 50, "max_payload": 4096}))
    calls = []

    def command(req):
        calls.append(req.name)
        if req.name == "ping":
            return {"pong": 1}
        if len(calls) % 3 == 0:
            raise RuntimeError("handler failed")
        return "not a dict" if len(calls) % 3 == 1 else {"ok": True}

    dev.command(command)
    for k in ("set", "get", "message", "event", "data", "ota", "config", "shadow"):
        dev.on(k, lambda req, k=k: (_ for _ in ()).throw(ValueError(k)) if hash(k) % 2 else None)
    dev.on("status", lambda *a: None)
    return dev, calls


GOOD_COMMAND = {
    # a command each cloud's spec defines, and how its reply shows the result
    "mqtt": lambda c: (c._down + b"command/ping", b'{"id": "ok-1", "params": {}}',
                       lambda t, p: json.loads(p)["data"] == {"pong": 1}),
    "iotda": lambda c: (c._sys + b"commands/request_id=ok-1",
                        b'{"service_id": "s", "command_name": "ping", "paras": {}}',
                        lambda t, p: t.endswith(b"request_id=ok-1") and
                        json.loads(p)["paras"] == {"pong": 1}),
}


@pytest.mark.parametrize("kind,cfg", CASES)
def test_device_dispatch_survives_anything(kind, cfg):
    cloud = clouds.load(cfg)
    words = _vocabulary(kind)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              database=None)
    @given(msgs=st.lists(st.tuples(_topics(cloud, words), _payloads(words)), min_size=1, max_size=6))
    def run(msgs):
        dev, calls = _device(cfg)
        for topic, payload in msgs:
            dev._on_msg(topic, payload)   # what umqtt calls while reading
        dev.dispatch()                   # what poll() does next: nothing escapes
        assert not dev._in
        assert dev.stats["received"] == len(msgs)
        good = GOOD_COMMAND.get(kind)
        if good is None:
            return
        while len(dev._out):
            dev._out.pop()
        topic, payload, ok = good(dev.cloud)
        dev._on_msg(topic, payload)
        dev.dispatch()
        assert calls[-1] == "ping"
        out = [dev._out.pop() for _ in range(len(dev._out))]
        assert any(ok(t, p) for t, p, q, r, pid in out), out

    run()
