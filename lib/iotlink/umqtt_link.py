"""The socket under the blocking Device, and every umqtt.simple workaround in
one place.

umqtt.simple only opens the session (it writes CONNECT and reads CONNACK,
through the ``Link`` given to it as its socket); every packet after that is
read and written here.  What umqtt gets wrong, and what this does instead:

* ``wait_msg()`` calls ``setblocking(True)``, which clears the socket
  timeout, and every read waits a full timeout per chunk, so a peer that
  trickles one byte at a time (or sends a remaining length that never ends:
  ``_recv_len`` takes any number of bytes) holds the caller for ever.  Here a
  packet is read without blocking, against one deadline: a packet not complete
  ``timeout_ms`` after its first byte ends the link.
* ``wait_msg()`` trusts the packet: more than 4 length bytes (MQTT 3.1.1
  2.2.3), a topic length beyond the packet (3.3.2), QoS 3 (read as QoS 1: the
  callback runs, no PUBACK), QoS 2 (callback run, then ``assert 0``), a
  PINGRESP with a body (``AssertionError``), any packet type.  Here each is a
  ``ProtocolError`` the moment it is seen, before any callback: the link is
  closed and made again.
* ``connect()`` asserts on a CONNACK that is not one (``AssertionError``) and
  indexes a short one (``IndexError``): here it reads as a ``ProtocolError``.
* a downlink is allocated at whatever size it announces: here one over
  ``limit`` is drained and reported as ``dropped``.
* ``publish()``: packet ids grow past 65535 (they go out as 0), the PUBACK
  wait has no deadline, and a published revision raises on every QoS 1
  publish; ``subscribe()`` writes one length byte (broken past 127 bytes) and
  one filter per packet: PUBLISH and SUBSCRIBE are written here.
* 1.3.x imports ``ussl``, absent from firmware that has only ``ssl``; >= 1.4
  takes an SSLContext: ``Tls`` serves as either.
* DNS has no timeout on MicroPython: ``Net`` resolves each host once.

The packets themselves are read and written with ``mqtt_wire``'s pure rules
and builders, which the asyncio driver shares.
"""

import time
import select
import socket
from micropython import const

from .errors import ProtocolError
from .mqtt_wire import (PUBLISH, kind, length_byte, check_ack, publish_head, check_topic,
                        connack)

_POLLIN = const(1)
_POLLOUT = const(4)
_CHUNK = const(256)


class Net:
    """Stands in for umqtt.simple's ``socket`` module while it connects: every
    socket is a ``Link`` with the session timeout, and each host is resolved
    once (DNS has no timeout and can hang while Wi-Fi is half up)."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.cache = {}
        self.last = None   # the Link of the latest connect

    def socket(self, *args):
        s = socket.socket(*args)
        s.settimeout(self.timeout_ms / 1000)  # TCP connect and TLS handshake
        try:
            # IPPROTO_TCP, TCP_NODELAY: a packet goes out in several small
            # writes; with Nagle each QoS 1 publish waits on a delayed ACK
            s.setsockopt(6, 1, 1)
        except Exception:
            pass
        self.last = Link(s, self.timeout_ms)
        return self.last

    def getaddrinfo(self, host, port, *args):
        key = (host, port)
        ai = self.cache.get(key)
        if ai is None:
            ai = socket.getaddrinfo(host, port, *args)
            self.cache[key] = ai
        return ai


class Tls:
    """``ussl`` for umqtt 1.3.x and the ``ssl`` argument for >= 1.4: wraps the
    Link's TCP socket with our SSLContext (hostname checked)."""

    def __init__(self, ctx, host):
        self.ctx = ctx
        self.host = host

    def wrap_socket(self, link, **kw):
        link.stream = self.ctx.wrap_socket(link.raw, server_hostname=self.host)
        return link


