"""A TCP proxy that misbehaves on demand, for resilience tests on loopback.

Sits between a device and the broker.  Faults act on the connections open at
the time of the call (new connections pass normally unless told otherwise):

  cut()        close both ends at once (what a broker crash or an AP reset does)
  blackhole()  keep the sockets open but forward nothing, ever (a half-open
               link: Wi-Fi gone, NAT entry expired, peer powered off)
  stall()      the same, named for its use after part of a packet went through
  reset()      abort both ends with a TCP RST (SO_LINGER 0): the device's next
               read or write fails with ECONNRESET
  slow(delay, chunk)  forward in ``chunk``-byte pieces, ``delay`` s apart
               (a congested or lossy link that is slow but alive)
  refuse       attribute; when true new connections are closed on accept
  accept_mode  attribute for new connections: None (pass), "close" (same as
               ``refuse``), "reset" (RST at once) or "blackhole" (accepted,
               never answered: CONNECT goes nowhere)
  pause() / resume()  stop / start listening: connects fail with ECONNREFUSED

``FaultProxy(port, listen_host="127.0.0.2", listen_port=p)`` listens on
another loopback address (any 127.x.y.z on Linux) and, with ``listen_port``,
on a given port: a second proxy at the same port and a different address
stands for a broker whose DNS name has moved to a new address.

Faults can also wait for a given MQTT packet: ``arm(fault, packet, direction)``
fires when a packet of that type starts to pass in that direction ("up" =
device to broker, "down" = broker to device).  The proxy parses the MQTT
fixed header of each stream (type nibble, variable-length size) to know where
packets start; it does not work on TLS streams.  ``after`` bytes of the
triggering packet are forwarded before the fault (0: none of it; 1: only the
type byte, so the receiver is left mid-packet).
"""

import socket
import struct
import threading
import time

UP = "up"
DOWN = "down"
PACKETS = {"CONNECT": 1, "CONNACK": 2, "PUBLISH": 3, "PUBACK": 4, "PUBREC": 5, "PUBREL": 6,
           "PUBCOMP": 7, "SUBSCRIBE": 8, "SUBACK": 9, "UNSUBSCRIBE": 10, "UNSUBACK": 11,
           "PINGREQ": 12, "PINGRESP": 13, "DISCONNECT": 14}
FAULTS = ("cut", "blackhole", "stall", "reset", "slow")


