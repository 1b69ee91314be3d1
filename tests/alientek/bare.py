"""A bare WebSocket server for the client tests: each accepted connection
runs the next scripted scenario (a function of a Peer)."""

import base64
import hashlib
import socket
import struct
import threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
    def __init__(self, sock):
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.path = None

    def handshake(self, accept=None, status="101 Switching Protocols"):
        head = []
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b""):
                break
            head.append(line.decode().strip())
        self.path = head[0].split(" ")[1]
        hdr = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        self.headers = hdr
        key = hdr["sec-websocket-key"].encode()
        acc = accept or base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if not status.startswith("101"):
            self.sock.sendall(("HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n" % status).encode())
            return
        self.sock.sendall(("HTTP/1.1 %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\n\r\n" % (status, acc)).encode())

    def frame(self, op, data=b"", fin=True, rsv=0, mask=None, length=None):
        n = len(data) if length is None else length
        b0 = (0x80 if fin else 0) | rsv | op
        m = 0x80 if mask else 0
        if n < 126:
            hdr = bytes((b0, m | n))
        elif n < 65536:
            hdr = bytes((b0, m | 126)) + struct.pack("!H", n)
        else:
            hdr = bytes((b0, m | 127)) + struct.pack("!Q", n)
        if mask:
            hdr += mask
            data = bytes(c ^ mask[i & 3] for i, c in enumerate(data))
        self.sock.sendall(hdr + data)

    def read(self):
        """(opcode, fin, unmasked payload, was_masked) of the client's next frame."""
        h = self.rfile.read(2)
        if len(h) < 2:
            raise EOFError
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.rfile.read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.rfile.read(8))[0]
        masked = bool(h[1] & 0x80)
        mask = self.rfile.read(4) if masked else b"\0\0\0\0"
        data = self.rfile.read(n)
        return h[0] & 0x0F, bool(h[0] & 0x80), bytes(c ^ mask[i & 3] for i, c in enumerate(data)), masked

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class BareServer:
    def __init__(self, scenarios):
        self.scenarios = list(scenarios)
        self.results = {}
        self.errors = []
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for fn in self.scenarios:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            s.settimeout(20)
            p = Peer(s)
            try:
                self.results[fn.__name__] = fn(p)
            except Exception as e:  # reported by the test
                self.errors.append("%s: %r" % (fn.__name__, e))
            finally:
                p.close()

    def stop(self):
        self.srv.close()
        self.t.join(5)
