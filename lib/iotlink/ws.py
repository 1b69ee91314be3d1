"""A small RFC 6455 WebSocket client over a plain or TLS socket.

    w = ws.connect("wss://host/path?x=1", ca="ca.der", max_size=4096)
    w.send(b"\\x01...")            # one binary message
    if w.ready(100):
        msg = w.recv()            # (opcode, bytes) for a whole message, or None
    w.close()

What it does: the handshake with a Sec-WebSocket-Accept check, client masking,
binary and text messages, fragmented messages reassembled up to ``max_size``,
pings answered with pongs, the close handshake.  A frame or message above
``max_size`` is refused with close 1009 before its payload is read, so a peer
can never make it allocate more.  Every blocking step has the socket timeout.
A protocol violation or a close from the peer raises ``Closed`` (an OSError
with ``code`` and ``reason``).  Text messages are returned as bytes once
checked to be UTF-8 (not: close 1007).
"""

import time
from micropython import const

from . import tls

TEXT = const(1)
BINARY = const(2)
CLOSE = const(8)
PING = const(9)
PONG = const(10)
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HEAD_MAX = const(4096)


class Closed(OSError):
    """The WebSocket is closed: by the peer (its code) or by us after a
    protocol error (1002), text that is not UTF-8 (1007) or an oversize
    message (1009)."""

    def __init__(self, code, reason=""):
        super().__init__("websocket closed (%d%s)" % (code, ": " + reason if reason else ""))
        self.code = code
        self.reason = reason


def _rand(n):
    try:
        import os
        return os.urandom(n)
    except Exception:
        import random
        return bytes(random.getrandbits(8) for _ in range(n))


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (both base64 bytes)."""
    import hashlib
    from binascii import b2a_base64
    return b2a_base64(hashlib.sha1(key + _GUID).digest()).strip()


def parse_url(url):
    """(tls, host, port, path) of a ws:// or wss:// URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("ws", "wss") or not rest:
        raise ValueError("url must start with ws:// or wss://")
    on = scheme == "wss"
    hostport, slash, path = rest.partition("/")
    q = hostport.find("?")
    if q >= 0:
        hostport, path, slash = hostport[:q], hostport[q:], "/"
    host, _, port = hostport.partition(":")
    if not host:
        raise ValueError("url has no host")
    return on, host, int(port) if port else (443 if on else 80), slash + path if slash else "/"


