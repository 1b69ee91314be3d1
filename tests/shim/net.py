"""A fake network: stream sockets with MicroPython semantics, a ``socket``
module handing them out and a ``select`` with ``poll()`` that understands them.

``FakeSocket`` is what ``socket.socket()`` returns on a board, seen from the
program: ``read(n)`` / ``write(buf, n=None)`` streams (not CPython's
recv/send), where

* non-blocking (``setblocking(False)`` or ``settimeout(0)``): ``read`` returns
  ``None`` when nothing is buffered, else up to ``n`` bytes;
* with a timeout: ``read(n)`` returns ``n`` bytes, or what is left once the
  peer has closed (``b""`` at EOF); if the data is not there it lets the
  timeout pass on the shim clock and raises ``OSError(ETIMEDOUT)``;
* blocking without a timeout, where a board would wait for ever:
  ``WouldBlockForever`` (a BaseException, so no ``except Exception`` in the
  code under test can hide the hang).

The far end is the test: ``feed()`` bytes to be read, ``hangup()`` (EOF after
the buffered bytes), ``fail(err)`` (the next operation raises OSError), and an
optional ``peer(sock, data)`` callable that sees every write, which is how a
scripted broker answers.  Written bytes accumulate in ``tx``.

``SocketModule`` stands for the ``socket`` module: ``socket()`` builds sockets
with ``factory`` (default ``FakeSocket``) and ``getaddrinfo()`` answers from
``hosts`` (unknown names resolve to 192.0.2.1).  ``select`` stands for the
``select`` module: ``poll()`` objects report POLLIN for fake sockets with data
or EOF, and an empty wait lets the timeout pass on the shim clock.
"""

import types

from .ticks import clock

EBADF = 9
EAGAIN = 11
ECONNRESET = 104
ENOTCONN = 107
ETIMEDOUT = 110
ECONNREFUSED = 111


class WouldBlockForever(BaseException):
    """A blocking read or poll that nothing could ever satisfy: on a board
    this call would hang for ever."""


class FakeSocket:
    def __init__(self, rx=b"", peer=None, connect_error=None):
        self.rx = bytearray(rx)
        self.tx = bytearray()
        self.peer = peer
        self.connect_error = connect_error
        self.timeout = None          # None: blocking; 0: non-blocking; >0: seconds
        self.connected_to = None
        self.closed = False
        self.eof = False
        self._error = None

    # ----- the far end (tests) --------------------------------------------

    def feed(self, data):
        self.rx += data

    def hangup(self):
        """The peer closes: reads see EOF once the buffer is empty."""
        self.eof = True

    def fail(self, err=ECONNRESET):
        """The next read or write raises OSError(err) (reset, broken pipe)."""
        self._error = err

    def readable(self):
        return bool(self.rx) or self.eof or self._error is not None

    # ----- the board side --------------------------------------------------

    def _check(self):
        if self.closed:
            raise OSError(EBADF)
        if self._error is not None:
            raise OSError(self._error)

    def connect(self, addr):
        self._check()
        if self.connect_error is not None:
            if self.connect_error == ETIMEDOUT:
                if not self.timeout:
                    raise WouldBlockForever("connect() to a silent host with no timeout")
                clock.sleep_us(int(self.timeout * 1000000))
            raise OSError(self.connect_error)
        self.connected_to = addr

    def setblocking(self, flag):
        self.timeout = None if flag else 0

    def settimeout(self, t):
        self.timeout = t

    def read(self, n=-1):
        self._check()
        if n is None or n < 0:
            if self.eof or self.timeout == 0:
                return self._take(len(self.rx)) if (self.rx or self.eof) else None
            return self._stall()
        if n == 0:
            return b""
        if len(self.rx) >= n:
            return self._take(n)
        if self.eof:
            return self._take(len(self.rx))
        if self.timeout == 0:
            return self._take(len(self.rx)) if self.rx else None
        return self._stall()

    def readinto(self, buf, n=None):
        """As a MicroPython stream: the count read, None when a non-blocking
        socket has nothing yet, 0 at EOF."""
        n = len(buf) if n is None else n
        b = self.read(n)
        if b is None:
            return None
        buf[:len(b)] = b
        return len(b)

    def _take(self, n):
        b = bytes(self.rx[:n])
        del self.rx[:n]
        return b

    def _stall(self):
        if not self.timeout:
            raise WouldBlockForever("blocking read on a socket with no timeout and no data")
        clock.sleep_us(int(self.timeout * 1000000))
        # a board's stream read loses what it had gathered when it times out
        del self.rx[:]
        raise OSError(ETIMEDOUT)

    def write(self, buf, n=None):
        self._check()
        if self.connected_to is None:
            raise OSError(ENOTCONN)
        data = bytes(memoryview(buf)[:n] if n is not None else memoryview(buf))
        self.tx += data
        if self.peer is not None:
            self.peer(self, data)
        return len(data)

    def close(self):
        self.closed = True


class SocketModule:
    """The ``socket`` module, handing out fake sockets."""

    AF_INET = 2
    AF_INET6 = 10
    SOCK_STREAM = 1
    SOCK_DGRAM = 2
    IPPROTO_TCP = 6
    SOL_SOCKET = 1
    SO_REUSEADDR = 4
    error = OSError

    def __init__(self, factory=None, hosts=None):
        self.factory = factory or FakeSocket
        self.hosts = dict(hosts or {})
        self.sockets = []      # every socket handed out, oldest first
        self.lookups = []      # every getaddrinfo (host, port)
        self.dns_error = None  # errno to raise from getaddrinfo

    def socket(self, af=AF_INET, kind=SOCK_STREAM, proto=0):
        s = self.factory()
        self.sockets.append(s)
        return s

    def getaddrinfo(self, host, port, af=0, kind=0, proto=0, flags=0):
        self.lookups.append((host, port))
        if self.dns_error is not None:
            raise OSError(self.dns_error)
        ip = self.hosts.get(host, "192.0.2.1")
        return [(self.AF_INET, self.SOCK_STREAM, self.IPPROTO_TCP, "", (ip, port))]


POLLIN = 1
POLLOUT = 4
POLLERR = 8
POLLHUP = 16


class Poll:
    """``select.poll()``: knows objects with ``readable()`` (fake sockets)."""

    def __init__(self):
        self._objs = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        self._objs[id(obj)] = (obj, mask)

    def modify(self, obj, mask):
        if id(obj) not in self._objs:
            raise OSError(2)
        self._objs[id(obj)] = (obj, mask)

    def unregister(self, obj):
        self._objs.pop(id(obj), None)

    def _ready(self):
        out = []
        for obj, mask in self._objs.values():
            if getattr(obj, "closed", False):
                continue
            ev = 0
            if mask & POLLIN and obj.readable():
                ev |= POLLIN
            if mask & POLLOUT:
                ev |= POLLOUT
            if ev:
                out.append((obj, ev))
        return out

    def poll(self, timeout=-1):
        ready = self._ready()
        if ready or timeout == 0:
            return ready
        if timeout < 0:
            raise WouldBlockForever("poll() with no timeout and nothing that can become ready")
        clock.sleep_us(int(timeout) * 1000)
        return self._ready()

    def ipoll(self, timeout=-1, flags=0):
        return iter(self.poll(timeout))


select = types.ModuleType("select", "MicroPython's select module for fake sockets")
select.poll = Poll
select.POLLIN = POLLIN
select.POLLOUT = POLLOUT
select.POLLERR = POLLERR
select.POLLHUP = POLLHUP
