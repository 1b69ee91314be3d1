"""`iotlink deploy` against the emulated Pico W, as a user runs it: every file
lands unchanged (the TLS files the config names included), a second deploy copies nothing, umqtt.simple is installed
(the Pico W firmware does not freeze it), the board resets and main.py starts."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from iotlink_tools import emu, paths
from iotlink_tools.emu.board import Board

ON_BOARD_FILES = """
import os, json, hashlib, binascii
def walk(d, out):
    for name, kind, *_ in os.ilistdir(d):
        p = d.rstrip('/') + '/' + name
        if kind == 0x4000:
            walk(p, out)
        else:
            with open(p, 'rb') as f:
                out[p[1:]] = binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()
    return out
import umqtt.simple
print(json.dumps([walk('/', {}), umqtt.simple.__file__]))
"""


def deploy(port, config):
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "deploy", "--port", port, "--board", "picow",
                        "--config", config], capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def expected_files(config):
    """What deploy puts on a Pico W, by board path: sha256 of the host file."""
    mpy = os.path.join(paths.ROOT, "build", "armv6m")
    files = {"lib/" + os.path.relpath(os.path.join(d, n), mpy): os.path.join(d, n)
             for d, _, names in os.walk(mpy) for n in names if n.endswith(".mpy")}
    files.update({"main.py": os.path.join(paths.FIRMWARE, "main.py"),
                  "boot.py": os.path.join(paths.FIRMWARE, "boot.py"),
                  "board.py": os.path.join(paths.BOARDS, "generic", "board.py"),
                  "board.json": os.path.join(paths.BOARDS, "picow", "board.json"),
                  "config.json": config})
    files.update({rel: os.path.join(os.path.dirname(config), rel) for rel in TLS_FILES.values()})
    out = {}
    for dst, src in files.items():
        with open(src, "rb") as f:
            out[dst] = hashlib.sha256(f.read()).hexdigest()
    return out


def wait_for(emulator, text, since, timeout=60):
    end = time.monotonic() + timeout
    while text not in emulator.serial()[since:]:
        assert time.monotonic() < end, "%r not printed by the board:\n%s" % (text, emulator.serial()[since:][-2000:])
        time.sleep(0.2)


TLS_FILES = {"ca": "certs/ca.crt", "cert": "certs/device1.crt", "key": "certs/device1.key"}


def test_deploy_to_the_emulated_pico_w(tmp_path, test_ca):
    config = str(tmp_path / "config.json")
    os.makedirs(str(tmp_path / "certs"))
    for field, rel in TLS_FILES.items():  # the files a config names go along, to the same relative path
        shutil.copy(test_ca[{"ca": "ca", "cert": "device1", "key": "device1_key"}[field]], str(tmp_path / rel))
    with open(config, "w") as f:  # a broker the board cannot reach: it has no radio
        json.dump({"cloud": dict({"type": "mqtt", "host": "127.0.0.1", "port": 8883, "tls": True,
                                  "client_id": "emu-picow"}, **TLS_FILES),
                   "app": {"report_interval": 5}}, f)
    with emu.Emulator("picow") as e:
        state = os.path.join(paths.ROOT, "build", "deployed-%s.json" % e.port.strip("/").replace("/", "_"))
        try:
            t0 = time.monotonic()
            out = deploy(e.port, config)
            want = expected_files(config)
            assert "copying %d changed file(s) of %d" % (len(want), len(want)) in out, out
            e.wait_reset(1)
            # main.py runs after the reset: its Device tries the broker and schedules a retry
            wait_for(e, "iotlink I: retry in", 0)
            print("first deploy and boot: %.1f s" % (time.monotonic() - t0))

            t0, since = time.monotonic(), len(e.serial())
            out = deploy(e.port, config)
            assert "copying 0 changed file(s) of %d" % len(want) in out, out
            assert "umqtt.simple already on the board" in out, out
            e.wait_reset(2)
            wait_for(e, "iotlink I: retry in", since)
            print("second deploy and boot: %.1f s" % (time.monotonic() - t0))

            with Board(e.port) as b:
                on_board, umqtt_file = json.loads(b.run(ON_BOARD_FILES).strip().splitlines()[-1])
            assert umqtt_file == "/lib/umqtt/simple.mpy"
            assert on_board.pop("lib/umqtt/simple.mpy")
            assert on_board == want
        finally:
            if os.path.exists(state):
                os.unlink(state)
