"""firmware/examples/asyncio_app.py on the unix board against a real
mosquitto: the cloud session, the blinking LED and the sensor task share one
loop, and the board's HTTP status page answers while they run."""

import json
import os
import time
import urllib.request

from iotlink_tools import paths, upy
from iotlink_tools.broker import free_port
from iotlink_tools.console import Console

from ..device.agent_host import BASE
from ..device.test_session import is_reply

SCRIPT = os.path.join(paths.FIRMWARE, "examples", "asyncio_app.py")


class App(upy.Follow):
    def wait_line(self, prefix, timeout=15):
        end = time.monotonic() + timeout
        with self.cv:
            while not [l for l in self.lines if l.startswith(prefix)]:
                assert time.monotonic() < end and self.p.poll() is None, "\n".join(self.lines)
                self.cv.wait(0.2)


def test_example_serves_cloud_led_sensor_and_status_page(mosquitto, tmp_path):
    http = free_port()
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": mosquitto.port,
                     "client_id": "dev1", "keepalive": 10},
           "app": {"report_interval": 1, "http_port": http, "run_seconds": 6}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    con = Console(mosquitto.port).subscribe(BASE + "/up/#")
    app = App(SCRIPT, args=(str(tmp_path / "config.json"),),
              extra_path=(os.path.join(paths.BOARDS, "unix"),))
    app.wait_line("status page on port")
    con.wait(lambda t, p: t == BASE + "/up/report")
    with urllib.request.urlopen("http://127.0.0.1:%d/" % http, timeout=5) as r:
        page = json.loads(r.read())
    assert page["connected"] is True and "temperature" in page["readings"], page
    con.publish(BASE + "/down/command/ping", json.dumps({"id": "p1", "params": {"x": 1}}))
    _, p = con.wait(is_reply("p1"))
    got = json.loads(p)
    assert got["ok"] and got["data"]["echo"] == {"x": 1}, got
    app.p.wait(30)
    assert app.p.returncode == 0, "\n".join(app.lines)
    reports = con.on(BASE + "/up/report")
    assert len(reports) >= 3, app.lines   # one a second while the rest ran
    blinks = [l for l in app.lines if l.startswith("LED ")]
    assert len(blinks) >= 4, app.lines
    con.close()