def _rst(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Framer:
    """Incremental MQTT fixed-header parser: ``feed(data)`` returns the
    (offset, packet type) of every packet that starts inside ``data``."""

    def __init__(self):
        self.state = 0      # 0: next byte starts a packet, 1: in the size, 2: in the body
        self.left = 0
        self.size = 0
        self.mult = 1
        self.count = 0      # packets seen

    def feed(self, data):
        starts = []
        i, n = 0, len(data)
        while i < n:
            if self.state == 2:
                take = min(self.left, n - i)
                i += take
                self.left -= take
                if not self.left:
                    self.state = 0
            elif self.state == 0:
                starts.append((i, data[i] >> 4))
                self.count += 1
                self.state, self.size, self.mult = 1, 0, 1
                i += 1
            else:
                b = data[i]
                i += 1
                self.size += (b & 0x7F) * self.mult
                self.mult *= 128
                if not b & 0x80:
                    self.left = self.size
                    self.state = 2 if self.size else 0
        return starts


class Trigger:
    """A fault waiting for a packet.  ``fired`` holds the monotonic time of
    each firing; ``event`` is set at the first."""

    def __init__(self, fault, packet, direction, after, times, kw):
        if fault not in FAULTS:
            raise ValueError("fault must be one of " + ", ".join(FAULTS))
        if direction not in (UP, DOWN):
            raise ValueError("direction must be 'up' or 'down'")
        self.fault = fault
        self.ptype = PACKETS[packet] if isinstance(packet, str) else packet
        self.direction = direction
        self.after = after
        self.times = times
        self.kw = kw
        self.skip = kw.pop("skip", 0)   # let this many matching packets pass first
        self.fired = []
        self.event = threading.Event()

    def wait(self, timeout=10):
        return self.event.wait(timeout)


class _Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b
        self.silent = False
        self.closed = False
        self.delay = 0.0
        self.chunk = 0
        self.framers = {UP: Framer(), DOWN: Framer()}

    def close(self):
        self.closed = True
        for s in (self.a, self.b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def reset(self):
        self.closed = True
        _rst(self.a)
        _rst(self.b)


class FaultProxy:
    def __init__(self, target_port, target_host="127.0.0.1", listen_host="127.0.0.1",
                 listen_port=0):
        self.target = (target_host, target_port)
        self.host = listen_host
        self.pairs = []
        self.accepted = 0
        self.refuse = False
        self.accept_mode = None
        self.triggers = []
        self._stop = False
        self._lock = threading.Lock()
        self.port = listen_port
        self.srv = None
        self.resume()

    # ----- listening -------------------------------------------------------

    def resume(self):
        """Listen (again, on the same port)."""
        if self.srv is not None:
            return
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(8)
        self.port = s.getsockname()[1]
        self.srv = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def pause(self):
        """Stop listening: new connects are refused by the kernel (RST)."""
        s, self.srv = self.srv, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, srv):
        while not self._stop:
            try:
                a, _ = srv.accept()
            except OSError:
                return
            self.accepted += 1
            mode = "close" if self.refuse else self.accept_mode
            if mode == "close":
                a.close()
                continue
            if mode == "reset":
                _rst(a)
                continue
            if mode == "blackhole":
                p = _Pair(a, socket.socket())
                p.silent = True
                with self._lock:
                    self.pairs.append(p)
                threading.Thread(target=self._pump, args=(p, a, None, UP), daemon=True).start()
                continue
            try:
                b = socket.create_connection(self.target, timeout=5)
                b.settimeout(None)
            except OSError:
                a.close()
                continue
            p = _Pair(a, b)
            with self._lock:
                self.pairs.append(p)
            threading.Thread(target=self._pump, args=(p, a, b, UP), daemon=True).start()
            threading.Thread(target=self._pump, args=(p, b, a, DOWN), daemon=True).start()

    # ----- forwarding ------------------------------------------------------

    def _pump(self, p, src, dst, direction):
        framer = p.framers[direction]
        while not p.closed:
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                if not p.silent:
                    p.close()
                return
            if p.silent:
                continue  # swallow: the other side never hears of it
            hit = self._match(framer.feed(data), direction)
            if hit is not None:
                trig, off = hit
                self._send(p, dst, data[:off + trig.after] if trig.after >= 0 else data)
                self._apply(p, trig)
                if trig.fault != "slow":
                    continue
                data = data[off + trig.after:]
            if not self._send(p, dst, data):
                return

    def _send(self, p, dst, data):
        if not data or p.silent or p.closed:
            return True
        try:
            if p.delay or p.chunk:
                step = p.chunk or len(data)
                for i in range(0, len(data), step):
                    time.sleep(p.delay)
                    dst.sendall(data[i:i + step])
            else:
                dst.sendall(data)
            return True
        except OSError:
            p.close()
            return False

    def _match(self, starts, direction):
        if not starts:
            return None
        with self._lock:
            for off, ptype in starts:
                for t in self.triggers:
                    if t.direction != direction or t.ptype != ptype or len(t.fired) >= t.times:
                        continue
                    if t.skip:
                        t.skip -= 1
                        continue
                    t.fired.append(time.monotonic())
                    t.event.set()
                    return t, off
        return None

    def _apply(self, p, trig):
        f = trig.fault
        if f == "cut":
            p.close()
        elif f in ("blackhole", "stall"):
            p.silent = True
        elif f == "reset":
            p.reset()
        elif f == "slow":
            p.delay = trig.kw.get("delay", 0.05)
            p.chunk = trig.kw.get("chunk", 1)

    def arm(self, fault, packet, direction, after=0, times=1, **kw):
        """Apply ``fault`` to the connection when a ``packet`` (name such as
        "PUBLISH" or type number) starts to pass in ``direction``, ``times``
        times in all.  ``skip=n`` lets the first n matching packets through;
        ``slow`` takes ``delay`` and ``chunk``.  Returns the Trigger."""
        t = Trigger(fault, packet, direction, after, times, kw)
        with self._lock:
            self.triggers.append(t)
        return t

    def disarm(self):
        with self._lock:
            del self.triggers[:]

    # ----- faults now ------------------------------------------------------

    def live(self):
        with self._lock:
            return [p for p in self.pairs if not p.closed]

    def cut(self):
        for p in self.live():
            p.close()

    def blackhole(self):
        for p in self.live():
            p.silent = True

    stall = blackhole

    def reset(self):
        for p in self.live():
            p.reset()

    def slow(self, delay=0.05, chunk=1):
        """Trickle every open connection: ``chunk`` bytes every ``delay`` s."""
        for p in self.live():
            p.delay, p.chunk = delay, chunk

    def close(self):
        self._stop = True
        self.pause()
        self.cut()