class WebSocket:
    def __init__(self, stream, max_size=4096):
        import select
        self.s = stream
        self.max_size = max_size
        self._frag = None
        self._fop = 0
        self._closing = False
        self.closed = False
        self.pongs = 0
        self.rx = self.tx = time.ticks_ms()
        self._poll = select.poll()
        self._poll.register(stream.sock, select.POLLIN)

    # ----- sending ---------------------------------------------------------

    def send(self, data, binary=True):
        """One unfragmented message (bytes or str)."""
        if isinstance(data, str):
            data = data.encode()
        self._send(BINARY if binary else TEXT, data)

    def ping(self, data=b""):
        self._send(PING, data)

    def _send(self, op, data):
        if self.closed:
            raise Closed(1006, "not open")
        n = len(data)
        h = bytearray(14)
        h[0] = 0x80 | op
        if n < 126:
            h[1] = 0x80 | n
            i = 2
        elif n < 65536:
            h[1] = 0x80 | 126
            h[2] = n >> 8
            h[3] = n & 0xFF
            i = 4
        else:
            h[1] = 0x80 | 127
            for k in range(8):
                h[2 + k] = (n >> (56 - 8 * k)) & 0xFF
            i = 10
        m = _rand(4)
        h[i:i + 4] = m
        body = bytearray(data)
        for k in range(n):
            body[k] ^= m[k & 3]
        self.s.write(bytes(h[:i + 4]) + body)
        self.tx = time.ticks_ms()

    # ----- receiving -------------------------------------------------------

    def ready(self, timeout_ms=0):
        """True when a frame (or EOF) is waiting."""
        if self.closed:
            return False
        if self.s.pending():
            return True
        return bool(self._poll.poll(max(0, timeout_ms)))

    def recv(self):
        """Read one frame.  Returns (opcode, bytes) when it completes a data
        message, None after a control frame or a non-final fragment."""
        s = self.s
        h = s.read(2)
        b0, b1 = h[0], h[1]
        op = b0 & 0x0F
        fin = b0 & 0x80
        self.rx = time.ticks_ms()
        if b0 & 0x70:
            self._fail(1002, "reserved bits set")
        if b1 & 0x80:
            self._fail(1002, "masked frame from the server")
        n = b1 & 0x7F
        if n == 126:
            e = s.read(2)
            n = e[0] << 8 | e[1]
        elif n == 127:
            n = 0
            for b in s.read(8):
                n = n << 8 | b
        if op >= 8:
            if n > 125 or not fin:
                self._fail(1002, "bad control frame")
            data = s.read(n) if n else b""
            if op == PING:
                self._send(PONG, data)
            elif op == PONG:
                self.pongs += 1
            elif op == CLOSE:
                self._peer_closed(data)
            else:
                self._fail(1002, "unknown opcode %d" % op)
            return None
        if op == 0:
            if self._frag is None:
                self._fail(1002, "continuation without a start")
            have = len(self._frag)
        elif op in (TEXT, BINARY):
            if self._frag is not None:
                self._fail(1002, "new message inside a fragmented one")
            have = 0
        else:
            self._fail(1002, "unknown opcode %d" % op)
        if n + have > self.max_size:
            self._fail(1009, "message over %d bytes" % self.max_size)
        data = s.read(n) if n else b""
        if self._frag is not None:
            self._frag += data
            if not fin:
                return None
            op, data = self._fop, bytes(self._frag)
            self._frag = None
        elif not fin:
            self._frag = bytearray(data)
            self._fop = op
            return None
        if op == TEXT:
            from .utf8 import valid  # text is rare here: loaded on the first one
            if not valid(data):
                self._fail(1007, "text is not UTF-8")
        return op, data

    def _peer_closed(self, data):
        code = data[0] << 8 | data[1] if len(data) >= 2 else 1005
        try:
            reason = bytes(data[2:]).decode()
        except Exception:
            reason = ""
        if not self._closing:
            try:
                self._send(CLOSE, data[:2])
            except Exception:
                pass
        self._shut()
        raise Closed(code, reason)

    def _fail(self, code, why):
        try:
            self._send(CLOSE, bytes((code >> 8, code & 0xFF)))
        except Exception:
            pass
        self._shut()
        raise Closed(code, why)

    def _shut(self):
        self.closed = True
        self._frag = None
        self.s.close()

    def close(self, code=1000, wait_frames=8):
        """Close handshake: send close, read (and drop) up to ``wait_frames``
        frames until the peer's close, then close the socket."""
        if self.closed:
            return
        try:
            self._send(CLOSE, bytes((code >> 8, code & 0xFF)))
            self._closing = True
            for _ in range(wait_frames):
                if not self.ready(1000):
                    break
                self.recv()
        except Exception:
            pass
        self._shut()


def connect(url, ca=None, verify=True, timeout_ms=10000, max_size=4096, headers=None, ctx=None):
    """Open a WebSocket.  OSError texts name host:port, never the path (it may
    carry a token)."""
    on, host, port, path = parse_url(url)
    sock = tls.connect(host, port, on, ca, verify, timeout_ms, ctx)
    st = tls.Stream(sock)
    try:
        from binascii import b2a_base64
        key = b2a_base64(_rand(16)).strip()
        hp = host if port == (443 if on else 80) else "%s:%d" % (host, port)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n") % (path, hp, key.decode())
        for k in headers or ():
            req += "%s: %s\r\n" % (k, headers[k])
        st.write((req + "\r\n").encode())
        head = bytearray()
        while not head.endswith(b"\r\n\r\n"):
            if len(head) >= _HEAD_MAX:
                raise OSError("websocket handshake with %s:%d: answer head too long" % (host, port))
            head += st.read(1)
        lines = bytes(head).decode().split("\r\n")
        status = lines[0].split(" ")
        if len(status) < 2 or status[1] != "101":
            raise OSError("websocket handshake with %s:%d refused: HTTP %s"
                          % (host, port, " ".join(status[1:])[:40]))
        hdr = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdr[k.strip().lower()] = v.strip()
        if hdr.get("upgrade", "").lower() != "websocket" or \
                "upgrade" not in hdr.get("connection", "").lower():
            raise OSError("websocket handshake with %s:%d: no upgrade" % (host, port))
        if hdr.get("sec-websocket-accept", "").encode() != accept_key(key):
            raise OSError("websocket handshake with %s:%d: wrong Sec-WebSocket-Accept" % (host, port))
    except Exception:
        st.close()
        raise
    return WebSocket(st, max_size)
