"""The secure tunnel to a remote REPL, on the MicroPython unix port: the
local IoTDA announces the tunnel over MQTT, the board opens the WebSocket,
and the user's end (``iotlink tunnel``'s client) runs lines on the board."""

import json
import subprocess
import sys
import time

import pytest

from iotlink_tools.tunnel_cli import Closed, SourceEnd, run_line

from .conftest import Lines, device_config, script

BODY = r"""
from iotlink.drivers import iotda_tunnel
reports = []
tun = iotda_tunnel.Tunnel(dev, password="console-pw-1", on_event=lambda r: print("APPEVENT", r.name))
@dev.command
def cmd(req):
    if req.name == "exit":
        stop.append(1)
    if req.name == "heap":
        import gc
        gc.collect()
        return {"alive": True, "heap": gc.mem_alloc()}
    return {"alive": True}
print("TUNNEL READY")
end = time.ticks_add(time.ticks_ms(), 60000)
n = 0
while time.ticks_diff(end, time.ticks_ms()) > 0 and not stop:
    dev.poll(20)
    tun.poll(20)
    n += 1
    if n % 25 == 0:
        dev.report({"beat": n})
print("TSTATS", json.dumps(tun.stats))
"""


class Board:
    def __init__(self, iotda, test_ca, upy_run, did):
        iotda.add_device(did, "tunnel-secret-1")
        self.api = iotda.start_https()
        self.did = did
        cfg = device_config(iotda, did, test_ca["ca_der"])
        self.out = Lines(upy_run.start(script(cfg, BODY, seconds=80)))
        self.out.expect(r"^TUNNEL READY")
        self.ca = test_ca["ca"]

    def source(self, t, token=None):
        return SourceEnd(self.api.tunnel_uri(t), token or t.source_token, self.ca)


def _connect(end, password="console-pw-1"):
    end.wait(("connect_tunnel",), None, 20)
    rid = end.send("connect", {"username": "repl", "password": password})
    return end.wait(("connect_response",), rid, 10)["data"]


