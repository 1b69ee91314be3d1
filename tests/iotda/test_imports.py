"""A standard IoTDA session (connect, commands, property sets and reports)
imports iotda.py alone; each optional part is imported only by what uses it.
Checked in sys.modules on the real MicroPython unix port, with the library
compiled to .mpy as on a board."""

import json

import pytest

from iotlink_tools import upy
from iotlink_tools.bench import compile_lib

CFG = {"cloud": {"type": "iotda", "host": "127.0.0.1", "device_id": "bench_dev",
                 "secret": "bench-secret-01", "tls": False, "port": 1883, "keepalive": 60}}

SESSION = r"""
import gc, sys, json
cfg = json.loads(%r)
from iotlink import config, sign, clock, request, log, clouds, device, session, linkbase  # what a session has loaded
import umqtt.simple
from iotlink.clouds import iotda
S = b"$oc/devices/bench_dev/sys/"
c = iotda.Cloud(cfg)
c.credentials(1700000000)
c.subscriptions()
c.will()
on_connect = c.on_connect(1700000000)
c.RECEIVE_ONLY, c.REPORT_AFTER_SET
c.service_key(None)
t = S + b"commands/request_id=4f6c2d7e-1a2b-4c3d-9e8f-0123456789ab"
m = b'{"paras":{},"service_id":"svc","command_name":"go"}'
p = {"temperature": 21.5, "humidity": 40}
ok = [c.reply(c.decode(t, m), {"ok": 1}, None)[0] == S + b"commands/response/request_id=" + t[-36:]]
echo = c.decode(S + b"commands/response/request_id=1", b'{"result_code":0}')
ok.append(c.system(echo, 0) == [])
r = c.decode(S + b"properties/set/request_id=s1", b'{"services":[{"service_id":"default","properties":{"a":1}}]}')
ok.append(r.error is None and c.reply(r, None, None) is not None)
r = c.decode(S + b"commands/request_id=2", b'{"paras":3}')
ok.append(r.error == "paras must be a JSON object")
n = 50
gc.collect(); b = gc.mem_alloc(); gc.disable()
for i in range(n):
    c.RECEIVE_ONLY  # what Device.report asks the codec too
    c.service_key(None)
    c.report(p, None, 1700000000, None)
e = gc.mem_alloc(); gc.enable()
gc.collect(); b2 = gc.mem_alloc(); gc.disable()
for i in range(n):
    c.reply(c.decode(t, m), {"ok": 1}, None)
e2 = gc.mem_alloc(); gc.enable()
et = S + b"commands/response/request_id=4f6c2d7e-1a2b-4c3d-9e8f-0123456789ab"
em = b'{"result_code":0,"response_name":"go","paras":{"ok":1}}'
gc.collect(); b3 = gc.mem_alloc(); gc.disable()
for i in range(n):
    c.system(c.decode(et, em), 0)  # a broker that echoes: once per command answered
e3 = gc.mem_alloc(); gc.enable()
loaded = sorted(k for k in sys.modules if k.startswith("iotlink.clouds.iotda_"))
print("OUT", json.dumps({"ok": ok, "loaded": loaded, "on_connect": len(on_connect),
                         "report": (e - b) // n, "command": (e2 - b2) // n, "echo": (e3 - b3) // n}))
"""

