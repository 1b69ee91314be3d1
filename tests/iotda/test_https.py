"""The HTTPS device API on the MicroPython unix port against the local IoTDA
(HTTPS with the test CA; sims/iotda_https.py): reports, messages, gateway
batches, a refused secret, token renewal, rate limits, answers that are not
JSON.  The codec's error mapping also on CPython."""

import json

import pytest

from .conftest import SECRETS
from .gate import DEVICE_SIDE, gate

RUN = r"""
import json, time
import iotlink
from iotlink import log
from iotlink.errors import AuthError, ConfigError
from iotlink.clouds.iotda_https import RateLimited, InvalidInput, ApiError
lines = []
log.sink = lines.append
cfg = json.loads(%r)
""" + DEVICE_SIDE.replace("%", "%%") + r"""
%s
print("LOG", json.dumps(lines))
"""


def _https_cfg(sim, did, **extra):
    return sim.https_config(did, **extra)


def _run(upy_run, cfg, body):
    r = upy_run.run(RUN % (json.dumps(cfg), body), timeout=90)
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        out.setdefault(k, []).append(v)
    return out, r.stdout


def test_report_message_children_and_status(iotda, upy_run):
    did = "gw_01"
    iotda.children.setdefault(did, {}).update({"kid%02d" % i: {} for i in range(60)})
    cfg = _https_cfg(iotda, did, service="Meter")
    start = len(iotda.uplinks)
    out, text = _run(upy_run, cfg, r"""
dev = iotlink.connect(cfg)
seen = []
dev.on("status", lambda e, d: seen.append(e))
print("TYPE", type(dev).__name__, dev.connected, dev.cloud.transport)
dev.report({"temperature": 21.5})
dev.report({"level": 80}, "Battery")
dev.event("alarm", {"level": 3})
dev.message("plain text")
dev.child("kid07").report({"v": 7})
dev.report_children({"kid%02d" % i: {"Meter": {"v": i}} for i in range(60)})
try:
    dev.report_children({"stranger": {"Meter": {"v": 1}}})
except InvalidInput as e:
    print("NOTCHILD", e.code, e)
try:
    dev.publish("t", "x")
except NotImplementedError as e:
    print("NOPUB", e)
t0 = time.ticks_ms(); dev.poll(100); print("POLL", time.ticks_diff(time.ticks_ms(), t0) >= 100)
print("STATS", json.dumps(dev.stats))
""")
    assert out["TYPE"] == ["Device True https"]
    assert out["NOTCHILD"][0].startswith("IOTDA.021104")
    assert "no topics" in out["NOPUB"][0]
    assert out["POLL"] == ["True"]
    stats = json.loads(out["STATS"][0])
    # 2 reports, event, message, 1 child, 60 children in 2 requests (<= 50 each)
    assert stats["sent"] == 7 and stats["auths"] == 1
    ups = iotda.uplinks[start:]
    whats = [u[1] for u in ups if u[0] == did]
    assert whats == ["properties/report"] * 2 + ["messages/up"] * 2 + \
        ["gateway/sub-devices/properties/report"] * 3
    assert json.loads(ups[2][2]) == {"name": "alarm", "content": {"level": 3}}
    assert json.loads(ups[3][2]) == {"content": "plain text"}
    batches = [json.loads(u[2])["devices"] for u in ups[5:7]]
    assert [len(b) for b in batches] == [50, 10]
    assert iotda.reported[did]["Meter"] == {"temperature": 21.5}
    assert iotda.reported[did]["Battery"] == {"level": 80}
    assert iotda.reported["kid59"]["Meter"] == {"v": 59}
    assert iotda.reported["kid07"]["Meter"] == {"v": 7}
    assert SECRETS[did] not in text


def test_refused_secret_and_config_errors(iotda, upy_run):
    did = "dev_plain"
    cfg = _https_cfg(iotda, did)
    cfg["cloud"]["secret"] = "not-the-secret-1"
    out, text = _run(upy_run, cfg, r"""
try:
    iotlink.connect(cfg)
except AuthError as e:
    print("AUTH", e.code, e)
from iotlink.drivers.iotda_https import Device
d = Device(cfg)
seen = []
d.on("status", lambda ev, detail: seen.append(ev))
for i in range(2):
    try:
        d.report({"x": i})   # the second is refused without asking again
    except AuthError as e:
        print("AGAIN", e.code)
print("SEEN", json.dumps(seen))
bad = json.loads(json.dumps(cfg)); bad["cloud"]["transport"] = "coap"
try:
    iotlink.connect(bad)
except ConfigError as e:
    print("CFG", e)
bad["cloud"]["transport"] = "https"; bad["cloud"]["type"] = "mqtt"
try:
    iotlink.connect(bad)
except ConfigError as e:
    print("CFG", e)
""")
    assert out["AUTH"][0].startswith("401 iotda https: device-auth refused (IOTDA.000002")
    assert out["CFG"][0] == "cloud.transport: 'coap' not one of mqtt, https"
    assert out["CFG"][1] == "cloud.transport: https is only available with cloud.type iotda"
    assert "not-the-secret-1" not in text
    assert out["AGAIN"] == ["401", "401"] and out["SEEN"] == ['["auth"]']
    assert [r for r in iotda.https.requests if r[0] == did] == [(did, "device-auth", 401)] * 2


