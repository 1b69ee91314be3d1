"""`iotlink emu`: a virtual Pico W a user reaches with mpremote, gone with its
command however that command ends (Ctrl-C, or killed outright)."""

import os
import signal
import subprocess
import sys
import time
import uuid

from iotlink_tools.emu.board import Board

from ..test_sims_cli import _processes


def start(port):
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "iotlink_tools.cli", "emu", "--port", port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, IOTLINK_TEST_MARK=mark))
    first = proc.stdout.readline()
    assert ("on %s" % port) in first, first + proc.stderr.read()
    proc.mark = mark
    return proc


def runner_of(proc):
    """pids of the emulator processes ``proc`` started (node and its socat), still alive."""
    return [pid for pid in _processes(proc.mark) if pid != proc.pid]


def gone(proc, port, timeout=10):
    end = time.monotonic() + timeout
    while runner_of(proc) and time.monotonic() < end:
        time.sleep(0.1)
    return not runner_of(proc) and not os.path.exists(port)


def test_emu_serves_mpremote_and_stops_on_ctrl_c(tmp_path):
    port = str(tmp_path / "ttyEMU")
    proc = start(port)
    try:
        with Board(port) as b:
            assert "Raspberry Pi Pico W" in b.run("import sys; print(sys.implementation._machine)")
        assert runner_of(proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert gone(proc, port)
    finally:
        proc.kill()
        proc.wait()


def test_emulator_ends_when_its_owner_is_killed(tmp_path):
    port = str(tmp_path / "ttyEMU")
    proc = start(port)
    try:
        assert runner_of(proc)
        proc.send_signal(signal.SIGKILL)  # no cleanup code runs: the runner sees its stdin close
        proc.wait()
        assert gone(proc, port)
    finally:
        proc.kill()
        proc.wait()
