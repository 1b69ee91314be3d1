"""The ``machine`` module of a generic board, enough for application code.

* ``reset()``, ``soft_reset()`` and ``deepsleep()`` raise ``Reset`` (a
  SystemExit): the board would restart there, so nothing after them runs.
* ``Pin``: levels live in ``Pin.board`` keyed by pin id, so two ``Pin(5)``
  objects see the same wire; ``Pin.drive(id, level)`` is an external signal on
  an input and fires an IRQ handler on the matching edge.
* ``RTC``: one clock for all instances, running on the shim clock from the
  last ``datetime(...)`` write (recorded in ``RTC.writes``).
* ``WDT``: ``feed()`` later than ``timeout`` ms after the previous one raises
  ``Reset`` (the board would already have been reset by the watchdog).
* ``ADC``: ``read_u16()`` returns ``ADC.values[id]`` (set by the test).
"""

import time as _time

from . import ticks as _ticks

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

UNIQUE_ID = b"\x24\x0a\xc4\x12\x34\x56"
_freq = 160000000
_reset_cause = PWRON_RESET


class Reset(SystemExit):
    """The board restarts here."""


def unique_id():
    return UNIQUE_ID


def reset():
    raise Reset("machine.reset()")


def soft_reset():
    raise Reset("machine.soft_reset()")


def reset_cause():
    return _reset_cause


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def idle():
    pass


def lightsleep(ms=None):
    if ms is None:
        from .net import WouldBlockForever
        raise WouldBlockForever("lightsleep() with no time and no wake source")
    _ticks.sleep_ms(ms)


def deepsleep(ms=None):
    raise Reset("machine.deepsleep(%s)" % ms)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1
    board = {}        # pin id -> level (0/1), shared by every Pin object
    _irqs = {}        # pin id -> (handler, trigger, Pin)

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.mode = mode
        elif not hasattr(self, "mode"):
            self.mode = self.IN
        if pull != -1:
            self.pull = pull
        if value is not None:
            Pin.board[self.id] = 1 if value else 0
        elif self.id not in Pin.board:
            Pin.board[self.id] = 1 if pull == self.PULL_UP else 0

    def value(self, x=None):
        if x is None:
            return Pin.board.get(self.id, 0)
        Pin.board[self.id] = 1 if x else 0

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):
        self.value(not self.value())

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING):
        Pin._irqs[self.id] = (handler, trigger, self)

    @classmethod
    def drive(cls, id, level):
        """An external signal puts ``level`` on input ``id``."""
        old = cls.board.get(id, 0)
        level = 1 if level else 0
        cls.board[id] = level
        h = cls._irqs.get(id)
        if h and h[0] and old != level:
            if h[1] & (cls.IRQ_RISING if level else cls.IRQ_FALLING):
                h[0](h[2])

    def __repr__(self):
        return "Pin(%s)" % (self.id,)


class RTC:
    _base = None      # (Unix seconds, shim clock ms) at the last write
    writes = []       # every datetime tuple written

    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        if dt is None:
            if RTC._base is None:
                secs = _ticks.clock.unix_us() // 1000000
            else:
                secs = RTC._base[0] + (_ticks.clock.ms() - RTC._base[1]) // 1000
            t = _time.gmtime(secs)
            return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0)
        if len(dt) < 7:
            raise ValueError("datetime: (year, month, day, weekday, hours, minutes, seconds, subseconds)")
        import calendar
        y, mo, d, wd, h, mi, s = dt[:7]
        RTC.writes.append(tuple(dt))
        RTC._base = (calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)), _ticks.clock.ms())

    def init(self, dt):
        self.datetime(dt)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        self._last = _ticks.ticks_ms()

    def feed(self):
        now = _ticks.ticks_ms()
        if _ticks.ticks_diff(now, self._last) > self.timeout:
            raise Reset("watchdog: not fed for %d ms" % _ticks.ticks_diff(now, self._last))
        self._last = now
        self.feeds += 1


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3
    values = {}       # pin id -> raw 16-bit reading

    def __init__(self, pin, atten=None):
        self.id = pin.id if isinstance(pin, Pin) else pin

    def read_u16(self):
        return ADC.values.get(self.id, 0) & 0xFFFF

    def read_uv(self):
        return ADC.values.get(self.id, 0) * 3300000 // 65535


def _reset_state():
    """Back to power-on: used between tests."""
    global _reset_cause, _freq
    _reset_cause = PWRON_RESET
    _freq = 160000000
    Pin.board.clear()
    Pin._irqs.clear()
    RTC._base = None
    del RTC.writes[:]
    ADC.values.clear()