def test_token_renewed_when_expired_or_refused(iotda, upy_run):
    did = "dev_e2e"
    api = iotda.start_https()
    cfg = _https_cfg(iotda, did)
    before = len(api.requests)
    out, text = _run(upy_run, cfg, r"""
dev = iotlink.connect(cfg)
dev.report({"n": 1})
gate(%d)
dev.report({"n": 2})
print("STATS", json.dumps(dev.stats))
""" % gate(lambda: api.expire_tokens(did)))
    stats = json.loads(out["STATS"][0])
    assert stats["sent"] == 2 and stats["auths"] == 2 and stats["refreshed"] == 1
    seen = [r[2] for r in api.requests[before:] if r[0] == did]
    assert seen == [200, 200, 403, 200, 200]   # auth, report, refused, auth, report
    assert iotda.reported[did]["default"] == {"n": 2}
    # every token the device got stays out of its output
    assert not any(t in text for t in api.issued)


def test_token_renewed_before_expires_in(iotda, upy_run):
    did = "dev_skew"
    api = iotda.start_https()
    old = api.token_ttl
    api.token_ttl = 2           # renewed a tenth (0 s) early: after 2 s a new one
    try:
        out, _ = _run(upy_run, _https_cfg(iotda, did), r"""
dev = iotlink.connect(cfg)
dev.report({"n": 1})
time.sleep_ms(2200)
dev.report({"n": 2})
print("STATS", json.dumps(dev.stats))
""")
    finally:
        api.token_ttl = old
    stats = json.loads(out["STATS"][0])
    assert stats["auths"] == 2 and stats["refreshed"] == 1 and stats["sent"] == 2
    assert not [r for r in api.requests if r[0] == did and r[2] == 403]


def test_rate_limit_holds_back_then_sends(iotda, upy_run):
    did = "dev_sign1"
    api = iotda.start_https()
    before = len(api.requests)
    out, _ = _run(upy_run, _https_cfg(iotda, did), r"""
dev = iotlink.connect(cfg)
gate(%d)
try:
    dev.report({"n": 1})
except RateLimited as e:
    print("LIMITED", e.code, e.retry_ms, e)
try:
    dev.report({"n": 2})          # inside the back-off: refused without a request
except RateLimited as e:
    print("HELD", e.code, 0 < e.retry_ms <= 1000)
time.sleep_ms(1100)
dev.report({"n": 3})
print("STATS", json.dumps(dev.stats))
""" % gate(lambda: api.throttle(did, 1)))
    assert out["LIMITED"][0].startswith("IOTDA.021101 1000 rate limited (IOTDA.021101 device)")
    assert out["HELD"] == ["None True"]
    stats = json.loads(out["STATS"][0])
    assert stats["rate_limited"] == 1 and stats["sent"] == 1
    statuses = [r[2] for r in api.requests[before:] if r[0] == did]
    assert statuses == [200, 403, 200]
    assert iotda.reported[did]["default"] == {"n": 3}


