"""`iotlink sim <cloud>` as a user runs it: help, --port, the printed "try:"
line, a clean stop on SIGINT/SIGTERM with the broker gone, one line for a busy
port, and serving on when stdin closes."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from iotlink_tools import broker, cli, paths

from .lines import Lines

# what each prints once it is serving
READY = {"mqtt": r"^Ctrl-C to stop", "iotda": r"^  quit", "thingscloud": r"^Ctrl-C to stop",
         "iotkit": r"^  quit", "sensecap": r"^  quit", "alientek": r"^Ctrl-C to stop"}
# the line that shows the port the device connects to
PORT_LINE = {"mqtt": r"on 127\.0\.0\.1:(\d+)", "iotda": r"mqtt://127\.0\.0\.1:(\d+)",
             "thingscloud": r"mqtt://127\.0\.0\.1:(\d+)", "iotkit": r"mqtt://127\.0\.0\.1:(\d+)",
             "sensecap": r"mqtt://127\.0\.0\.1:(\d+)", "alientek": r"REST https://127\.0\.0\.1:(\d+)"}


# the other fixed default ports: any free one here, so runs in parallel do not meet
OTHER_PORTS = {"iotda": ["--tls-port", "0"], "thingscloud": ["--tls-port", "0", "--http-port", "0"]}


def _sim(cloud, tmp_path, *args, stdin=subprocess.PIPE):
    """``iotlink sim CLOUD ARGS`` with a marker in its environment (inherited by its
    mosquitto) so the test can find every process it started."""
    mark = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=os.path.join(paths.ROOT, "tools"), IOTLINK_TEST_MARK=mark)
    extra = OTHER_PORTS.get(cloud, []) + ([] if cloud == "mqtt" else ["--dir", str(tmp_path / cloud)])
    p = subprocess.Popen([sys.executable, "-m", "iotlink_tools.cli", "sim", cloud] + list(args) + extra,
                         stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         bufsize=1, env=env, cwd=str(tmp_path))
    p.mark = mark
    return p


def _processes(mark):
    """Pids of live processes whose environment carries ``mark``."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if ("IOTLINK_TEST_MARK=" + mark).encode() in f.read().split(b"\0"):
                    with open("/proc/%s/stat" % pid) as g:
                        if g.read().split(")")[-1].split()[0] != "Z":
                            out.append(int(pid))
        except OSError:
            pass
    return out


def _stop(p):
    if p.poll() is None:
        p.kill()
        p.wait(5)
    for pid in _processes(p.mark):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("cloud", cli.SIMS)
def test_help_prints_and_exits(cloud, tmp_path):
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "sim", cloud, "--help"], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, PYTHONPATH=os.path.join(paths.ROOT, "tools")))
    assert r.returncode == 0 and r.stdout.startswith("usage: iotlink sim %s" % cloud), r
    assert "--port" in r.stdout and "--host" in r.stdout


def test_only_real_clouds_are_offered(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sim", "base"])
    err = capsys.readouterr().err
    assert "invalid choice: 'base'" in err and "common" not in err
    assert "(choose from %s)" % ", ".join(repr(s) for s in cli.SIMS) in err


@pytest.mark.parametrize("cloud,sig", [("mqtt", signal.SIGTERM), ("iotda", signal.SIGTERM),
                                       ("thingscloud", signal.SIGINT), ("iotkit", signal.SIGTERM),
                                       ("sensecap", signal.SIGINT), ("alientek", signal.SIGTERM)])
def test_port_is_honoured_and_a_signal_stops_it_with_its_broker(cloud, sig, tmp_path):
    port = broker.free_port()
    p = _sim(cloud, tmp_path, "--port", str(port), stdin=subprocess.DEVNULL)   # stdin closed from the start
    out = Lines(p)
    try:
        assert int(out.expect(PORT_LINE[cloud], timeout=30).group(1)) == port
        out.expect(READY[cloud], timeout=30)
        time.sleep(1.0)
        assert p.poll() is None, "stopped when stdin closed"
        assert broker.wait_port(port, timeout=5)
        children = [pid for pid in _processes(p.mark) if pid != p.pid]
        assert children or cloud == "alientek"   # every MQTT cloud runs a mosquitto
        p.send_signal(sig)
        assert p.wait(15) == 0
        time.sleep(0.2)
        assert _processes(p.mark) == [], "left running after %s" % sig.name
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
        assert "Traceback" not in p.stderr.read()
    finally:
        _stop(p)


@pytest.mark.parametrize("cloud", cli.SIMS)
def test_a_busy_port_is_one_line_and_leaves_nothing_running(cloud, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = _sim(cloud, tmp_path, "--port", str(port))
        try:
            _, err = p.communicate(timeout=30)
            assert p.returncode == 2
            assert err.splitlines() == ["iotlink sim %s: port %d on 127.0.0.1 is in use "
                                        "(pick another, or 0 for any free port)" % (cloud, port)]
            assert _processes(p.mark) == []
        finally:
            _stop(p)


def test_thingscloud_try_line_works_as_printed(tmp_path):
    p = _sim("thingscloud", tmp_path, "--port", "0")
    out = Lines(p)
    try:
        line = out.expect(r"^try: (.*)$", timeout=30).group(1)
        out.expect(READY["thingscloud"])
        words = line.split()
        assert words[0] == ".venv/bin/iotlink"
        r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli"] + words[1:], capture_output=True, text=True,
                           timeout=60, cwd=str(tmp_path),
                           env=dict(os.environ, PYTHONPATH=os.path.join(paths.ROOT, "tools")))
        assert r.returncode == 0, r.stderr
        assert re.search(r"device\(s\)", r.stdout), r.stdout
    finally:
        _stop(p)


def test_mqtt_try_line_works_as_printed(tmp_path):
    p = _sim("mqtt", tmp_path, "--port", "0")
    out = Lines(p)
    sub = None
    try:
        line = out.expect(r"^try: (.*)$", timeout=30).group(1)
        port = int(re.search(r"-p (\d+)", line).group(1))
        out.expect(READY["mqtt"])
        sub = subprocess.Popen(["bash", "-c", line], stdout=subprocess.PIPE, text=True, start_new_session=True,
                               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        seen = Lines(sub)
        time.sleep(1.0)   # subscribed
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "iotlink/b1/up/report", "-m", '{"t": 1}'],
                       check=True, timeout=10, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        seen.expect(r'^iotlink/b1/up/report \{"t": 1\}$', timeout=10)
        out.expect(r'cloud <- iotlink/b1/up/report \{"t": 1\}', timeout=10)
    finally:
        if sub and sub.poll() is None:
            os.killpg(sub.pid, signal.SIGKILL)
            sub.wait()
        _stop(p)
