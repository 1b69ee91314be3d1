"""The codec's rarely used parts load only when used: a standard session
(connect, commands, property reports) runs on iotda.py alone, on the real
MicroPython unix port with the library compiled to .mpy as on a board, and
every method and module name kept in iotda_ev.py / iotda_more.py still
answers through iotda and iotda.Cloud."""

import json
import sys

import pytest

from iotlink.clouds import iotda
from iotlink_tools import upy
from iotlink_tools.bench import compile_lib

CFG = {"cloud": {"type": "iotda", "host": "127.0.0.1", "device_id": "bench_dev",
                 "secret": "bench-secret-01", "tls": False, "port": 1883, "keepalive": 60}}
SYS = b"$oc/devices/bench_dev/sys/"
EXTRA = ("iotlink.clouds.iotda_ev", "iotlink.clouds.iotda_more")

SESSION = r"""
import gc, sys, json
cfg = json.loads(%r)
from iotlink import config, sign, clock, request, log, clouds, device, outbox  # what a session has loaded
import umqtt.simple
gc.collect(); a = gc.mem_alloc()
from iotlink.clouds import iotda
gc.collect(); core = gc.mem_alloc() - a
S = b"$oc/devices/bench_dev/sys/"
c = iotda.Cloud(cfg)
c.credentials(1700000000)
c.subscriptions()
c.will()
c.on_connect(1700000000)
getattr(c, "RECEIVE_ONLY", False)
getattr(c, "REPORT_AFTER_SET", False)
c.service_key(None)
t = S + b"commands/request_id=4f6c2d7e-1a2b-4c3d-9e8f-0123456789ab"
m = b'{"paras":{},"service_id":"svc","command_name":"go"}'
p = {"temperature": 21.5, "humidity": 40}
ok = [c.reply(c.decode(t, m), {"ok": 1}, None)[0] == S + b"commands/response/request_id=" + t[-36:]]
echo = c.decode(S + b"commands/response/request_id=1", b'{"result_code":0}')
ok.append(c.system(echo, 0) == [])
r = c.decode(S + b"properties/set/request_id=s1", b'{"services":[{"service_id":"default","properties":{"a":1}}]}')
ok.append(r.error is None and c.reply(r, None, None) is not None)
n = 50
gc.collect(); b = gc.mem_alloc(); gc.disable()
for i in range(n):
    getattr(c, "RECEIVE_ONLY", False)  # what Device.report asks the codec too
    getattr(c, "service_key", None)(None)
    c.report(p, None, 1700000000)
e = gc.mem_alloc(); gc.enable()
gc.collect(); b2 = gc.mem_alloc(); gc.disable()
for i in range(n):
    c.reply(c.decode(t, m), {"ok": 1}, None)
e2 = gc.mem_alloc(); gc.enable()
loaded = [k for k in sys.modules if k.startswith("iotlink.clouds.iotda_")]
gc.collect(); a = gc.mem_alloc()
from iotlink.clouds import iotda_ev, iotda_more
gc.collect(); extra = gc.mem_alloc() - a
print("OUT", json.dumps({"ok": ok, "loaded": loaded, "core": core, "extra": extra,
                         "report": (e - b) // n, "command": (e2 - b2) // n}))
"""


@pytest.fixture(scope="module")
def mpy_lib(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("mpy"))
    compile_lib(d, with_umqtt=True)
    return d


def _run(code, mpy_lib, tmp_path):
    path = tmp_path / "s.py"
    path.write_text(code)
    r = upy.run(str(path), extra_path=(mpy_lib,), cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.split("OUT ", 1)[1])


def test_standard_session_needs_the_core_only(mpy_lib, tmp_path):
    got = _run(SESSION % json.dumps(CFG), mpy_lib, tmp_path)
    print("heap from .mpy: core %(core)d, loaded on demand %(extra)d; per report %(report)d, "
          "per command decode + reply %(command)d" % got)
    assert got["ok"] == [True] * 3
    assert got["loaded"] == []
    # most of the codec's heap stays unused until a session needs it
    assert got["core"] * 2 < got["extra"] + got["core"]
    # the hot paths must not allocate more than before the split (measured
    # with this script then: 386 per report, 1504 per command, core 17408)
    assert got["report"] <= 386
    assert got["command"] <= 1280


LAZY = r"""
import sys, json
from iotlink.clouds import iotda
cfg = json.loads(%r)
c = iotda.Cloud(cfg)
loaded = lambda: sorted(k for k in sys.modules if k.startswith("iotlink.clouds.iotda_"))
out = [getattr(c, "REPORT_AFTER_SET", None), getattr(c, "RECEIVE_ONLY", None), loaded()]
out.append(c.progress(iotda.OTA_VERIFY, "v2", 1700000000, 50))
r = c.decode(b"$oc/devices/bench_dev/sys/events/down", b'{"services":[{"service_id":"$time_sync",'
             b'"event_type":"time_sync_response","paras":{"device_send_time":1000,'
             b'"server_recv_time":5000,"server_send_time":5100}}]}')
out.append([c.system(r, 1400), loaded()])
out.append(getattr(c, "nothing_here", 1))
r = c.decode(b"$oc/devices/bench_dev/sys/properties/get/request_id=g1", b'{"service_id":"default"}')
out.append([r.kind, r.service, r.rid, c.reply(r, {"a": 1}, None)])
out.append(c.sub_add([{"node_id": "n", "product_id": "p"}], 1700000000, "e1"))
out.append(c.user_topic("a/b"))
out.append(loaded())
from iotlink.clouds.iotda import OTA_INSTALL, bootstrapped, password
out.append([OTA_INSTALL, iotda.OTA_UPGRADES, iotda.LOG_TYPES[0], password("12345678", "2025041401"),
            bootstrapped(cfg, {"address": "h.example:8883"})["cloud"]["host"]])
c2 = iotda.Cloud(cfg)
out.append([c2.progress(0, "v", 1), c2.time_sync_request(5), c2.event("e", {"x": 1}, 1)])
for name in ("nope", "_nope"):
    try:
        getattr(iotda, name)
        out.append("no error")
    except AttributeError:
        out.append("AttributeError")


def show(x):
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, str) and x[:1] == "{":  # JSON key order differs between the two
        return json.loads(x)
    if isinstance(x, (list, tuple)):
        return [show(i) for i in x]
    return x


print("OUT", json.dumps(show(out)))
"""


def _lazy_cpython():
    import io
    import contextlib
    import iotlink.clouds as pkg
    for m in EXTRA:   # as if never loaded in this process
        sys.modules.pop(m, None)
        pkg.__dict__.pop(m.rsplit(".", 1)[1], None)
    for name, f in list(vars(iotda.Cloud).items()):
        if getattr(f, "__module__", "").startswith("iotlink.clouds.iotda_"):
            delattr(iotda.Cloud, name)
    buf = io.StringIO()
    code = LAZY % json.dumps(CFG)
    with contextlib.redirect_stdout(buf):
        exec(code, {})
    return json.loads(buf.getvalue().split("OUT ", 1)[1])


def test_lazy_methods_and_names_on_both(mpy_lib, tmp_path):
    upy_out = _run(LAZY % json.dumps(CFG), mpy_lib, tmp_path)
    cpy_out = _lazy_cpython()
    assert upy_out == cpy_out
    out = upy_out
    assert out[:3] == [False, False, []]   # no load for the names Device probes
    t, p = out[3]
    assert t == (SYS + b"events/up").decode()
    assert p["services"][0]["paras"] == {"result_code": 7, "version": "v2", "progress": 50}
    # OTA and time sync need the events part only
    assert out[4] == [[["clock", 5250]], ["iotlink.clouds.iotda_ev"]]
    assert out.pop(5) == 1                         # an unknown name: its default
    assert out.pop(5) == ["get", None, "g1", [(SYS + b"properties/get/response/request_id=g1").decode(),
                                              {"services": [{"service_id": "default",
                                                             "properties": {"a": 1}}]}]]
    assert out[5][1]["services"][0]["event_type"] == "add_sub_device_request"
    assert out[6] == "$oc/devices/bench_dev/user/a/b"
    assert out[7] == sorted(EXTRA)
    assert out[8] == [10, ["firmware_upgrade", "software_upgrade", "firmware_upgrade_v2",
                           "software_upgrade_v2"], "DEVICE_STATUS",
                      "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a",
                      "h.example"]
    assert [p["services"][0]["event_type"] for t, p in out[9][:2]] == [
        "upgrade_progress_report", "time_sync_request"]
    assert out[9][2][1] == {"name": "e", "content": {"x": 1}}
    assert out[10:] == ["AttributeError", "AttributeError"]


def test_missing_names_raise_attribute_error():
    c = iotda.Cloud(CFG)
    for name in ("nope", "_nope", "NOPE", "__deepcopy__"):
        with pytest.raises(AttributeError):
            getattr(c, name)
        with pytest.raises(AttributeError):
            getattr(iotda, name)
    assert c.RECEIVE_ONLY is False and c.REPORT_AFTER_SET is False
