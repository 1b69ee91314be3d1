"""A deliberately broken MQTT broker: a small TCP server speaking just enough
MQTT 3.1.1 (CONNECT, SUBSCRIBE, PUBLISH QoS 0/1, PINGREQ, DISCONNECT) to keep
one device session going, which on request sends that session one hostile
packet.  It stands in for a broker no real one would imitate; after an attack
it keeps the connection open and silent, so only the device can end it.

    b = HostileBroker(); b.arm("qos3")        # the next established session gets it
    b.command("c1", 5)                        # a command PUBLISH to the device
    b.wait_published(REPLY, ...)              # what the device published
"""

import json
import socket
import struct
import threading
import time

BASE = b"iotlink/dev1"
COMMAND = BASE + b"/down/command/"
SILENT_S = 30      # an attacked connection is held open (silent) at most this long


def vbi(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def publish(topic, payload, qos=1, pid=7, flags=None):
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if qos else b"") + payload
    first = 0x30 | (qos << 1) if flags is None else flags
    return bytes((first,)) + vbi(len(body)) + body


def command_packet(rid, n, qos=1, pid=7, flags=None, name=b"ping"):
    return publish(COMMAND + name, json.dumps({"id": rid, "params": {"n": n}}).encode(), qos, pid, flags)


def drip(conn, data, every):
    for i in range(len(data)):
        conn.sendall(data[i:i + 1])
        time.sleep(every)


# Each attack: (when, what) -- "session": sent on an established session;
# "connack": the answer to the next CONNECT.  ``what(conn, b)`` writes it.
DRIP_S = 0.25      # one byte this often: every byte is well inside a read timeout

ATTACKS = {
    # a whole command PUBLISH, one byte every DRIP_S: never complete within a deadline
    "drip": ("session", lambda conn, b: drip(conn, command_packet("drip", 1, qos=1) + b" " * 40,
                                             DRIP_S)),
    # a remaining length that never ends: 0x80 after 0x80
    "endless_varint": ("session", lambda conn, b: drip(conn, b"\x30" + b"\x80" * 80, DRIP_S)),
    # five length bytes at once (MQTT 3.1.1 2.2.3 allows four)
    "varint5": ("session", lambda conn, b: conn.sendall(b"\x30\x80\x80\x80\x80\x01")),
    # topic length 300 in a 20-byte packet (3.3.2: the topic is inside the packet)
    "topic_beyond": ("session", lambda conn, b: conn.sendall(
        b"\x30\x14\x01\x2c" + b"x" * 18)),
    # a valid command at QoS 2, which this device never subscribes for
    "qos2": ("session", lambda conn, b: conn.sendall(command_packet("q2", 2, qos=2))),
    # QoS bits 11: a protocol violation (3.3.1.2)
    "qos3": ("session", lambda conn, b: conn.sendall(command_packet("q3", 3, qos=1, flags=0x36))),
    # PINGRESP must have no body
    "pingresp_body": ("session", lambda conn, b: conn.sendall(b"\xd0\x01\x00")),
    # a claim of a 200 MB PUBLISH, then bytes as fast as the link takes them
    "length_200mb": ("session", lambda conn, b: b.flood(conn, b"\x30" + vbi(200 * 1024 * 1024))),
    # not a CONNACK at all
    "garbage_connack": ("connack", lambda conn, b: conn.sendall(b"\x55\xaa\x13\x37")),
    # a CONNACK cut short: 3 of its 4 bytes, then the broker closes
    "short_connack": ("connack", lambda conn, b: (conn.sendall(b"\x20\x02\x00"), b.close_now(conn))),
}