def test_invalid_input_and_answers_that_are_not_json(iotda, upy_run, test_ca):
    import http.server
    from tests.https_server import serve

    class Proxy(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html>502 Bad Gateway</html>" if "report" in self.path else \
                b'{"access_token": "tok-0123456789abcdef0123456789abcdef", "expires_in": 600}'
            self.send_response(502 if "report" in self.path else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    base, stop = serve(Proxy, test_ca)
    try:
        cfg = _https_cfg(iotda, "dev_plain")
        odd = json.loads(json.dumps(cfg))
        odd["cloud"]["host"] = "localhost"
        odd["cloud"]["port"] = int(base.rsplit(":", 1)[1])
        out, text = _run(upy_run, {"a": cfg, "b": odd}, r"""
dev = iotlink.connect(cfg["a"])
try:
    dev.report({"x": 1}, "S" * 65)
except InvalidInput as e:
    print("INVALID", e.status, e)
dev.report({"ok": 1})
print("STILL", dev.stats["sent"])
dev2 = iotlink.connect(cfg["b"])
try:
    dev2.report({"x": 1})
except ApiError as e:
    print("NOTJSON", type(e).__name__, e.status, e)
""")
    finally:
        stop()
    # a service id over 64 characters is refused by the platform, which says what was invalid
    assert out["INVALID"][0] == "400 invalid input (IOTDA.000006): Invalid input data: " \
        "services[0].service_id must be 1..64 characters"
    assert out["STILL"] == ["1"]
    assert out["NOTJSON"] == ["ApiError 502 HTTP 502: the answer is not an IoTDA error (not JSON)"]
    assert "tok-0123456789abcdef0123456789abcdef" not in text


@pytest.mark.parametrize("status,body,kind,retry", [
    (401, b'{"error_code":"IOTDA.000002","error_msg":"The request is unauthorized."}', "AuthError", None),
    (403, b'{"error_code":"IOTDA.000004","error_msg":"Invalid access token."}', "TokenInvalid", None),
    (403, b'{"error_code":"IOTDA.021102","error_msg":"tenant limit 100"}', "RateLimited", 4000),
    (400, b'{"error_code":"IOTDA.000006","error_msg":"Invalid input data: device_id."}',
     "InvalidInput", None),
    (400, b'{"error_code":"IOTDA.021105","error_msg":"too big"}', "InvalidInput", None),
    (500, b"oops", "ApiError", None),
    (500, b'{"error_code":"IOTDA.000001","error_msg":"The system is busy"}', "ApiError", None),
])
def test_error_mapping(status, body, kind, retry):
    from iotlink.clouds import iotda_https as api
    e = api.error_of(status, body, 4000)
    assert type(e).__name__ == kind
    if retry:
        assert e.retry_ms == retry and "tenant" in str(e)
    assert api.next_backoff(0) == 1000 and api.next_backoff(1000) == 2000 and api.next_backoff(50000) == 60000


def test_gateway_bodies_split_at_50():
    from iotlink.clouds import iotda, iotda_https as api
    c = iotda.Cloud({"cloud": {"type": "iotda", "transport": "https", "host": "h", "device_id": "gw",
                               "secret": "s3cret", "verify": False}})
    assert c.ep["port"] == 443
    bodies = api.sub_bodies(c, [("k%d" % i, {"s": {"v": i}}) for i in range(101)], 0)
    assert [len(json.loads(b)["devices"]) for b in bodies] == [50, 50, 1]
    assert api.path(c, "gateway/sub-devices/properties/report") == \
        "/v5/devices/gw/sys/gateway/sub-devices/properties/report"
    auth = json.loads(api.auth_body(c, 1713058632))
    assert auth["sign_type"] == 0 and isinstance(auth["sign_type"], int)
    assert auth["timestamp"] == "2024041401" and len(auth["password"]) == 64


def test_https_device_on_a_board_sized_heap(iotda, upy_run, tmp_path):
    """The library as .mpy in a 128 KB heap (64-bit unix port, about a 32-bit
    board's 64 KB): connect and report; the heap it holds is printed."""
    from iotlink_tools import upy
    from iotlink_tools.bench import compile_lib
    mpy = str(tmp_path / "mpy")
    compile_lib(mpy, with_umqtt=False)
    cfg = _https_cfg(iotda, "dev_e2e")
    code = upy_run.write(r"""
import gc, json
gc.collect(); base = gc.mem_alloc()
import iotlink
from iotlink.drivers import iotda_https
gc.collect(); code = gc.mem_alloc() - base
dev = iotlink.connect(json.loads(%r))
gc.collect(); held = gc.mem_alloc() - base - code
peak = 0
for i in range(5):
    dev.report({"temperature": 20 + i})
    peak = max(peak, gc.mem_alloc() - base - code)
    gc.collect()
gc.collect()
print("OUT", json.dumps({"modules": code, "device": held, "peak_report": peak,
                         "after": gc.mem_alloc() - base - code, "sent": dev.stats["sent"]}))
""" % json.dumps(cfg))
    r = upy.run(code, heap="128k", extra_path=(mpy,), cwd=upy_run.folder, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.split("OUT ", 1)[1])
    print("HTTPS device, heap 128k, .mpy: modules %(modules)d B, device after connect %(device)d B, "
          "peak around a report %(peak_report)d B, held after 5 reports %(after)d B" % got)
    assert got["sent"] == 5


@pytest.mark.parametrize("body,why", [
    (b"<html>ok</html>", "not JSON"),
    (b'{"access_token": "short", "expires_in": "soon"}', "bad access_token or expires_in"),
    (b'{"expires_in": 60}', "not JSON with access_token"),
])
def test_device_auth_answers_that_are_not_a_token(body, why):
    from iotlink.clouds import iotda_https as api
    with pytest.raises(api.ApiError, match=why):
        api.token_of(200, body)


def test_event_time_in_the_https_format():
    from iotlink.clouds import iotda, iotda_https as api
    c = iotda.Cloud({"cloud": {"type": "iotda", "transport": "https", "host": "h", "device_id": "gw",
                               "secret": "s3cret", "verify": False, "event_time": True}})
    body = json.loads(api.report_body(c, {"t": 1}, None, 1713058632))
    assert body["services"][0]["event_time"] == "2024-04-14T01:37:12.000Z"
    kid = json.loads(api.sub_bodies(c, {"k": {"s": {"v": 1}}}, 1713058632)[0])
    assert kid["devices"][0]["services"][0]["event_time"] == "2024-04-14T01:37:12.000Z"
