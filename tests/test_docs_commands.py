"""Every shell command README.md and docs/*.md print runs as written (from the
checkout's root, after ./tools/bootstrap.sh, with only the system PATH), so
the docs cannot drift from the tools.  A command that serves until stopped (a
local cloud, `iotlink run` without --seconds) passes when it is still running
after printing its ready line; it is then stopped like Ctrl-C."""

import glob
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from iotlink_tools import paths

DOCS = [os.path.join(paths.ROOT, "README.md")] + sorted(glob.glob(os.path.join(paths.ROOT, "docs", "*.md")))
SHELL = ("sh", "bash", "shell")
# Commands that cannot run here, each with the reason (matched as a substring of the command).
SKIP = {
    ".venv/bin/pytest": "the test suite itself: .ci/run runs this command",
    "mosquitto_sub -p PORT": "PORT is the one a running `iotlink run` prints",
    "mosquitto_pub -p PORT": "PORT is the one a running `iotlink run` prints",
    "mpremote connect /dev/tty": "needs a board on a serial port",
    "iotlink thingscloud ": "needs a ThingsCloud account",
    "openssl s_client -connect": "fetches a vendor's certificate chain (network)",
    "sensecap_threshold.py .sim/sensecap/config.json": "needs `iotlink sim sensecap` running in another terminal",
}
READY = re.compile(r"Ctrl-C to stop|^  quit$|round trips done")
COMMAND_START = re.compile(r"^(\./|\.venv/|iotlink |mpremote |micropython |python3? |mosquitto|openssl |MICROPYPATH=)")


def blocks():
    """(file, line number, info string, text) of every fenced block."""
    out = []
    for path in DOCS:
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            out.append((os.path.relpath(path, paths.ROOT), text[:m.start()].count("\n") + 2, m.group(1), m.group(2)))
    return out


def commands():
    out = []
    for rel, line, info, text in blocks():
        if info not in SHELL:
            continue
        for i, cmd in enumerate(re.sub(r"\\\n", " ", text).splitlines()):
            if cmd.strip():
                out.append(pytest.param(cmd.strip(), id="%s:%d" % (rel, line + i)))
    return out


def test_no_command_hides_in_an_unlabelled_block():
    for rel, line, info, text in blocks():
        if info in SHELL:
            continue
        for cmd in text.splitlines():
            assert not COMMAND_START.match(cmd), "%s:%d: put commands in a ```sh block: %s" % (rel, line, cmd)


def test_the_docs_have_commands():
    assert len(commands()) >= 10


@pytest.mark.parametrize("cmd", commands())
def test_documented_command_runs_as_written(cmd, tmp_path):
    reason = next((why for part, why in SKIP.items() if part in cmd), None)
    if reason:
        pytest.skip(reason)
    assert not re.search(r"<[\w .-]+>", cmd), "a <placeholder> in a command that is not skipped: " + cmd
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = subprocess.Popen(["bash", "-c", cmd], cwd=paths.ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines, ready = [], threading.Event()

    def pump():
        for line in p.stdout:
            lines.append(line.rstrip("\n"))
            if READY.search(line.rstrip("\n")):
                ready.set()
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    end = time.monotonic() + 300
    try:
        while p.poll() is None and not ready.is_set() and time.monotonic() < end:
            time.sleep(0.1)
        if ready.is_set() and p.poll() is None:
            time.sleep(1.0)
            assert p.poll() is None, "stopped right after its ready line:\n" + "\n".join(lines)
            os.killpg(p.pid, signal.SIGINT)   # Ctrl-C
            p.wait(20)
            return
        assert p.poll() is not None, "neither finished nor printed a ready line in 300 s:\n" + "\n".join(lines)
        t.join(5)
        assert p.returncode == 0, "exit %d:\n%s" % (p.returncode, "\n".join(lines))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