def test_remote_repl_session(iotda, test_ca, upy_run):
    b = Board(iotda, test_ca, upy_run, "dev_tunnel")
    heap0 = iotda.send_command(b.did, "s", "heap", {}, timeout=10)["paras"]["heap"]
    t = iotda.open_tunnel(b.did, ttl=120)
    end = b.source(t)
    assert _connect(end, "wrong") == "failed: wrong password"
    rid = end.send("command", "1+1")
    assert end.wait(("command_response",), rid, 10)["data"] == "error: connect with the password first"
    assert _connect_again(end) == "success"
    assert run_line(end, "1+1", out=_Null()) == "2\n"
    assert run_line(end, "def twice(x):\n    print('twice of', x)\n    return 2 * x", out=_Null()) == ""
    assert run_line(end, "twice(21)", out=_Null()) == "twice of 21\n42\n"
    assert run_line(end, "1/0", out=_Null()) == "ZeroDivisionError: divide by zero\n"
    heap1 = iotda.send_command(b.did, "s", "heap", {}, timeout=10)["paras"]["heap"]
    print("heap held by an open tunnel with its REPL, with the modules it loaded (unix port, "
          "compiled from .py): %d B" % (heap1 - heap0))
    # a line that runs forever, stopped by Ctrl-C from the user's end; the MQTT
    # session answers commands meanwhile
    rid = end.send("command", "n = 0\nwhile True:\n    n += 1\n    sleep(0.05)")
    time.sleep(0.5)
    assert iotda.send_command(b.did, "s", "ping", {}, timeout=10)["paras"] == {"alive": True}
    end.send("command", "\x03")
    got = end.wait(("command_response",), rid, 10)
    assert got["data"] == "KeyboardInterrupt\n"
    assert int(run_line(end, "n", out=_Null())) > 5
    # output beyond one frame is cut, never sent over 10 KB
    big = run_line(end, "for i in range(3000): print('line', i)", out=_Null())
    assert big.endswith("[output cut]\n") and len(big) < 10240
    assert all(len(r[2]) <= 10240 for r in t.relayed)
    end.close()
    iotda.https.close_tunnel(t.id)
    b.out.expect(r"tunnel closed")
    # the board's main session is still up, other events reach the app's handler
    iotda.send_event(b.did, "$mystery", "odd", {})
    b.out.expect(r"^APPEVENT odd")
    # the user's end as a user runs it: the line `iotlink sim iotda`'s "tunnel" command prints
    from iotlink_tools.sims.iotda import _cli_line
    said = _cli_line(iotda, "tunnel %s 60" % b.did)
    cmd = said.splitlines()[-1].split()
    assert cmd[0] == ".venv/bin/iotlink" and cmd[1:3] == ["tunnel", "--uri"]
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli"] + cmd[1:] +
                       ["--password", "console-pw-1", "-c", "1+1", "-c", "def g():\\n    return 'hi'",
                        "-c", "g()"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "2\n'hi'\n"
    iotda.https.close_tunnel(said.split()[1])   # the user left; the platform ends the tunnel
    b.out.expect(r"tunnel closed")
    assert iotda.send_command(b.did, "s", "exit", {}, timeout=10)["paras"] == {"alive": True}
    stats = json.loads(b.out.expect(r"^TSTATS ").string.split(" ", 1)[1])
    assert stats["opened"] == 2 and stats["interrupts"] == 1 and stats["closed"] == 2
    assert "console-pw-1" not in "\n".join(b.out.all) and t.device_token not in "\n".join(b.out.all)


class _Null:
    def write(self, s):
        pass

    def flush(self):
        pass


def _connect_again(end):
    rid = end.send("connect", {"username": "repl", "password": "console-pw-1"})
    return end.wait(("connect_response",), rid, 10)["data"]


def _wait(cond, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_bad_tunnels_never_hurt_the_session(iotda, test_ca, upy_run):
    b = Board(iotda, test_ca, upy_run, "dev_tunnel_bad")
    api = b.api
    # a notice without a token, and one with a wrong token
    iotda.send_event(b.did, "$tunnel_manager", "tunnel_notify", {"tunnel_uri": "wss://x/y"})
    b.out.expect(r"tunnel: tunnel_notify: tunnel_access_token must be 1..256 characters")
    t = api.open_tunnel(b.did, 60, notify=False)
    iotda.send_event(b.did, "$tunnel_manager", "tunnel_notify", {
        "tunnel_uri": api.tunnel_uri(t, "device"), "tunnel_access_token": "forged-token-123",
        "expires_in": 60})
    line = b.out.expect(r"tunnel not opened").string
    assert "HTTP 401" in line and "forged-token-123" not in line
    # the user's end with a wrong token is refused too
    with pytest.raises(OSError, match="HTTP 401"):
        b.source(t, "wrong-source-token")

    # closed mid-line: the running line is stopped, the loop goes on
    t = iotda.open_tunnel(b.did, ttl=60)
    end = b.source(t)
    assert _connect(end) == "success"
    end.send("command", "while True:\n    sleep(0.05)")
    time.sleep(0.5)
    api.close_tunnel(t.id)
    b.out.expect(r"tunnel closed")
    assert iotda.send_command(b.did, "s", "ping", {}, timeout=10)["paras"] == {"alive": True}

    # a frame over 10 KB to the board: refused (close 1009), the tunnel closes
    t = iotda.open_tunnel(b.did, ttl=60)
    end = b.source(t)
    assert _connect(end) == "success"
    end.frame(1, b"not json at all")          # ignored, counted
    assert run_line(end, "2+3", out=_Null()) == "5\n"
    assert _wait(lambda: t.ends["device"] is not None)
    t.ends["device"].frame(2, b"x" * 11000)
    assert "1009" in b.out.expect(r"tunnel closed").string
    end.close()

    # the user's end sending over 10 KB is refused by the platform
    t = iotda.open_tunnel(b.did, ttl=60)
    end = b.source(t)
    assert _connect(end) == "success"
    end.frame(1, b"y" * 11000)
    with pytest.raises(Closed) as e:
        end.wait(("command_response",), None, 5)
    assert e.value.code == 1009
    api.close_tunnel(t.id)
    b.out.expect(r"tunnel closed")

    # expiry: the platform closes both ends, the board closes its end too
    t = iotda.open_tunnel(b.did, ttl=2)
    end = b.source(t)
    assert _connect(end) == "success"
    with pytest.raises(Closed, match="expired"):
        end.wait(("command_response",), None, 10)
    b.out.expect(r"tunnel closed")
    assert iotda.send_command(b.did, "s", "exit", {}, timeout=10)["paras"] == {"alive": True}
    stats = json.loads(b.out.expect(r"^TSTATS ").string.split(" ", 1)[1])
    assert stats["refused"] == 1 and stats["bad_input"] >= 2 and stats["opened"] == 4
    assert json.loads(b.out.expect(r"^STATS ").string.split(" ", 1)[1])["reconnects"] == 0


def _req(service, name, params):
    from iotlink.request import Request, EVENT
    return Request(EVENT, name, params, service)


@pytest.mark.parametrize("paras,error", [
    ({"tunnel_uri": "wss://h/v5/iot/tunnels/t/device-connect", "tunnel_access_token": "t" * 256,
      "expires_in": 60}, None),
    ({"tunnel_uri": "ws://h/x", "tunnel_access_token": "t", "expires_in": 60}, "wss://"),
    ({"tunnel_uri": "wss://h/x", "tunnel_access_token": "t" * 257, "expires_in": 60}, "1..256"),
    ({"tunnel_uri": "wss://h/x", "tunnel_access_token": "t", "expires_in": True}, "positive"),
    ({"tunnel_uri": "wss://h/x", "tunnel_access_token": "t", "expires_in": 0}, "positive"),
    (None, "wss://"),
])
def test_tunnel_notify_checked(paras, error):
    from iotlink.clouds import iotda_tunnel as tp
    req = _req("$tunnel_manager", "tunnel_notify", paras)
    if error is None:
        assert tp.notice(req) == (paras["tunnel_uri"], paras["tunnel_access_token"], 60)
    else:
        with pytest.raises(ValueError, match=error.replace(".", r"\.").replace("/", "/")):
            tp.notice(req)
    assert tp.notice(_req("$ota", "tunnel_notify", paras)) is None


def test_tunnel_messages_fit_one_frame():
    from iotlink.clouds import iotda_tunnel as tp
    m = tp.fitted("command_response", "r1", "\x01" * 4000)   # 6 bytes each once escaped
    assert len(m) <= 10240 and json.loads(m)["data"].endswith("[output cut to fit the 10 KB frame]\n")
    assert json.loads(tp.fitted("command_response", "r1", "ok"))["data"] == "ok"
    assert tp.parse(b'{"operation_type":"command","request_id":"7","data":"1+1"}') == ("command", "7", "1+1")
    for bad in (b"\xff", b"[1]", b'{"data": 1}', b"not json"):
        with pytest.raises(ValueError):
            tp.parse(bad)


def test_console_input_blocks():
    from iotlink_tools.tunnel_cli import _lines
    src = ["1+1\n", "def f(x):\n", "    y = x\n", "    return y\n", "\n", "\n", "f(2)\n", "for i in (1,):\n",
           "    print(i)\n"]
    assert list(_lines(src)) == ["1+1", "def f(x):\n    y = x\n    return y", "f(2)",
                                 "for i in (1,):\n    print(i)"]
