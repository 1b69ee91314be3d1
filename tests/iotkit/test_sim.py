"""`iotlink sim iotkit` as a user runs it, and the Sim contract the demo uses."""

import json
import os
import socket
import subprocess
import sys
import types

from iotlink_tools import paths
from iotlink_tools.sims.iotkit import Sim

from .conftest import Lines, script
from .test_front import connack


def test_cli_prints_what_a_device_needs_and_serves(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(paths.ROOT, "tools"))
    p = subprocess.Popen([sys.executable, "-m", "iotlink_tools.cli", "sim", "iotkit", "--port", "0",
                          "--variant", "emqx", "--dir", str(tmp_path)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1, env=env)
    out = Lines(p)
    try:
        port = int(out.expect(r"^local iotkit \(emqx variant\): mqtt://127\.0\.0\.1:(\d+)").group(1))
        m = out.expect(r"^demo device: client id (\S+)  username (\S+)  password ([0-9a-f]{32})$")
        out.expect(r"^  quit")
        cfg = json.load(open(tmp_path / "config.json"))
        assert cfg["cloud"]["port"] == port and cfg["cloud"]["type"] == "iotkit"
        assert m.group(2) == cfg["cloud"]["device_name"]
        door = types.SimpleNamespace(port=port)
        assert connack(door, m.group(1), m.group(2), m.group(3)) == 0
        p.stdin.write("devices\n")
        p.stdin.flush()
        out.expect(r'"%s": \{' % m.group(2))
        p.stdin.write("invoke %s ping {}\n" % m.group(2))
        p.stdin.flush()
        out.expect(r"^Offline: destination not found")  # it connected but is not online
        p.stdin.write("quit\n")
        p.stdin.flush()
        assert p.wait(15) == 0
        with socket.socket() as s:  # the broker went with it
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if p.poll() is None:
            p.kill()


def test_demo_contract(tmp_path, upy_run):
    sim = Sim(str(tmp_path)).start()
    try:
        cfg = sim.demo_config()
        assert set(cfg) >= {"cloud"} and cfg["cloud"]["type"] == "iotkit"
        body = ("@dev.command\n"
                "def cmd(req):\n"
                "    if req.name == 'exit':\n"
                "        stop.append(1)\n"
                "    return {'pong': req.params}\n"
                "dev.report({'led': True})\n")
        out = Lines(upy_run.start(script(cfg, body, seconds=20)))
        out.expect(r"^UP True")
        sim.wait_online(10)
        assert sim.command("ping", {"n": 1}, timeout=5)["data"] == {"pong": {"n": 1}}
        assert sim.set({"led": False}, timeout=5)["code"] == 500  # no set handler
        assert sim.get(["led"], timeout=5)["data"] == {"led": True}
        sim.command("exit", timeout=5)
        out.finish()
    finally:
        sim.stop()


def test_sigterm_stops_the_broker_too(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(paths.ROOT, "tools"))
    p = subprocess.Popen([sys.executable, "-m", "iotlink_tools.sims.iotkit", "--port", "0",
                          "--dir", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    out = Lines(p)
    try:
        out.expect(r"^  quit")
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        assert kids  # mosquitto
        p.terminate()
        assert p.wait(15) == 0
        for pid in kids:
            assert not os.path.exists("/proc/%s" % pid) or \
                open("/proc/%s/stat" % pid).read().split()[2] == "Z"
    finally:
        if p.poll() is None:
            p.kill()
