"""An MQTT front door for local clouds: checks what a real cloud checks, then
hands the byte stream to mosquitto.

It listens on loopback (plain and, given a server certificate, TLS), reads the
client's CONNECT and asks ``check(info)`` for a CONNACK code.  A refusal is
answered here (CONNACK with that code, then close), as a cloud does; an accepted
client is connected to the broker and every packet is relayed.  On the way in,
SUBSCRIBE filters and PUBLISH topics are checked with ``acl(info, topic, action)``
(action "sub" or "pub"):

* a refused filter gets 0x80 in its SUBACK slot; allowed filters of the same
  SUBSCRIBE are still subscribed (the packet is rewritten, the SUBACK merged);
* a refused PUBLISH is dropped and the connection closed: what a cloud that
  enforces topic rights does (the client sees a dead link, never a PUBACK);
* QoS 2 publishes close the connection too; the retain flag is cleared
  (clouds of this kind do not keep retained messages).

``check`` may set ``info["key"]`` (e.g. the device id): a newer accepted
connection with the same key closes the older one (one live link per device).

``rewrite(info, topic, way)`` (optional) maps topics between what the device
sees and what the broker carries, for clouds whose devices use the same
relative topics (no device id in them): way "pub" for the device's PUBLISH,
"sub" for its SUBSCRIBE / UNSUBSCRIBE filters (after the ACL, which sees the
device's own topics), "down" for a PUBLISH from the broker to the device.

One thread per connection, one ``select`` loop over both sockets, so a TLS
socket is never used from two threads.
"""