class Link:
    """The socket under a session.  Once the MQTT exchange starts it is
    non-blocking: every wait is a poll against a deadline, so no peer can hold
    a read or a write past it.  Until ``until`` is set to None (the
    session is up) the whole handshake (CONNECT to the last SUBACK) shares
    one deadline."""

    def __init__(self, raw, timeout_ms):
        self.raw = self.stream = raw
        self.timeout_ms = timeout_ms
        self.limit = 0x7FFFFFFF
        self.dropped = 0
        self.poller = None
        self.until = None          # the handshake's deadline, None once up
        self.rx = self.tx = time.ticks_ms()
        self._ack = bytearray(b"\x40\x02\0\0")
        self._b1 = bytearray(1)
        self.pid = 0       # of the last ack read
        self.codes = b""   # of the last SUBACK

    # ----- what umqtt calls while it connects --------------------------------

    def connect(self, addr):
        self.raw.connect(addr)

    def setblocking(self, flag):
        pass

    settimeout = setblocking  # non-blocking with deadlines, whatever umqtt asks

    def read(self, n):
        """umqtt's only read: the CONNACK (4 bytes)."""
        self._start()
        b = self.take(n, self._end(), 0)
        if b is None:
            raise ProtocolError("CONNACK cut short: the broker closed the link")
        if n == 4:
            connack(b)
        return b

    def write(self, buf, n=None):
        """All of ``buf`` (or its first ``n`` bytes) by the deadline."""
        self._start()
        if n is None:
            n = len(buf)
        w = self.stream.write(buf, n)
        if w != n:
            end = self._end()
            done = w or 0
            mv = memoryview(buf)
            while done < n:
                self._wait(end, _POLLOUT)
                done += self.stream.write(mv[done:n]) or 0
        self.tx = time.ticks_ms()
        return n

    def close(self):
        self.stream.close()

    # ----- reading -----------------------------------------------------------

    def _start(self):
        if self.poller is None:
            self.stream.setblocking(False)
            self.poller = select.poll()
            self.poller.register(self.stream, _POLLIN)
            self.until = time.ticks_add(time.ticks_ms(), self.timeout_ms)

    def _end(self):
        end = time.ticks_add(time.ticks_ms(), self.timeout_ms)
        u = self.until
        return u if u is not None and time.ticks_diff(u, end) < 0 else end

    def _wait(self, end, mask=_POLLIN):
        """Until the stream is ready for ``mask`` or ``end`` (no time left:
        the packet took too long)."""
        left = time.ticks_diff(end, time.ticks_ms())
        if left <= 0:
            raise OSError(110, "packet not complete within %d ms" % self.timeout_ms)
        if mask != _POLLIN:
            self.poller.modify(self.stream, mask)
        for _ in self.poller.ipoll(left):
            break
        if mask != _POLLIN:
            self.poller.modify(self.stream, _POLLIN)

    def ready(self, ms):
        """True when a packet starts within ``ms``; ipoll() reuses its result
        tuple where poll() would allocate a list on every call."""
        for _ in self.poller.ipoll(ms):
            return True
        return False

    def take(self, n, end, got=None):
        """Exactly ``n`` bytes by ``end``.  EOF raises OSError(-1), or returns
        None once ``got`` bytes of the packet had been read (cut short)."""
        buf = None
        have = 0
        while have < n:
            b = self.stream.read(n - have)
            if b is None:
                self._wait(end)
                continue
            if not b:
                if got is not None and have + got:
                    return None
                raise OSError(-1)
            if have == 0 and len(b) == n:
                buf = b
                have = n
                break
            if buf is None:
                buf = bytearray(n)
            buf[have:have + len(b)] = b
            have += len(b)
        self.rx = time.ticks_ms()
        return buf if isinstance(buf, bytes) else bytes(buf)

    def _byte(self, end, cut=False):
        """One byte by ``end``, read into a reused buffer: the fixed header,
        lengths and packet ids of every packet cost no allocation.  EOF
        raises OSError(-1), or with ``cut`` (the packet had begun) returns -1."""
        b = self._b1
        while True:
            n = self.stream.readinto(b, 1)
            if n:
                self.rx = time.ticks_ms()
                return b[0]
            if n is None:
                self._wait(end)
            elif cut:
                return -1
            else:
                raise OSError(-1)

    def _drain(self, n, end):
        # a peer that keeps sending must not keep the drain going past end
        while n:
            self._wait(end)
            n -= len(self.take(min(n, _CHUNK), end))

    def packet(self, on_publish):
        """Read the packet that is starting and return its first byte.  A
        PUBLISH goes to ``on_publish(topic, msg)`` (its PUBACK sent after);
        an ack leaves its packet id in ``pid`` (a SUBACK its return codes in
        ``codes``).  Every malformed packet is a ProtocolError as soon as it
        shows."""
        end = self._end()
        first = self._byte(end)
        k = kind(first)
        n = i = 0
        while True:
            b = self._byte(end, True)
            if b < 0:
                raise ProtocolError("packet cut short")
            n = length_byte(n, i, b)
            if b < 0x80:
                break
            i += 1
        if k != PUBLISH:
            check_ack(first, n, self.limit)
            if n:
                self.pid = self._byte(end) << 8 | self._byte(end)
                if n > 2:
                    self.codes = self.take(n - 2, end)
            return first
        head = publish_head(first, n)
        tl = self._byte(end) << 8 | self._byte(end)
        n = check_topic(tl, head, n)
        if tl > self.limit:
            self._drain(tl, end)
            topic = b""
            self.dropped = n + tl
        else:
            topic = self.take(tl, end) if tl else b""
        a = self._ack
        qos = head == 4
        if qos:
            a[2] = self._byte(end)
            a[3] = self._byte(end)
        if n > self.limit:
            self._drain(n, end)
            self.dropped = n
            msg = b""
        else:
            msg = self.take(n, end) if n else b""
        on_publish(topic, msg)
        if qos:
            self.write(a)
        return first
