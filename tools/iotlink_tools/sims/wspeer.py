"""The server's end of one WebSocket (RFC 6455) for the local clouds: the
upgrade answer, frames out, whole messages in; and the HTTP(S) door they are
reached through.  The 原子云 stand-in (its app connections) and the
local IoTDA (its tunnel ends) build on it; each says what a message, a
refusal and a close mean to it."""

import base64
import hashlib
import ssl
import struct
import threading
from http.server import ThreadingHTTPServer

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3


def accept_for(key):
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def switch_protocols(handler, accept):
    """Answer the upgrade request ``handler`` (a BaseHTTPRequestHandler) is
    serving with 101 and ``accept``; the connection is then the WebSocket's."""
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.end_headers()
    handler.wfile.flush()


class WsPeer:
    def __init__(self, sock, rfile, max_message):
        self.sock = sock
        self.rfile = rfile
        self.max_message = max_message
        self.lock = threading.Lock()
        self.alive = True
        self.silent = False     # tests: a dead link that stays open (nothing sent, pings unanswered)
        self.pings = 0
        self.pongs = 0
        self.close_code = None

    def send_frame(self, op, data=b"", fin=True):
        hdr = bytes((0x80 * bool(fin) | op,))
        n = len(data)
        if n < 126:
            hdr += bytes((n,))
        elif n < 65536:
            hdr += bytes((126,)) + struct.pack("!H", n)
        else:
            hdr += bytes((127,)) + struct.pack("!Q", n)
        self.send_raw(hdr + data)

    def send_raw(self, raw):
        with self.lock:
            if not self.alive or self.silent:
                return
            try:
                self.sock.sendall(raw)
            except OSError:
                self.alive = False

    def limit(self):
        """The largest message taken (close 1009 above it)."""
        return self.max_message

    def refuse(self, code):
        """A frame broke the protocol (1002) or was too big (1009)."""
        self.send_frame(8, struct.pack("!H", code))

    def closing(self, data):
        """The peer sent a close frame: answer it."""
        self.send_frame(8, data[:2])

    def _read(self, n):
        b = self.rfile.read(n)
        if len(b) < n:
            raise EOFError
        return b

    def messages(self):
        """Yield (opcode, bytes) of whole data messages until the link ends;
        pings are answered, a close frame recorded in close_code and answered."""
        frag, fop = None, 0
        try:
            while self.alive:
                b0, b1 = self._read(2)
                op, fin, n = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                if not b1 & 0x80:
                    self.refuse(1002)   # a client's frames are masked
                    return
                if n > self.limit() or (frag is not None and len(frag) + n > self.limit()):
                    self.refuse(1009)
                    return
                mask = self._read(4)
                data = bytes(c ^ mask[i & 3] for i, c in enumerate(self._read(n)))
                if op == 9:
                    self.pings += 1
                    self.send_frame(10, data)
                elif op == 10:
                    self.pongs += 1
                elif op == 8:
                    self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    self.closing(data)
                    return
                elif op in (1, 2) and frag is None:
                    if fin:
                        yield op, data
                    else:
                        frag, fop = bytearray(data), op
                elif op == 0 and frag is not None:
                    frag += data
                    if fin:
                        yield fop, bytes(frag)
                        frag = None
                else:
                    self.refuse(1002)
                    return
        except (EOFError, OSError, ValueError):
            return
        finally:
            self.alive = False


class HttpServer(ThreadingHTTPServer):
    """The HTTP(S) door of a local cloud: with ``tls`` (a certs.make_ca()
    dict) every connection is TLS, its handshake done in the connection's
    own thread (a client that stalls it holds no other).  ``owner``: the
    local cloud the handlers answer for (``self.server.owner``)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, owner, tls=None):
        self.owner = owner
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(tls["server"], tls["server_key"])
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx:
            sock.settimeout(10)
            sock = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.ctx:
            try:
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass
