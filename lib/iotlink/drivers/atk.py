"""A board as an ALIENTEK 原子云 device through an ATK Wi-Fi module or DTU.

The cloud's own device protocol is not public; ALIENTEK's modules speak it.
The board drives the module on a UART with AT commands, then the UART is a
transparent pipe to the cloud:

    from machine import UART
    from iotlink.drivers.atk import ATK
    m = ATK(UART(1, 115200, tx=17, rx=16), "12345678901234567890", "12345678")
    @m.on("data")
    def data(req):           # req.params: bytes an app sent to this device
        m.send(b"got " + req.params)
    m.connect()
    while True:
        m.poll(1000)

``uart`` is anything with ``read(n)`` (bytes or None), ``write(b)`` and
``any()``.  ``reset`` is an optional callable that pulses the module's RST
pin; without it the driver leaves transparent mode with ``+++`` and sends
``AT+RST``.  A link drop (the module prints ``CLOUD DISCONNECT``) is followed
by a reset and a new login with jittered backoff; bytes sent meanwhile wait in
a small outbox.
"""

import time
from micropython import const

from .. import log
from ..errors import ConfigError
from ..request import Request, DATA
from ..linkbase import LinkBase, Outbox

_URC_DOWN = b"CLOUD DISCONNECT"
_TAIL = const(64)


def _digits(s, n, name):
    if not isinstance(s, str) or len(s) != n or not s.isdigit():
        raise ConfigError("%s: must be %d digits" % (name, n))
    return s


class ATK(LinkBase):
    def __init__(self, uart, number, password, timeout_ms=10000, reset=None, guard_ms=1000,
                 boot_ms=5000, gap_ms=20, max_chunk=1024, outbox=8,
                 backoff_min_ms=1000, backoff_max_ms=30000):
        self.number = _digits(number, 20, "atk.number")
        self._password = _digits(password, 8, "atk.password")
        log.secret(password)
        self.uart = uart
        self.timeout_ms = timeout_ms
        self._reset_pin = reset
        self.guard_ms = guard_ms
        self.boot_ms = boot_ms
        self.gap_ms = gap_ms
        self.max_chunk = max_chunk
        self.outbox = outbox
        self.opts = {"backoff_min_ms": backoff_min_ms, "backoff_max_ms": backoff_max_ms,
                     "stable_ms": 0, "auth_retry_ms": backoff_max_ms}
        LinkBase.__init__(self, time.ticks_ms(), {
            "connects": 0, "reconnects": 0, "received": 0, "sent": 0, "dropped": 0,
            "link_errors": 0, "handler_errors": 0, "resets": 0})
        self._out = Outbox(max(1, outbox))

    def __repr__(self):
        return "<ATK %s %s>" % (self.number, "up" if self.connected else "down")

    # ----- UART helpers ----------------------------------------------------

    def _read(self):
        n = self.uart.any()
        if not n:
            return b""
        return self.uart.read(min(n, self.max_chunk)) or b""

    def _drain(self):
        while self._read():
            pass

    def _expect(self, words, timeout_ms):
        """Wait for one of ``words`` (bytes) on the UART; return it, or None
        after ``timeout_ms``."""
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        tail = b""
        while True:
            b = self._read()
            if b:
                tail = (tail + b)[-_TAIL - 32:]
                for w in words:
                    if w in tail:
                        return w
            elif time.ticks_diff(end, time.ticks_ms()) <= 0:
                return None
            else:
                time.sleep_ms(5)

    # ----- link ------------------------------------------------------------

    def connect(self):
        """Log in to the cloud (AT+ATKCLDSTA) and enter transparent mode.
        OSError when the module refuses or ``CLOUD CONNECTED`` does not come
        within ``timeout_ms``."""
        self._drain()
        self.uart.write(('AT+ATKCLDSTA="%s","%s"\r\n' % (self.number, self._password)).encode())
        w = self._expect((b"CLOUD CONNECTED", b"ERROR", b"FAIL"), self.timeout_ms)
        if w != b"CLOUD CONNECTED":
            raise OSError("ATK module: %s" % ("no CLOUD CONNECTED within %d ms" % self.timeout_ms
                                              if w is None else "login refused (number/password?)"))
        self._drain()
        self.up(time.ticks_ms(), "the cloud through the ATK module")
        while len(self._out) and self.connected:
            self._write(self._out.pop())
        return True

    def close(self):
        """AT+ATKCLDCLS; a reset when the module does not confirm."""
        if self.connected:
            self.connected = False
            time.sleep_ms(self.gap_ms * 2)
            self.uart.write(b"AT+ATKCLDCLS\r\n")
            if self._expect((_URC_DOWN,), min(self.timeout_ms, 3000)) is None:
                self.reset()
            self._status("down", "closed")

    def reset(self):
        """Reset the module (RST pin, or ``+++`` then AT+RST) and wait for
        ``ready``.  True when it came back."""
        self.connected = False
        self.stats["resets"] += 1
        if self._reset_pin:
            self._reset_pin()
        else:
            time.sleep_ms(self.guard_ms)
            self.uart.write(b"+++")
            time.sleep_ms(self.guard_ms)
            self.uart.write(b"AT+RST\r\n")
        ok = self._expect((b"ready",), self.boot_ms) is not None
        time.sleep_ms(self.gap_ms)
        self._drain()
        if not ok:
            log.warn("ATK module: no 'ready' within %d ms after reset", self.boot_ms)
        return ok

    def _lost(self, why):
        # the login had worked: the first retry is prompt
        self.lost(OSError(why), time.ticks_ms(), True)

    def _reconnect(self):
        try:
            self.reset()
            self.connect()
        except Exception as e:
            self.failed(e, time.ticks_ms())

    # ----- data ------------------------------------------------------------

    def send(self, data):
        """Bytes (or str) to the cloud; kept in the outbox while the link is down."""
        if isinstance(data, str):
            data = data.encode()
        if self.connected:
            self._write(data)
            return
        if self._out.put(bytes(data)) is not None:
            self.stats["dropped"] += 1

    def _write(self, data):
        self.uart.write(data)
        self.stats["sent"] += 1

    def poll(self, timeout_ms=0):
        """Deliver received data, notice a dropped link, reconnect when due."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            if not self.connected and not self.connect_in(time.ticks_ms()):
                self._reconnect()
            if self.connected:
                b = self._read()
                if b:
                    self._gather(b)
                    continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return
            time.sleep_ms(5)

    def _gather(self, b):
        """One message: bytes until a ``gap_ms`` pause (or max_chunk)."""
        buf = bytearray(b)
        last = time.ticks_ms()
        while len(buf) < self.max_chunk and time.ticks_diff(time.ticks_ms(), last) < self.gap_ms:
            more = self._read()
            if more:
                buf += more
                last = time.ticks_ms()
            else:
                time.sleep_ms(2)
        buf = bytes(buf)
        i = buf.find(_URC_DOWN)
        if i >= 0:
            data = buf[:i].rstrip(b"\r\n")
            if data:
                self._deliver(data)
            self._lost("the module reported CLOUD DISCONNECT")
            return
        self._deliver(buf)

    def _deliver(self, data):
        self.stats["received"] += 1
        fn = self._handlers.get(DATA)
        if fn is None:
            return
        try:
            fn(Request(DATA, None, data))
        except Exception as e:
            self.stats["handler_errors"] += 1
            log.warn("data handler raised %s: %s", type(e).__name__, e)
