"""firmware/main.py on the unix board against a real broker: interval reports
and each standard command."""

import json
import os
import subprocess
import threading

from iotlink_tools import paths, upy
from iotlink_tools.console import Console

BASE = "iotlink/fw1/"


def start_firmware(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg) if isinstance(cfg, dict) else cfg)
    env = upy.env(extra_path=(paths.FIRMWARE, os.path.join(paths.BOARDS, "unix")))
    return subprocess.Popen([upy.micropython_exe(), os.path.join(paths.FIRMWARE, "main.py")],
                            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def call(con, sub, body):
    con.publish(BASE + "down/" + sub, json.dumps(body))
    _, p = con.wait(lambda t, p: t == BASE + "up/reply" and json.loads(p)["id"] == body["id"])
    return json.loads(p)


def test_firmware_reports_and_obeys_standard_commands(mosquitto, tmp_path):
    con = Console(mosquitto.port).subscribe(BASE + "#")
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": mosquitto.port, "client_id": "fw1"},
           "app": {"report_interval": 5, "run_seconds": 30}}
    fw = start_firmware(tmp_path, cfg)
    try:
        con.wait(lambda t, p: t == BASE + "status" and p == b"online", timeout=15)
        first = json.loads(con.wait(lambda t, p: t == BASE + "up/report")[1])
        assert set(first) == {"temperature", "count", "led", "interval"} and first["interval"] == 5
        assert call(con, "command/led", {"id": "1", "params": {"on": True}})["data"] == {"led": True}
        assert call(con, "get", {"id": "2", "params": ["led"]})["data"] == {"led": True}
        r = call(con, "command/ping", {"id": "3", "params": {"x": "y"}})
        assert r["ok"] and r["data"]["echo"] == {"x": "y"}
        assert call(con, "command/interval", {"id": "4", "params": {"seconds": 6}})["data"] == {"interval": 6}
        bad = call(con, "command/interval", {"id": "5", "params": {"seconds": 1}})
        assert not bad["ok"] and "interval" in bad["error"]
        assert call(con, "set", {"id": "6", "params": {"led": False}})["ok"]
        assert not call(con, "set", {"id": "7", "params": {"colour": "red"}})["ok"]
        assert not call(con, "command/dance", {"id": "8"})["ok"]
        # the next interval report shows the new state
        con.wait(lambda t, p: t == BASE + "up/report" and json.loads(p).get("interval") == 6
                 and json.loads(p).get("led") is False and "count" in json.loads(p))
        assert call(con, "command/reboot", {"id": "9"})["data"] == {"rebooting": True}
        out = fw.communicate(timeout=10)[0]
        assert fw.returncode == 0
        assert "LED on" in out and "LED off" in out and "REBOOT" in out
    finally:
        if fw.poll() is None:
            fw.kill()
        con.close()


def test_broken_config_names_the_field_and_does_not_loop(tmp_path):
    cases = [("{not json", "not valid JSON"),
             (json.dumps({"cloud": {"type": "mqtt", "port": 1883, "client_id": "x"}}), "cloud.host"),
             (json.dumps({"cloud": {"type": "mqtt", "host": "h", "client_id": "x", "keepalive": "60"}}),
              "cloud.keepalive: must be an integer"),
             (json.dumps({"cloud": {"type": "nimbus"}}), "cloud.type"),
             (json.dumps({"cloud": {"type": "mqtt", "host": "h", "client_id": "x", "password": "hunter2xyz"}}),
              "cloud.username"),
             (json.dumps({"cloud": {"type": "mqtt", "host": "h", "client_id": "x"},
                          "app": {"report_interval": 1}}), "app.report_interval")]
    for text, expect in cases:
        fw = start_firmware(tmp_path, text)
        out = fw.communicate(timeout=20)[0]
        assert fw.returncode == 0, out           # back to the REPL, no crash, no reboot
        assert "config problem" in out and expect in out, out
        assert "hunter2xyz" not in out
        assert "Traceback" not in out
