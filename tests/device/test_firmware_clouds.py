"""firmware/main.py, unchanged, against each local cloud: the standard
commands and property set reach the board and are answered in that cloud's
format."""

import json
import os
import subprocess
import threading

import pytest

from iotlink_tools import cli, paths, upy


@pytest.mark.parametrize("cloud", ["mqtt", "iotda", "thingscloud", "iotkit"])
def test_standard_commands_on_every_cloud(cloud, tmp_path):
    demo = cli._sim_module(cloud).Sim.demo(str(tmp_path), 0)
    proc = None
    try:
        cfg = demo.run_config()
        cfg.setdefault("app", {}).update({"report_interval": 5, "run_seconds": 60})
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        env = upy.env(extra_path=(paths.FIRMWARE, os.path.join(paths.BOARDS, "unix")))
        proc = subprocess.Popen([upy.micropython_exe(), os.path.join(paths.FIRMWARE, "main.py")],
                                cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        out = []
        threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
        demo.wait_online(20)

        def call(name, params):
            return json.dumps(demo.demo_command(name, params), sort_keys=True)

        assert '"led": true' in call("led", {"on": True})
        assert '"interval": 7' in call("interval", {"seconds": 7})
        assert '"hello": "x"' in call("ping", {"hello": "x"})
        bad = call("interval", {"seconds": "soon"})
        assert "interval must be an integer" in bad
        demo.demo_set({"led": False})
        assert '"rebooting": true' in call("reboot", {})
        assert proc.wait(15) == 0
        text = "".join(out)
        assert "LED on" in text and "LED off" in text and "REBOOT" in text, text
        assert "Traceback" not in text
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        demo.stop()
