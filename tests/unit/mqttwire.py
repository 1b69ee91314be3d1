"""MQTT 3.1.1 frames built and parsed from the specification (independent of
umqtt and of lib/), and a scripted broker answering on a shim FakeSocket."""

import struct

from shim.net import FakeSocket, ECONNREFUSED

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14


def vbi(n):
    """Variable byte integer (MQTT 3.1.1 section 2.2.3)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def read_vbi(buf, i):
    """(value, index after it) or None when the buffer ends inside it."""
    n = 0
    for k in range(4):
        if i + k >= len(buf):
            return None
        b = buf[i + k]
        n += (b & 0x7F) << (7 * k)
        if not b & 0x80:
            return n, i + k + 1
    raise ValueError("malformed remaining length")


def split(buf):
    """Complete packets at the start of ``buf``: ([(first byte, body)], bytes used)."""
    out, i = [], 0
    while i < len(buf):
        r = read_vbi(buf, i + 1)
        if r is None:
            break
        n, j = r
        if j + n > len(buf):
            break
        out.append((buf[i], bytes(buf[j:j + n])))
        i = j + n
    return out, i


def frame(first, body):
    return bytes((first,)) + vbi(len(body)) + body


def _str(b):
    return struct.pack("!H", len(b)) + b


def connack(code=0, session_present=0):
    return bytes((0x20, 2, session_present, code))


def suback(pid, codes):
    return frame(0x90, struct.pack("!H", pid) + bytes(codes))


def puback(pid):
    return bytes((0x40, 2, pid >> 8, pid & 0xFF))


def pingresp():
    return b"\xd0\x00"


def publish(topic, payload, qos=0, pid=1, retain=False, dup=False):
    if isinstance(topic, str):
        topic = topic.encode()
    if isinstance(payload, str):
        payload = payload.encode()
    body = _str(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return frame(0x30 | dup << 3 | qos << 1 | int(retain), body)


def _take_str(body, i):
    n = struct.unpack_from("!H", body, i)[0]
    return body[i + 2:i + 2 + n], i + 2 + n


def parse_connect(body):
    name, i = _take_str(body, 0)
    level, flags = body[i], body[i + 1]
    keepalive = struct.unpack_from("!H", body, i + 2)[0]
    i += 4
    d = {"protocol": name, "level": level, "flags": flags, "keepalive": keepalive,
         "clean": bool(flags & 0x02), "will": None, "username": None, "password": None}
    d["client_id"], i = _take_str(body, i)
    if flags & 0x04:
        topic, i = _take_str(body, i)
        msg, i = _take_str(body, i)
        d["will"] = {"topic": topic, "message": msg, "qos": (flags >> 3) & 3,
                     "retain": bool(flags & 0x20)}
    if flags & 0x80:
        d["username"], i = _take_str(body, i)
    if flags & 0x40:
        d["password"], i = _take_str(body, i)
    d["rest"] = body[i:]
    return d


def parse_publish(first, body):
    qos = (first >> 1) & 3
    topic, i = _take_str(body, 0)
    pid = None
    if qos:
        pid = struct.unpack_from("!H", body, i)[0]
        i += 2
    return {"topic": topic, "payload": body[i:], "qos": qos, "retain": bool(first & 1),
            "dup": bool(first & 8), "pid": pid}


def parse_subscribe(body):
    pid = struct.unpack_from("!H", body, 0)[0]
    filters, i = [], 2
    while i < len(body):
        topic, i = _take_str(body, i)
        filters.append((topic, body[i]))
        i += 1
    return pid, filters


class Session:
    """One accepted connection: parses what the client writes and answers."""

    def __init__(self, broker, sock):
        self.broker = broker
        self.sock = sock
        self.buf = bytearray()
        self.packets = []     # (type, first byte, body) in arrival order
        self.connect = None

    def __call__(self, sock, data):
        self.buf += data
        pkts, used = split(self.buf)
        del self.buf[:used]
        for first, body in pkts:
            self._on(first, body)

    def _on(self, first, body):
        kind = first >> 4
        self.packets.append((kind, first, body))
        b = self.broker
        if kind == CONNECT:
            self.connect = parse_connect(body)
            code = b.connack.pop(0) if len(b.connack) > 1 else b.connack[0]
            self.sock.feed(connack(code))
        elif kind == SUBSCRIBE:
            pid, filters = parse_subscribe(body)
            codes = b.suback_codes or [q for _, q in filters]
            self.sock.feed(suback(pid, codes))
        elif kind == PUBLISH:
            p = parse_publish(first, body)
            if p["qos"] == 1 and b.ack_publish:
                self.sock.feed(puback(p["pid"]))
        elif kind == PINGREQ and b.answer_ping:
            self.sock.feed(pingresp())

    def of(self, kind):
        return [(first, body) for k, first, body in self.packets if k == kind]

    def published(self):
        """The client's PUBLISH packets, parsed, in order."""
        return [parse_publish(first, body) for first, body in self.of(PUBLISH)]

    def send(self, data):
        """The broker writes ``data`` to the client."""
        self.sock.feed(data)


class Broker:
    """Hands out one FakeSocket per connection attempt (``accept`` is the
    factory for shim.net.SocketModule) and answers like a broker would.

    connack        CONNACK return codes, one per connection (the last repeats)
    refuse         connection attempts to refuse (TCP) before accepting
    ack_publish    answer QoS 1 PUBLISH with PUBACK
    answer_ping    answer PINGREQ with PINGRESP
    suback_codes   SUBACK return codes (default: the requested QoS)
    """

    def __init__(self, connack=0, ack_publish=True, answer_ping=True):
        self.connack = list(connack) if isinstance(connack, (list, tuple)) else [connack]
        self.refuse = 0
        self.ack_publish = ack_publish
        self.answer_ping = answer_ping
        self.suback_codes = None
        self.sessions = []
        self.attempts = 0

    def accept(self):
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            return FakeSocket(connect_error=ECONNREFUSED)
        s = FakeSocket()
        sess = Session(self, s)
        s.peer = sess
        self.sessions.append(sess)
        return s

    @property
    def session(self):
        return self.sessions[-1]

    def published(self):
        """Every PUBLISH the client sent, over all connections."""
        return [p for s in self.sessions for p in s.published()]
