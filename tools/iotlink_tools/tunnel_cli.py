"""``iotlink tunnel``: the user's end of an IoTDA secure tunnel, a console on
the board's REPL.

    iotlink tunnel --uri wss://HOST/v5/iot/tunnels/ID/source-connect --token TOKEN \\
        [--ca ca.pem] [--password P] [-c LINE ...]
    iotlink tunnel --demo [-c LINE ...]

``--demo`` runs it all here: a local IoTDA, firmware/examples/iotda_console.py
on the MicroPython unix port, and a tunnel to it.

Waits until the device is connected (``connect_tunnel``), sends ``connect``
(with the password), then each line as a ``command`` and prints its
``command_response``.  A line ending in ":" starts a block, sent when an
empty line follows.  Ctrl-C while a line runs sends "\\x03" (the board stops
the line); Ctrl-C at the prompt or end of input closes the tunnel.  ``-c``
runs the given lines and exits (``\\n`` in one starts a new line).  The token may also come from the
environment (IOTDA_TUNNEL_TOKEN), to keep it out of the shell history.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse
import uuid

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FRAME_MAX = 10 * 1024


class Closed(Exception):
    def __init__(self, code, why=""):
        super().__init__("tunnel closed (%s%s)" % (code, ": " + why if why else ""))
        self.code = code


class SourceEnd:
    """A WebSocket client for the user's end (CPython)."""

    def __init__(self, uri, token, ca=None, verify=True, timeout=10):
        u = urllib.parse.urlsplit(uri)
        if u.scheme not in ("wss", "ws"):
            raise ValueError("--uri must be a wss:// URL")
        port = u.port or (443 if u.scheme == "wss" else 80)
        raw = socket.create_connection((u.hostname, port), timeout)
        if u.scheme == "wss":
            ctx = ssl.create_default_context(cafile=ca) if verify else ssl._create_unverified_context()
            raw = ctx.wrap_socket(raw, server_hostname=u.hostname)
        self.sock = raw
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        raw.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\ntunnel_access_token: %s\r\n\r\n"
                     % (path, u.hostname, port, key, token)).encode())
        head = self._until(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or status[1] != b"101":
            raise OSError("tunnel refused: HTTP %s" % b" ".join(status[1:]).decode(errors="replace")[:60])
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        if want not in head:
            raise OSError("tunnel handshake: wrong Sec-WebSocket-Accept")

    def _until(self, end):
        while end not in self.buf:
            b = self.sock.recv(4096)
            if not b:
                raise Closed(1006, "connection lost")
            self.buf += b
            if len(self.buf) > 16384:
                raise OSError("answer head too long")
        head, _, self.buf = self.buf.partition(end)
        return head

    def _read(self, n):
        while len(self.buf) < n:
            b = self.sock.recv(65536)
            if not b:
                raise Closed(1006, "connection lost")
            self.buf += b
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self, op, data):
        n = len(data)
        hdr = bytes((0x80 | op,))
        if n < 126:
            hdr += bytes((0x80 | n,))
        elif n < 65536:
            hdr += bytes((0x80 | 126,)) + struct.pack("!H", n)
        else:
            hdr += bytes((0x80 | 127,)) + struct.pack("!Q", n)
        m = os.urandom(4)
        self.sock.sendall(hdr + m + bytes(b ^ m[i & 3] for i, b in enumerate(data)))

    def send(self, kind, data, rid=None):
        rid = rid or uuid.uuid4().hex
        self.frame(1, json.dumps({"operation_type": kind, "tunnel_service_type": "ssh",
                                  "request_id": rid, "data": data}).encode())
        return rid

    def recv(self, timeout):
        """The next tunnel message (a dict), or None after ``timeout`` s."""
        self.sock.settimeout(timeout)
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                data = self._read(n)
                op = b0 & 0x0F
                if op == 8:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    raise Closed(code)
                if op == 9:
                    self.frame(10, data)
                    continue
                if op in (1, 2):
                    try:
                        return json.loads(data)
                    except ValueError:
                        continue
        except (socket.timeout, TimeoutError):
            return None
        finally:
            self.sock.settimeout(None)

    def wait(self, kinds, rid=None, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(0.05, end - time.monotonic()))
            if m is None:
                continue
            if m.get("operation_type") == "disconnect":
                raise Closed(1000, "disconnect: %s" % json.dumps(m.get("data")))
            if m.get("operation_type") in kinds and (rid is None or m.get("request_id") == rid):
                return m
        raise TimeoutError("no %s within %d s" % ("/".join(kinds), timeout))

    def close(self):
        try:
            self.frame(8, struct.pack("!H", 1000))
            self.recv(1)
        except (OSError, Closed):
            pass
        self.sock.close()


def run_line(end, line, timeout=60, out=sys.stdout):
    """Send one line; print and return its output.  Ctrl-C sends "\\x03"."""
    rid = end.send("command", line)
    deadline = time.monotonic() + timeout
    while True:
        try:
            m = end.wait(("command_response",), None, max(0.1, deadline - time.monotonic()))
        except KeyboardInterrupt:
            end.send("command", "\x03")
            deadline = time.monotonic() + 10
            continue
        if m.get("request_id") != rid:
            continue   # the answer to a Ctrl-C
        text = m.get("data") if isinstance(m.get("data"), str) else json.dumps(m.get("data"))
        out.write(text)
        out.flush()
        return text


