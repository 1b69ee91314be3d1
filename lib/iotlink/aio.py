"""The asyncio driver of the session core: the cloud link as tasks beside
the app's own, for MicroPython >= 1.22 (and the unix port).

    import asyncio, iotlink.aio

    async def main():
        dev = await iotlink.aio.connect("config.json")

        @dev.command
        async def command(req):          # plain functions work as well
            await asyncio.sleep_ms(500)
            return {"done": req.name}

        while True:
            dev.report({"t": 21.5})      # queued, returns at once
            await asyncio.sleep(10)

    asyncio.run(main())

Everything a session decides (outbox, inbox, dispatch, replies, state,
stats, keepalive and backoff) is ``session.Session``; this module only does
the I/O, as ``device.Device`` does for the blocking ``poll()``.  It owns its
MQTT protocol (umqtt.simple blocks): CONNECT and every packet after it are
built and checked by ``mqtt_wire``'s pure builders and rules, read here from
an asyncio stream through a small read-ahead buffer.

What the event loop is promised:

* TCP connect and TLS handshake are non-blocking (``asyncio.open_connection``,
  then the TLS socket wrapped with ``do_handshake_on_connect=False``): each
  handshake step is one short CPU step of mbedTLS.  CONNECT to the last
  SUBACK and the greeting's PUBACK shares one deadline (``timeout_ms``).
* DNS has no non-blocking form on MicroPython: the host is resolved once and
  the address kept until a connect attempt with it fails.  That lookup
  blocks the loop for as long as the resolver takes (immediate for an IP
  address; up to the resolver's own timeout, several seconds on lwIP, when
  the DNS server does not answer).
* a packet not complete ``timeout_ms`` after its first byte, a PUBACK or
  SUBACK not in ``timeout_ms``, 1.5 x keepalive of silence: the link is
  closed and made again (checked every ``timeout_ms // 4``).
* ``window`` QoS 1 messages in flight at once (default 4), acknowledged in
  any order; a lost link puts them back at the head of the outbox.
* a handler may be a coroutine: it runs as its own task, at most ``tasks``
  at once (default 4); more wait their turn, and when the inbox is full
  too, a command gets the core's "busy" refusal.  Its reply is queued when
  it returns.  A plain handler runs in the reader task: keep it short.

``dev.up`` and ``dev.down`` are ``asyncio.Event``s set when the session
comes up and when it goes down (as in mqtt_as: the app clears them); the
"status" handler is called as with the blocking Device.  Note ``run(req,
awaitable)`` is the core's hook for coroutine handlers: the session loop is
``serve()``.
"""

import time
import socket
import asyncio

from . import clock, config
from .errors import AuthError, ConfigError, ProtocolError
from .session import Session, PING, DEAD
from .mqtt_wire import (PUBLISH, PUBACK, SUBACK, UNSUBACK, kind, length_byte, check_ack,
                        publish_head, check_topic, connack, connect_packet,
                        subscribe_packet, write_publish)

_RB = 128               # read-ahead buffer: headers, acks and small messages
_PINGREQ = b"\xc0\0"
_DISCONNECT = b"\xe0\0"

# The reader waits for bytes as asyncio's Stream.readinto does (the task
# queued on asyncio's I/O queue for the socket, then a yield), in its own
# frame: a stream read makes a coroutine each time, about 100 B, and a
# PUBACK over a real network is always waited for.  Without the I/O queue
# (asyncio.core._io_queue, there since MicroPython 1.13), the stream's wait.
try:
    from asyncio import core as _core
    if not hasattr(_core, "_io_queue"):
        _core = None
except ImportError:
    _core = None


async def connect(config="config.json", **kw):
    """A Device for a config dict or path, with its first connect attempt
    made: raises ConfigError or AuthError; any other failure is retried by
    the session task this starts."""
    dev = Device(config, **kw)
    await dev.connect()
    return dev