class HostileBroker:
    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.published = []          # (topic, payload) from the device, in order
        self.accepted = 0
        self.sessions = 0            # connections that got a SUBACK
        self.attacked = threading.Event()
        self._armed = None
        self.hold_acks = 0           # > 0: PUBACKs of reports held until that many, then sent newest first
        self._held = []
        self._conn = None            # the established session
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    # ----- the test's side --------------------------------------------------

    def arm(self, name):
        self._armed = name
        self.attacked.clear()
        if ATTACKS[name][0] == "connack":
            self.kick()            # the device must connect again to meet it

    def command(self, rid, n, name=b"ping"):
        with self._lock:
            conn = self._conn
            if conn is None:
                raise AssertionError("no established session")
            conn.sendall(command_packet(rid, n, name=name))

    def release(self, conn=None):
        """Send the held PUBACKs, newest first (acks out of order)."""
        with self._lock:
            held, self._held = self._held, []
            conn = conn or self._conn
            if held and conn is not None:
                conn.sendall(b"".join(reversed(held)))

    def kick(self):
        """Close the established session (the device sees EOF and reconnects)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self.close_now(conn)

    def wait_session(self, count, timeout=15):
        end = time.monotonic() + timeout
        with self._cv:
            while self.sessions < count:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("only %d sessions, wanted %d" % (self.sessions, count))
                self._cv.wait(left)

    def wait_published(self, match, timeout=10):
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                hits = [p for p in self.published if match(*p)]
                if hits:
                    return hits
                left = end - time.monotonic()
                if left <= 0:
                    return []
                self._cv.wait(left)

    def replies(self, rid):
        out = []
        for t, p in list(self.published):
            if t == BASE + b"/up/reply":
                r = json.loads(p)
                if r.get("id") == rid:
                    out.append(r)
        return out

    def close(self):
        self._closing = True
        self.kick()
        self.srv.close()

    # ----- the broker --------------------------------------------------------

    @staticmethod
    def close_now(conn):
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def flood(self, conn, head):
        conn.sendall(head)
        chunk = b"\0" * 65536
        end = time.monotonic() + SILENT_S
        try:
            while time.monotonic() < end:
                conn.sendall(chunk)
        except OSError:
            pass

    def _accept(self):
        while not self._closing:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _read_packet(self, conn):
        first = self._read(conn, 1)[0]
        n = sh = 0
        while True:
            b = self._read(conn, 1)[0]
            n |= (b & 0x7F) << sh
            sh += 7
            if not b & 0x80:
                break
        return first, self._read(conn, n)

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            more = conn.recv(n - len(buf))
            if not more:
                raise EOFError
            buf += more
        return buf

    def _attack(self, conn, name):
        self._armed = None
        self.attacked.set()
        try:
            ATTACKS[name][1](conn, self)
        except OSError:
            return
        # silent from now on: only the device may end this connection
        conn.settimeout(SILENT_S)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        self.close_now(conn)

    def _session(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                first, body = self._read_packet(conn)
                kind = first >> 4
                if kind == 1:                                   # CONNECT
                    if self._armed and ATTACKS[self._armed][0] == "connack":
                        return self._attack(conn, self._armed)
                    conn.sendall(b"\x20\x02\x00\x00")
                elif kind == 8:                                 # SUBSCRIBE
                    pid, i, codes = body[:2], 2, b""
                    while i < len(body):
                        tl = body[i] << 8 | body[i + 1]
                        i += 2 + tl + 1
                        codes += b"\x01"
                    with self._lock:
                        conn.sendall(bytes((0x90,)) + vbi(2 + len(codes)) + pid + codes)
                        self._conn = conn
                    with self._cv:
                        self.sessions += 1
                        self._cv.notify_all()
                elif kind == 3:                                 # PUBLISH from the device
                    qos = first >> 1 & 3
                    tl = body[0] << 8 | body[1]
                    topic = body[2:2 + tl]
                    payload = body[2 + tl + (2 if qos else 0):]
                    with self._cv:
                        self.published.append((topic, payload))
                        self._cv.notify_all()
                    if qos:
                        ack = b"\x40\x02" + body[2 + tl:4 + tl]
                        if self.hold_acks and topic.endswith(b"/up/report"):
                            self._held.append(ack)
                        else:
                            with self._lock:
                                conn.sendall(ack)
                        if len(self._held) >= self.hold_acks:
                            self.release(conn)
                elif kind == 12:                                # PINGREQ
                    with self._lock:
                        conn.sendall(b"\xd0\x00")
                elif kind == 10:                                # UNSUBSCRIBE
                    with self._lock:
                        conn.sendall(b"\xb0\x02" + body[:2])
                elif kind == 14:                                # DISCONNECT
                    break
                if self._armed and ATTACKS[self._armed][0] == "session" and self._conn is conn:
                    with self._lock:
                        self._conn = None
                    return self._attack(conn, self._armed)
        except (EOFError, OSError, IndexError):
            pass
        with self._lock:
            if self._conn is conn:
                self._conn = None
        self.close_now(conn)
