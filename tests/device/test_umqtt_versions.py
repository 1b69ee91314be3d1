"""The session works with each umqtt.simple API generation found on boards.

Only 1.3.4 can be installed here (the package index has nothing newer), so the
later generations are derived from it by the same edits upstream made:

* 1.4.0: ``ssl`` is an SSLContext, wrapped with ``server_hostname=server``;
  ``ssl_params`` is gone (passing it is a TypeError); no ``ussl`` import.
* a published revision of that line whose QoS 1 ``publish()`` ends the packet-id
  write with ``try/except/else: raise`` and so raises on every QoS 1 publish.
"""

import json
import os

import pytest

from iotlink_tools import paths
from iotlink_tools.console import Console
from .agent_host import Agent, BASE, write_config

SRC = os.path.join(paths.DEPS, "umqtt", "simple.py")


def derive(tmp_path, name, broken_publish=False):
    src = open(SRC).read()
    edits = [
        ("ssl=False, ssl_params={}):", "ssl=None):"),
        ("        self.ssl_params = ssl_params\n", ""),
        ("            import ussl\n            self.sock = ussl.wrap_socket(self.sock, **self.ssl_params)",
         "            self.sock = self.ssl.wrap_socket(self.sock, server_hostname=self.server)"),
    ]
    if broken_publish:
        edits.append(("            struct.pack_into(\"!H\", pkt, 0, pid)\n            self.sock.write(pkt, 2)",
                      "            struct.pack_into(\"!H\", pkt, 0, pid)\n            try:\n"
                      "                self.sock.write(pkt, 2)\n            except OSError as e:\n"
                      "                raise\n            else:\n                raise"))
    for old, new in edits:
        assert old in src, "umqtt 1.3.4 source changed: %r" % old
        src = src.replace(old, new)
    folder = tmp_path / name / "umqtt"
    folder.mkdir(parents=True)
    (folder / "simple.py").write_text(src)
    return str(tmp_path / name)


@pytest.mark.parametrize("variant", ["1.3.4", "1.4-context", "1.4-broken-qos1-publish"])
def test_tls_session_with_each_umqtt_generation(variant, mosquitto, test_ca, tmp_path):
    extra = ()
    if variant != "1.3.4":
        extra = (derive(tmp_path, variant, broken_publish="broken" in variant),)
    con = Console(mosquitto.port).subscribe(BASE + "/#")
    cfg = write_config(tmp_path, mosquitto.tls_port, tls=True, ca=test_ca["ca_der"], host="localhost")
    agent = Agent(cfg, 3000, report_ms=300, extra_path=extra)
    agent.wait_line("STATUS up")
    con.publish(BASE + "/down/command/ping", json.dumps({"id": "v", "params": {"n": 3}}))
    _, p = con.wait(lambda t, p: t == BASE + "/up/reply" and json.loads(p)["id"] == "v")
    assert json.loads(p)["data"] == {"pong": 3}
    stats = agent.finish()
    assert stats["link_errors"] == 0 and stats["connects"] == 1
    reports = [json.loads(p)["n"] for p in con.on(BASE + "/up/report")]
    assert reports == list(range(len(reports))) and len(reports) >= 8
    con.close()