class Device(Session):
    """A cloud session run by asyncio.  ``config`` is a dict or a path to
    config.json; ``window``: QoS 1 messages in flight at once; ``tasks``:
    coroutine handlers running at once."""

    def __init__(self, config_or_path, window=4, tasks=4):
        cfg = config.load(config_or_path) if isinstance(config_or_path, str) else config_or_path
        Session.__init__(self, cfg, time.ticks_ms, clock)
        if not (isinstance(window, int) and 1 <= window <= 64):
            raise ConfigError("window: QoS 1 messages in flight, 1..64")
        if not (isinstance(tasks, int) and 1 <= tasks <= 64):
            raise ConfigError("tasks: coroutine handlers at once, 1..64")
        self.window = window
        self.tasks = tasks
        # shadow Session.up(now, where) on purpose: the mqtt_as names; the
        # driver calls Session.up itself
        self.up = asyncio.Event()
        self.down = asyncio.Event()
        self._kick = asyncio.Event()    # something to write
        self._gone = asyncio.Event()    # a task of the link failed
        self._fail = None
        self._task = None               # serve()
        self._jobs = ()                 # the link's reader, writer, ticker
        self._s = None
        self._w = None
        self._ip = None                 # the host, resolved once
        self._ctx = None
        self._rb = bytearray(_RB)
        self._rmv = memoryview(self._rb)
        self._r0 = self._r1 = 0         # unread bytes: _rb[_r0:_r1]
        self._hdr = bytearray(7)
        self._ack = bytearray(b"\x40\x02\0\0")
        self._rx = self._tx = 0
        self._pkt = None                # ticks of the first byte of the packet being read
        self._acked = 0                 # ticks of the last PUBACK, or the window's first write
        self._subwait = []              # [pid, filters, ticks] of (UN)SUBSCRIBEs not acked
        self.pid = 0                    # of the last ack read
        self.codes = b""                # of the last SUBACK read
        self._busy = 0                  # coroutine handlers running
        self._later = []                # (req, awaitable) waiting for one to end

    # ----- the app's side ---------------------------------------------------

    async def connect(self):
        """Connect now and start the session task (``serve()``).  True when up;
        raises AuthError when the credentials are refused."""
        e = None if self.connected else await self._attempt()
        if isinstance(e, AuthError):
            raise e
        if self._task is None:
            self._task = asyncio.create_task(self.serve())
        return self.connected

    async def serve(self):
        """The session for ever: connect when the core says so, serve the
        link while it is up, then again.  connect() starts it as a task; an
        app may instead run it itself (``asyncio.create_task(dev.serve())``)."""
        self._task = asyncio.current_task()
        while True:
            if self.connected:
                await self._serve()
            now = time.ticks_ms()
            wait = self.connect_in(now)
            if wait:
                await asyncio.sleep_ms(min(wait, self.coalesced(now)))
            else:
                await self._attempt()

    async def disconnect(self):
        """Let what is in flight be acknowledged (within timeout_ms), then
        DISCONNECT (no last will) and stop the session task.  Anything still
        unacknowledged goes back to the outbox (the link is counted lost)."""
        to = self.cloud.ep["timeout_ms"]
        if self.connected:
            end = time.ticks_add(time.ticks_ms(), to)
            while self._flight and self.connected and time.ticks_diff(end, time.ticks_ms()) > 0:
                await asyncio.sleep_ms(10)
        if self.connected:
            try:
                self._w.write(_DISCONNECT)
                await asyncio.wait_for_ms(self._s.drain(), to)
            except Exception:
                pass
        t = self._task
        self._task = None
        if t is not None and t is not asyncio.current_task():
            t.cancel()
        if self._flight:
            self._down(OSError("disconnect() before every PUBACK"))
        self._stop()
        self.connected = False

    # ----- connecting ------------------------------------------------------

    async def _attempt(self):
        """One connect attempt within one timeout_ms; the exception it ended
        with, or None when up."""
        ep = self.cloud.ep
        try:
            await asyncio.wait_for_ms(self._open(), ep["timeout_ms"])
        except Exception as e:
            self._close()
            if isinstance(e, asyncio.TimeoutError):
                e = OSError(110, "session not set up within %d ms" % ep["timeout_ms"])
            self.failed(e, time.ticks_ms())
            return e
        now = time.ticks_ms()
        Session.up(self, now, "%s:%d%s" % (ep["host"], ep["port"], " (TLS)" if ep["tls"] else ""))
        self._acked = now
        self.up.set()
        return None

    async def _open(self):
        ep = self.cloud.ep
        cid, user, pw, will = self.login()
        if self._ip is None:
            self._ip = _address(ep["host"], ep["port"])
        self._r0 = self._r1 = 0
        self._pkt = None
        self._subwait = []
        try:
            s, _ = await asyncio.open_connection(self._ip, ep["port"])
        except OSError:
            self._ip = None     # the address may have moved
            raise
        self._s = s
        try:
            # IPPROTO_TCP, TCP_NODELAY: a PUBLISH is several small writes
            s.s.setsockopt(6, 1, 1)
        except Exception:
            pass
        if ep["tls"]:
            if self._ctx is None:
                from .tls import context
                self._ctx = context(ep["ca"], ep["verify"], ep["cert"], ep["key"])
            t = self._ctx.wrap_socket(s.s, server_hostname=ep["host"],
                                      do_handshake_on_connect=False)
            t.setblocking(False)
            s = self._s = asyncio.StreamReader(t)
        w = self._w = _Out(self, s)
        self._rx = self._tx = time.ticks_ms()
        w.write(connect_packet(cid, user, pw, will, ep["keepalive"]))
        await s.drain()     # the TLS handshake happens here, step by step
        await self._more(4)
        code = connack(self._rmv[self._r0:self._r0 + 4])
        self._r0 += 4
        if code:
            from .retry import refusal
            raise refusal(code, ep)
        f = self.filters()
        if f:
            pid = self.next_pid()
            w.write(subscribe_packet(f, pid))
            await s.drain()
            await self._packets(SUBACK, pid)
            self.suback(f, self.codes)
        for topic, payload, qos, retain in self.greeting():
            pid = self.next_pid() if qos else 0
            write_publish(w, self._hdr, topic, payload, qos, retain, pid)
            await s.drain()
            if qos:
                await self._packets(PUBACK, pid)

    # ----- the link while up -------------------------------------------------

    async def _serve(self):
        """Run the reader, writer and ticker tasks until one fails; then
        close the link and tell the core."""
        self._fail = None
        self._gone.clear()
        self._jobs = (asyncio.create_task(self._job(self._packets())),
                      asyncio.create_task(self._job(self._writer())),
                      asyncio.create_task(self._job(self._ticker())))
        if self._in and self._busy < self.tasks:
            self.dispatch()     # what arrived while setting up
        self._wake()            # the backlog
        try:
            await self._gone.wait()
        finally:
            self._down(self._fail)

    def _down(self, e):
        """Close the link; when it was up the core puts back what was in
        flight, counts the loss and plans the reconnect."""
        self._stop()
        if self.connected:
            worked = time.ticks_diff(self._rx, self._up_since) > 0
            self.lost(e or OSError("link closed"), time.ticks_ms(), worked)
            self.down.set()

    async def _job(self, coro):
        try:
            await coro
        except Exception as e:
            self._failed(e)

    def _failed(self, e):
        """The link failed with ``e``: _serve() ends it."""
        if self._fail is None:
            self._fail = e
        self._gone.set()

    def _stop(self):
        for t in self._jobs:
            t.cancel()
        self._jobs = ()
        self._close()

    def _close(self):
        s = self._s
        self._s = self._w = None
        if s is not None:
            try:
                s.s.close()
            except Exception:
                pass

    async def _writer(self):
        """Drains what the socket could not take at once, then writes on."""
        s = self._s
        while True:
            if s.out_buf:
                await s.drain()
            self._pump()
            if not s.out_buf:
                self._kick.clear()
                await self._kick.wait()

    def _pump(self):
        """Write the pending (un)subscriptions and what the window allows,
        now: the socket is non-blocking, so this never waits.  What it does
        not take waits in the stream for the writer task, and nothing more
        is written until that is out (order kept, memory bounded)."""
        s, w = self._s, self._w
        while not s.out_buf:
            f = self.next_sub()
            if f is not None:
                if f:
                    pid = self.next_pid()
                    self._subwait.append((pid, f, time.ticks_ms()))
                    w.write(subscribe_packet(f, pid))
                continue
            item = self.next_out()
            if item is None:
                return
            topic, msg, qos, retain, pid = item
            if qos and len(self._flight) == 1:
                self._acked = time.ticks_ms()   # the ack clock starts with the window
            write_publish(w, self._hdr, topic, msg, qos, retain, pid)
            if not qos:
                self.written(item)
        self._kick.set()

    async def _ticker(self):
        """Keepalive, coalesced reports and every deadline of the link."""
        to = self.cloud.ep["timeout_ms"]
        while True:
            now = time.ticks_ms()
            wait = self.keepalive(now, self._rx, self._tx)
            if wait == DEAD:
                raise self.silence(now, self._rx)
            if wait == PING:
                self._w.write(_PINGREQ)
                self.pinged(now)
                await self._flushed()
                continue
            if self._pkt is not None and time.ticks_diff(now, self._pkt) >= to:
                raise OSError(110, "packet not complete within %d ms" % to)
            if self._flight and time.ticks_diff(now, self._acked) >= to:
                raise OSError(110, "no PUBACK within %d ms" % to)
            if self._subwait and time.ticks_diff(now, self._subwait[0][2]) >= to:
                raise OSError(110, "no SUBACK within %d ms" % to)
            await asyncio.sleep_ms(min(wait, self.coalesced(now), to // 4))

    def _wake(self):
        """Something was queued: written at once while the link is up."""
        if self.connected and self._w is not None and self._jobs:
            try:
                self._pump()
            except Exception as e:
                self._failed(e)

    def _flushed(self):
        """Awaitable: what the stream could not write at once is out; else
        one turn of the loop (no coroutine made for the common case)."""
        s = self._s
        return s.drain() if s.out_buf else asyncio.sleep_ms(0)

    # ----- reading ---------------------------------------------------------

    async def _more(self, n):
        """Until ``n`` (<= _RB) unread bytes are in the read-ahead buffer."""
        r0, r1 = self._r0, self._r1
        if r0 == r1:
            r0 = r1 = 0
        elif _RB - r0 < n:
            self._rb[0:r1 - r0] = self._rb[r0:r1]
            r1 -= r0
            r0 = 0
        self._r0, self._r1 = r0, r1
        while self._r1 - r0 < n:
            r1 = self._r1
            mv = self._rmv[r1:] if r1 else self._rmv
            # a turn for the other tasks before every read, as a stream read
            # gives: a peer that never stops sending must not starve them
            await asyncio.sleep_ms(0)
            sock = self._s.s
            k = sock.readinto(mv)
            if k is None:
                if _core:
                    yield _core._io_queue.queue_read(sock)
                else:
                    await self._s.readinto(mv[0:0])
                k = sock.readinto(mv)
            self._got(k)

    def _got(self, n):
        """``n`` bytes were read into the buffer (None: none yet, 0: EOF)."""
        if n is None:
            return
        if not n:
            if self._r1 > self._r0:
                raise ProtocolError("packet cut short: the broker closed the link")
            raise OSError(-1, "the broker closed the link")
        self._r1 += n
        self._rx = time.ticks_ms()

    async def _take(self, n):
        """The next ``n`` bytes, as bytes."""
        r0 = self._r0
        k = self._r1 - r0
        if k >= n:
            self._r0 = r0 + n
            return bytes(self._rmv[r0:r0 + n])
        head = bytes(self._rmv[r0:self._r1]) if k else None
        self._r0 = self._r1
        rest = await self._s.readexactly(n - k)
        self._rx = time.ticks_ms()
        return head + rest if k else rest

    async def _skip(self, n):
        """Read past ``n`` bytes (a message over session.max_payload)."""
        while n:
            if self._r0 == self._r1:
                await self._more(1)
            k = min(n, self._r1 - self._r0)
            self._r0 += k
            n -= k

    async def _packets(self, op=0, pid=0):
        """Read packets, each checked by mqtt_wire's rules: PUBLISH to the
        core (PUBACK written after), PUBACK and SUBACK to the window and the
        subscriptions.  Returns at the ack ``op`` for ``pid`` (setting up: the
        caller's deadline bounds this); with no ``op`` it is the reader task,
        which also dispatches the inbox between packets.  An ack leaves its
        packet id in ``pid``, a SUBACK its codes in ``codes``."""
        rb = self._rb
        limit = self.opts["max_payload"]
        while True:
            if self._r0 == self._r1:    # no deadline: silence is keepalive's
                self._r0 = self._r1 = 0
                # one turn for the other tasks, then what has come in so far
                # straight from the socket; only when nothing has, the wait
                # for it (see _core)
                await asyncio.sleep_ms(0)
                sock = self._s.s
                n = sock.readinto(self._rmv)
                if n is None:
                    if _core:
                        yield _core._io_queue.queue_read(sock)
                    else:
                        await self._s.readinto(self._rmv[0:0])
                    n = sock.readinto(self._rmv)
                self._got(n)
                continue
            self._pkt = time.ticks_ms()
            first = rb[self._r0]
            self._r0 += 1
            k = kind(first)
            n = i = 0
            while True:
                if self._r0 == self._r1:
                    await self._more(1)
                b = rb[self._r0]
                self._r0 += 1
                n = length_byte(n, i, b)
                if b < 0x80:
                    break
                i += 1
            if k == PUBLISH:
                await self._publish_in(first, n, limit)
            else:
                check_ack(first, n, limit)
                if n:
                    if self._r1 - self._r0 < 2:
                        await self._more(2)
                    self.pid = rb[self._r0] << 8 | rb[self._r0 + 1]
                    self._r0 += 2
                    if n > 2:
                        self.codes = await self._take(n - 2)
                self._pkt = None
                if first == op and self.pid == pid:
                    return
                self._ack_in(first)
            if not op and self._in and self._busy < self.tasks:
                self.dispatch()

    def _ack_in(self, first):
        if first == PUBACK:
            if self.puback(self.pid):
                self._acked = self._rx
                self._pump()        # a place in the window
        elif first == SUBACK or first == UNSUBACK:
            w = self._subwait
            if w and w[0][0] == self.pid:
                f = w.pop(0)[1]
                if first == SUBACK:
                    self.suback(f, self.codes)

    async def _publish_in(self, first, n, limit):
        """The body of a PUBLISH of ``n`` bytes (its header read)."""
        rb = self._rb
        head = publish_head(first, n)
        if self._r1 - self._r0 < 2:
            await self._more(2)
        tl = rb[self._r0] << 8 | rb[self._r0 + 1]
        self._r0 += 2
        n = check_topic(tl, head, n)
        dropped = 0
        topic = msg = b""
        if tl > limit:
            await self._skip(tl)
            dropped = n + tl
        elif tl:
            topic = await self._take(tl)
        if head == 4:
            if self._r1 - self._r0 < 2:
                await self._more(2)
            self._ack[2] = rb[self._r0]
            self._ack[3] = rb[self._r0 + 1]
            self._r0 += 2
        if n > limit:
            await self._skip(n)
            dropped = n
        elif n:
            msg = await self._take(n)
        self._pkt = None
        self.received(topic, msg, dropped)
        if head == 4:
            self._w.write(self._ack)
            if self._s.out_buf:
                self._kick.set()    # the writer drains it

    # ----- coroutine handlers ------------------------------------------------

    def run(self, req, awaitable):
        """The core's hook for a coroutine handler: a task of its own, at
        most ``tasks`` at once; more wait their turn."""
        if self._busy < self.tasks:
            self._busy += 1
            asyncio.create_task(self._handler(req, awaitable))
        else:
            self._later.append((req, awaitable))

    async def _handler(self, req, aw):
        while True:
            try:
                result = await aw
                exc = None
            except Exception as e:
                result, exc = None, e
            self.finish(req, result, exc)
            if not self._later:
                break
            req, aw = self._later.pop(0)
        self._busy -= 1
        if self._in:
            self.dispatch()


class _Out:
    """The stream as mqtt_wire's writers see it: ``write(buf, n)``.  What the
    socket takes at once goes straight to it (``n`` passed on: no slice of a
    reused header is made); the rest waits in the asyncio stream, copied,
    for ``drain()``.  Every write stamps the link's last byte out."""

    def __init__(self, dev, s):
        self.dev = dev
        self.s = s

    def write(self, buf, n=None):
        s = self.s
        if n is None:
            n = len(buf)
        w = 0
        if not s.out_buf:
            w = s.s.write(buf, n) or 0
        if w < n:
            s.write(memoryview(buf)[w:n])
        self.dev._tx = time.ticks_ms()


def _address(host, port):
    """The IP address of ``host`` as text, for open_connection (which would
    look it up on every call): lwIP ports give (ip, port) tuples, the unix
    port a struct sockaddr."""
    sa = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    if isinstance(sa, tuple):
        return sa[0]
    if sa[0] == 10:     # AF_INET6 (Linux)
        return socket.inet_ntop(socket.AF_INET6, sa[8:24])
    return socket.inet_ntop(socket.AF_INET, sa[4:8])
