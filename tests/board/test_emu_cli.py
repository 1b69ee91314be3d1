"""`iotlink emu`: a virtual Pico W a user reaches with mpremote, gone with its
command however that command ends (Ctrl-C, or killed outright)."""

import os
import signal
import subprocess
import sys
import time

from iotlink_tools.emu.board import Board


def start(port):
    proc = subprocess.Popen([sys.executable, "-m", "iotlink_tools.cli", "emu", "--port", port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert ("on %s" % port) in first, first + proc.stderr.read()
    return proc


def runner_of(port):
    """pids of the emulator processes serving ``port`` (node and its socat)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().decode(errors="replace")
        except OSError:
            continue
        if port in args and "iotlink_tools.cli" not in args:
            found.append(int(pid))
    return found


def gone(port, timeout=10):
    end = time.monotonic() + timeout
    while runner_of(port) and time.monotonic() < end:
        time.sleep(0.1)
    return not runner_of(port) and not os.path.exists(port)


def test_emu_serves_mpremote_and_stops_on_ctrl_c(tmp_path):
    port = str(tmp_path / "ttyEMU")
    proc = start(port)
    try:
        with Board(port) as b:
            assert "Raspberry Pi Pico W" in b.run("import sys; print(sys.implementation._machine)")
        assert runner_of(port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert gone(port)
    finally:
        proc.kill()
        proc.wait()


def test_emulator_ends_when_its_owner_is_killed(tmp_path):
    port = str(tmp_path / "ttyEMU")
    proc = start(port)
    try:
        assert runner_of(port)
        proc.send_signal(signal.SIGKILL)  # no cleanup code runs: the runner sees its stdin close
        proc.wait()
        assert gone(port)
    finally:
        proc.kill()
        proc.wait()