import select
import socket
import ssl
import struct
import threading

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK, UNSUBSCRIBE = 1, 2, 3, 8, 9, 10
# MQTT 5 reason codes for the 3.1.1 refusal codes
_V5 = {1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def take(buf):
    """(packet, rest) for the first whole packet in ``buf``, or None."""
    n, mult, i = 0, 1, 1
    while True:
        if i >= len(buf):
            return None
        b = buf[i]
        n += (b & 0x7F) * mult
        mult <<= 7
        i += 1
        if not b & 0x80:
            break
        if i > 4:
            raise ValueError("bad remaining length")
    if len(buf) < i + n:
        return None
    return bytes(buf[:i + n]), buf[i + n:]


def body_of(pkt):
    i = 1
    while pkt[i] & 0x80:
        i += 1
    return pkt[i + 1:]


def _str(b, i):
    n = struct.unpack_from("!H", b, i)[0]
    return bytes(b[i + 2:i + 2 + n]), i + 2 + n


def _skip_props(b, i):
    n, mult = 0, 1
    while True:
        c = b[i]
        i += 1
        n += (c & 0x7F) * mult
        mult <<= 7
        if not c & 0x80:
            return i + n


def parse_connect(pkt):
    """The CONNECT fields a cloud checks, as a dict (bytes for binary fields)."""
    b = body_of(pkt)
    proto, i = _str(b, 0)
    level, flags = b[i], b[i + 1]
    keepalive = struct.unpack_from("!H", b, i + 2)[0]
    i += 4
    if level == 5:
        i = _skip_props(b, i)
    cid, i = _str(b, i)
    info = {"protocol": proto.decode(errors="replace"), "level": level,
            "clean": bool(flags & 2), "keepalive": keepalive, "will": bool(flags & 4),
            "client_id": cid.decode(errors="replace"), "username": None, "password": None}
    if flags & 4:
        if level == 5:
            i = _skip_props(b, i)
        _, i = _str(b, i)
        _, i = _str(b, i)
    if flags & 0x80:
        u, i = _str(b, i)
        info["username"] = u.decode(errors="replace")
    if flags & 0x40:
        info["password"], i = _str(b, i)
    return info


def connack(code, level=4):
    if level == 5:
        return bytes((0x20, 3, 0, _V5.get(code, 0x80), 0))
    return bytes((0x20, 2, 0, code))


def publish_topic(pkt):
    b = body_of(pkt)
    t, _ = _str(b, 0)
    return t


def parse_subscribe(pkt, level=4):
    """(packet id, [(filter bytes, options byte)])."""
    b = body_of(pkt)
    pid = struct.unpack_from("!H", b, 0)[0]
    i = 2
    if level == 5:
        i = _skip_props(b, i)
    out = []
    while i < len(b):
        t, i = _str(b, i)
        out.append((t, b[i]))
        i += 1
    return pid, out


def retopic(pkt, topic):
    """The PUBLISH ``pkt`` with its topic replaced (flags, id, payload kept)."""
    b = body_of(pkt)
    n = struct.unpack_from("!H", b, 0)[0]
    body = struct.pack("!H", len(topic)) + topic + bytes(b[2 + n:])
    return bytes((pkt[0],)) + varint(len(body)) + body


def _props_raw(b, i, level):
    return bytes(b[i:_skip_props(b, i)]) if level == 5 else b""


def parse_unsubscribe(pkt, level=4):
    """(packet id, [filter bytes])."""
    b = body_of(pkt)
    pid = struct.unpack_from("!H", b, 0)[0]
    i = _skip_props(b, 2) if level == 5 else 2
    out = []
    while i < len(b):
        t, i = _str(b, i)
        out.append(t)
    return pid, out


def build_unsubscribe(pid, filters, props=b""):
    body = struct.pack("!H", pid) + props
    for t in filters:
        body += struct.pack("!H", len(t)) + t
    return b"\xa2" + varint(len(body)) + body


def build_subscribe(pid, filters, props=b""):
    body = struct.pack("!H", pid) + props
    for t, opt in filters:
        body += struct.pack("!H", len(t)) + t + bytes((opt,))
    return b"\x82" + varint(len(body)) + body


class _Conn:
    def __init__(self, front, sock, tls):
        self.front = front
        self.client = sock
        self.tls = tls
        self.broker = None
        self.info = None
        self.closing = False
        self.pending = {}  # SUBSCRIBE pid -> list of allowed flags

    def close(self):
        self.closing = True

    def run(self):
        try:
            self._run()
        except (OSError, ValueError, IndexError, struct.error):
            pass
        finally:
            for s in (self.client, self.broker):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            self.front._gone(self)

    def _recv(self, s):
        data = s.recv(65536)
        if not data:
            raise OSError("closed")
        return data

    def _run(self):
        front = self.front
        c = self.client
        c.settimeout(10)
        if self.tls:
            c = self.client = front.ctx.wrap_socket(c, server_side=True)
        buf = b""
        while True:
            got = take(buf)
            if got:
                break
            buf += self._recv(c)
        pkt, buf = got
        if pkt[0] >> 4 != CONNECT:
            return
        info = parse_connect(pkt)
        info["tls"] = self.tls
        self.info = info
        code = front.check(info)
        front.connects.append((info, code))
        if code:
            c.sendall(connack(code, info["level"]))
            return
        self.broker = b = socket.create_connection(("127.0.0.1", front.upstream), timeout=10)
        for sock in (c, b):
            # whole packets go out one by one: without this a small packet
            # waits for the peer's delayed ACK of the previous one (~40 ms)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        front._accepted(self)
        b.sendall(pkt)
        c.settimeout(30)
        b.settimeout(30)
        up, down = buf, b""
        while not self.closing:
            while True:
                got = take(up)
                if not got:
                    break
                pkt, up = got
                if not self._from_client(pkt):
                    return
            ready = [c] if self.tls and c.pending() else \
                select.select([c, b], [], [], 0.5)[0]
            for s in ready:
                if s is c:
                    up += self._recv(c)
                else:
                    down += self._recv(b)
                    while True:
                        got = take(down)
                        if not got:
                            break
                        pkt, down = got
                        c.sendall(self._from_broker(pkt))

    def _from_client(self, pkt):
        """Relay one client packet; False closes the connection."""
        kind = pkt[0] >> 4
        acl = self.front.acl
        rw = self.front.rewrite
        if kind == PUBLISH:
            if (pkt[0] >> 1) & 3 == 3:
                return False
            raw = publish_topic(pkt)
            topic = raw.decode(errors="replace")
            if acl and not acl(self.info, topic, "pub"):
                self.front.refused.append((self.info, topic, "pub"))
                return False
            if pkt[0] & 1:
                pkt = bytes((pkt[0] & 0xFE,)) + pkt[1:]
            if rw:
                pkt = retopic(pkt, rw(self.info, raw, "pub"))
        elif kind == UNSUBSCRIBE and rw:
            level = self.info["level"]
            pid, filters = parse_unsubscribe(pkt, level)
            pkt = build_unsubscribe(pid, [rw(self.info, t, "sub") for t in filters],
                                    _props_raw(body_of(pkt), 2, level))
        elif kind == SUBSCRIBE and rw and not acl:
            level = self.info["level"]
            pid, filters = parse_subscribe(pkt, level)
            pkt = build_subscribe(pid, [(rw(self.info, t, "sub"), o) for t, o in filters],
                                  _props_raw(body_of(pkt), 2, level))
        elif kind == SUBSCRIBE and acl:
            pid, filters = parse_subscribe(pkt, self.info["level"])
            ok = [acl(self.info, t.decode(errors="replace"), "sub") for t, _ in filters]
            for (t, _), good in zip(filters, ok):
                if not good:
                    self.front.refused.append((self.info, t.decode(errors="replace"), "sub"))
            if not all(ok):
                if not any(ok):
                    self.client.sendall(b"\x90" + varint(2 + len(ok)) + struct.pack("!H", pid)
                                        + b"\x80" * len(ok))
                    return True
                self.pending[pid] = ok
                filters = [f for f, good in zip(filters, ok) if good]
                if not rw:
                    pkt = build_subscribe(pid, filters)
            if rw:
                level = self.info["level"]
                pkt = build_subscribe(pid, [(rw(self.info, t, "sub"), o) for t, o in filters],
                                      _props_raw(body_of(pkt), 2, level))
        self.broker.sendall(pkt)
        return True

    def _from_broker(self, pkt):
        rw = self.front.rewrite
        if rw and pkt[0] >> 4 == PUBLISH:
            return retopic(pkt, rw(self.info, publish_topic(pkt), "down"))
        if pkt[0] >> 4 == SUBACK and self.pending:
            b = body_of(pkt)
            pid = struct.unpack_from("!H", b, 0)[0]
            ok = self.pending.pop(pid, None)
            if ok is not None:
                codes = iter(b[2:])
                out = bytes(next(codes, 0x80) if good else 0x80 for good in ok)
                return b"\x90" + varint(2 + len(out)) + struct.pack("!H", pid) + out
        return pkt


class Front:
    """Listeners on ``host`` (port 0 = a free port) relaying to mosquitto on
    ``upstream``.  ``tls`` is a dict with "server" and "server_key" paths
    (certs.make_ca) to add a TLS listener."""

    def __init__(self, upstream, check, acl=None, tls=None, host="127.0.0.1", port=0, tls_port=0,
                 rewrite=None):
        self.upstream = upstream
        self.check = check
        self.acl = acl
        self.rewrite = rewrite
        self.host = host
        self.connects = []   # (info, CONNACK code) for every CONNECT seen
        self.refused = []    # (info, topic, "sub"|"pub") refused by the ACL
        self.live = {}       # key -> _Conn
        self._lock = threading.Lock()
        self._socks = []
        self.ctx = None
        self.port = self._listen(port, False)
        self.tls_port = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls["server"], tls["server_key"])
            self.ctx = ctx
            self.tls_port = self._listen(tls_port, True)

    def _listen(self, port, tls):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, port))
        s.listen(16)
        self._socks.append(s)
        threading.Thread(target=self._accept, args=(s, tls), daemon=True).start()
        return s.getsockname()[1]

    def _accept(self, s, tls):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=_Conn(self, conn, tls).run, daemon=True).start()

    def _accepted(self, conn):
        key = conn.info.get("key")
        if key is None:
            return
        with self._lock:
            old = self.live.get(key)
            self.live[key] = conn
        if old is not None:
            old.close()

    def _gone(self, conn):
        key = conn.info.get("key") if conn.info else None
        with self._lock:
            if key is not None and self.live.get(key) is conn:
                del self.live[key]

    def kick(self, key):
        """Close the live connection of ``key`` (as a cloud does when a device is deleted)."""
        with self._lock:
            conn = self.live.pop(key, None)
        if conn:
            conn.close()
        return conn is not None

    def stop(self):
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        with self._lock:
            conns = list(self.live.values())
            self.live.clear()
        for c in conns:
            c.close()