# one optional feature each: what the session then imports
FEATURE = r"""
import sys, json
cfg = json.loads(%r)
from iotlink.clouds import iotda
c = iotda.Cloud(cfg)
S = b"$oc/devices/bench_dev/sys/"
step = %r
if step == "on_connect":
    c.on_connect(1700000000)
elif step == "event":
    c.event("e", {"x": 1}, 1700000000, None)
elif step == "child":
    c.report({"x": 1}, None, 1700000000, "kid")
elif step == "time sync answer":
    r = c.decode(S + b"events/down", b'{"services":[{"service_id":"$time_sync","event_type":'
                 b'"time_sync_response","paras":{"device_send_time":1000,'
                 b'"server_recv_time":5000,"server_send_time":5100}}]}')
    assert c.system(r, 1400) == [("clock", 5250)]
elif step == "get":
    r = c.decode(S + b"properties/get/request_id=g1", b'{"service_id":"default"}')
    assert r.service is None and c.reply(r, {"a": 1}, None) is not None
elif step == "message":
    c.decode(S + b"messages/down", b'{"content":1}')
print("OUT", json.dumps(sorted(k for k in sys.modules if k.startswith("iotlink.clouds.iotda_"))))
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


def test_standard_session_imports_the_core_only(mpy_lib, tmp_path):
    got = _run(SESSION % json.dumps(CFG), mpy_lib, tmp_path)
    print("heap from .mpy: per report %(report)d, per command decode + reply %(command)d, "
          "per echoed reply %(echo)d" % got)
    assert got["ok"] == [True] * 4
    assert got["loaded"] == [] and got["on_connect"] == 0
    # the hot paths must not allocate more than before the optional parts
    # were split out (measured with this script then: 386 per report, 1504
    # per command)
    assert got["report"] <= 386
    assert got["command"] <= 1280
    assert got["echo"] <= 320  # as measured before the split, by this script


@pytest.mark.parametrize("step,cloud,want", [
    ("on_connect", {"time_sync": True}, ["iotlink.clouds.iotda_events"]),
    ("on_connect", {"sw_version": "1"}, ["iotlink.clouds.iotda_events", "iotlink.clouds.iotda_ota"]),
    ("on_connect", {"bootstrap": True}, ["iotlink.clouds.iotda_bootstrap", "iotlink.clouds.iotda_events"]),
    ("get", {}, ["iotlink.clouds.iotda_properties"]),
    ("event", {}, ["iotlink.clouds.iotda_messages"]),
    ("child", {}, ["iotlink.clouds.iotda_events", "iotlink.clouds.iotda_gateway"]),
    ("time sync answer", {}, ["iotlink.clouds.iotda_events"]),
    ("message", {}, ["iotlink.clouds.iotda_messages"]),
])
def test_an_optional_part_is_imported_by_what_uses_it(step, cloud, want, mpy_lib, tmp_path):
    cfg = json.loads(json.dumps(CFG))
    cfg["cloud"].update(cloud)
    assert _run(FEATURE % (json.dumps(cfg), step), mpy_lib, tmp_path) == want


# the HTTPS device API, file transfer and the secure tunnel: none of them is
# loaded by a standard MQTT session, which runs here for real (local IoTDA, TLS)
NEW_PARTS = ("iotlink.drivers", "iotlink.drivers.iotda_https", "iotlink.drivers.iotda_files",
             "iotlink.drivers.iotda_tunnel", "iotlink.clouds.iotda_https",
             "iotlink.clouds.iotda_files", "iotlink.clouds.iotda_tunnel",
             "iotlink.repl", "iotlink.ws", "iotlink.http")

MQTT_SESSION = r"""
import sys, json, time
import iotlink
cfg = json.loads(%r)
dev = iotlink.connect(cfg)
@dev.command
def cmd(req):
    return {"ok": 1}
dev.report({"temperature": 21.5})
end = time.ticks_add(time.ticks_ms(), 8000)
while time.ticks_diff(end, time.ticks_ms()) > 0 and not dev.stats["replies"]:
    dev.poll(50)
dev.poll(100)
print("OUT", json.dumps({"up": dev.connected, "replies": dev.stats["replies"],
                         "modules": sorted(k for k in sys.modules if k.startswith("iotlink"))}))
"""


def test_standard_mqtt_session_loads_no_https_file_or_tunnel_part(mpy_lib, tmp_path, iotda, test_ca):
    import threading
    from .conftest import device_config
    cfg = device_config(iotda, "dev_plain", test_ca["ca_der"])
    path = tmp_path / "m.py"
    path.write_text(MQTT_SESSION % json.dumps(cfg))
    done = []

    def operator():
        import time
        for _ in range(40):
            try:
                done.append(iotda.send_command("dev_plain", "s", "go", {}, timeout=2))
                return
            except Exception:
                time.sleep(0.2)
    threading.Thread(target=operator, daemon=True).start()
    r = upy.run(str(path), extra_path=(mpy_lib,), cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.split("OUT ", 1)[1])
    assert got["up"] and got["replies"] >= 1
    assert "iotlink.device" in got["modules"]
    assert not set(NEW_PARTS) & set(got["modules"]), got["modules"]