def _lines(src):
    """Whole REPL inputs from ``src`` lines: a block from a line ending in ":"
    to the next empty line."""
    block = []
    for raw in src:
        line = raw.rstrip("\n")
        if block:
            if line.strip():
                block.append(line)
                continue
            yield "\n".join(block)
            block = []
            continue
        if line.rstrip().endswith(":"):
            block = [line]
        elif line.strip():
            yield line
    if block:
        yield "\n".join(block)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="iotlink tunnel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uri", help="the tunnel's source-connect wss:// address")
    ap.add_argument("--demo", action="store_true",
                    help="a local IoTDA and the console example on the unix port, tunnel to it")
    ap.add_argument("--token", default=os.environ.get("IOTDA_TUNNEL_TOKEN"),
                    help="the user's tunnel_access_token (or IOTDA_TUNNEL_TOKEN)")
    ap.add_argument("--ca", help="CA file to verify the server (default: the system's)")
    ap.add_argument("--insecure", action="store_true", help="do not verify the server (testing only)")
    ap.add_argument("--password", default=os.environ.get("IOTDA_TUNNEL_PASSWORD", ""),
                    help="the board's console password, if it has one (or IOTDA_TUNNEL_PASSWORD)")
    ap.add_argument("-c", dest="lines", action="append", help="run this line and exit (repeatable)")
    ap.add_argument("--wait", type=float, default=30, help="seconds to wait for the device")
    args = ap.parse_args(argv)
    if args.demo:
        return demo(args)
    if not args.uri:
        ap.error("--uri is required (or --demo)")
    if not args.token:
        ap.error("--token (or IOTDA_TUNNEL_TOKEN) is required")
    return session(args)


def session(args, echo=False):
    try:
        end = SourceEnd(args.uri, args.token, args.ca, not args.insecure)
    except (OSError, ValueError, Closed) as e:
        print("iotlink tunnel: %s" % e, file=sys.stderr)
        return 1
    try:
        end.wait(("connect_tunnel",), None, args.wait)
        m = end.wait(("connect_response",), end.send("connect", {"username": "repl",
                                                                 "password": args.password}), 15)
        if m.get("data") != "success":
            print("iotlink tunnel: the board refused: %s" % m.get("data"), file=sys.stderr)
            return 1
        interactive = not args.lines and sys.stdin.isatty()
        if interactive:
            print("connected: Python lines run on the board; Ctrl-C stops a line, Ctrl-D leaves")
        src = args.lines if args.lines else _stdin(interactive)
        for line in ([x.replace("\\n", "\n") for x in args.lines] if args.lines else _lines(src)):
            if echo:
                print(">>> " + line.replace("\n", "\n... "), flush=True)
            run_line(end, line)
        return 0
    except (Closed, TimeoutError, OSError) as e:
        print("iotlink tunnel: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        end.close()


def demo(args):
    """A local IoTDA, the console example on the unix port, a tunnel to it."""
    import subprocess
    import tempfile
    from . import certs, paths, upy
    from .deps import fetch_umqtt
    from .sims.iotda import LocalIoTDA
    fetch_umqtt(quiet=True)
    work = tempfile.mkdtemp(prefix="iotlink-tunnel-")
    ca = certs.make_ca(os.path.join(work, "ca"))
    did, pw = "demo_product_console", "demo-console-pw"
    sim = LocalIoTDA({did: "demo-secret-0002"}, tls=ca).start()
    proc = None
    try:
        sim.start_https()
        cfg = sim.config(did, keepalive=60)
        cfg["app"] = {"console_password": pw, "run_seconds": 120}
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(cfg, f)
        env = upy.env(extra_path=(paths.FIRMWARE, os.path.join(paths.BOARDS, "unix")))
        proc = subprocess.Popen([upy.micropython_exe(), os.path.join(paths.FIRMWARE, "examples",
                                                                    "iotda_console.py"), "config.json"],
                                cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            print("board: " + line.rstrip(), flush=True)
            if line.startswith("console ready"):
                break
        else:
            print("iotlink tunnel: the board did not start", file=sys.stderr)
            return 1
        import threading
        threading.Thread(target=lambda: [print("board: " + x.rstrip(), flush=True) for x in proc.stdout],
                         daemon=True).start()
        t = sim.open_tunnel(did, 300)
        print("tunnel %s open: the user's end is %s" % (t.id, sim.https.tunnel_uri(t)), flush=True)
        args.uri, args.token, args.ca, args.insecure, args.password = \
            sim.https.tunnel_uri(t), t.source_token, ca["ca"], False, pw
        if not args.lines and not sys.stdin.isatty():
            args.lines = ["1+1", "def twice(x):\n    return 2 * x", "twice(21)", "dev.stats['connects']"]
        return session(args, echo=bool(args.lines))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        sim.stop()


def _stdin(interactive):
    while True:
        try:
            line = input(">>> ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and not line:
            return
        yield line if not interactive else line + "\n"


if __name__ == "__main__":
    sys.exit(main())
