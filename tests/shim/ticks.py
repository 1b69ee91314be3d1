"""MicroPython's ``time`` API on CPython, driven by a clock tests can stop.

``clock`` is the one time source of the shim.  Real mode (the default) follows
``time.monotonic_ns()`` for ticks and ``time.time()`` for wall time.  Fake mode
(``clock.use_fake()``) stands still until something advances it: a test
(``clock.advance(ms)``), ``sleep_ms``/``sleep_us``/``sleep`` here, a socket
timeout or an empty ``poll()`` in :mod:`shim.net`.  Waiting therefore costs no
real time, and ticks can be started just below the wrap.

Ticks follow a board port: a 30-bit period (``TICKS_PERIOD = 1 << 30``),
``ticks_diff`` = ``((a - b + HALF) & MAX) - HALF`` and ``ticks_add`` refusing
a delta outside +/- half a period ("ticks interval overflow"), as
extmod/modtime.c does.

``utime`` is a whole MicroPython ``time`` module on this clock (``time()`` as
an int, ``gmtime()`` as an 8-tuple, the port epoch 1970 or 2000 chosen with
``clock.epoch``).  ``patch(time)`` only adds the ticks/sleep functions to
CPython's own ``time`` so that ``time.time()`` and friends stay real for
pytest and hypothesis.
"""

import time as _time
import types

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
TICKS_HALFPERIOD = TICKS_PERIOD >> 1
UNIX_2000 = 946684800  # seconds from 1970-01-01 to 2000-01-01


class Clock:
    def __init__(self):
        self.fake = False
        self.epoch = 1970      # the port's epoch year for utime: 1970 or 2000
        self._us = 0           # fake: microseconds on the ticks counter
        self._wall_us = 0      # fake: Unix microseconds when _us was 0

    def use_fake(self, start_ms=0, unix=None):
        """Stop the clock: ticks read ``start_ms`` (masked), wall time ``unix``
        (Unix seconds, default now); both move only when advanced."""
        if unix is None:
            unix = _time.time()
        self.fake = True
        self._us = int(start_ms) * 1000
        self._wall_us = int(unix * 1000000) - self._us

    def use_real(self):
        self.fake = False
        self.epoch = 1970

    def advance(self, ms):
        """Let ``ms`` milliseconds pass (fake mode only)."""
        if not self.fake:
            raise RuntimeError("advance() needs clock.use_fake()")
        if ms < 0:
            raise ValueError("time does not run backwards")
        self._us += int(ms * 1000)

    def sleep_us(self, us):
        if us <= 0:
            return
        if self.fake:
            self._us += int(us)
        else:
            _time.sleep(us / 1000000)

    def us(self):
        """Elapsed microseconds (not masked)."""
        if self.fake:
            return self._us
        return _time.monotonic_ns() // 1000

    def ms(self):
        return self.us() // 1000

    def unix_us(self):
        """Wall time, Unix microseconds."""
        if self.fake:
            return self._wall_us + self._us
        return _time.time_ns() // 1000

    def epoch_offset(self):
        return UNIX_2000 if self.epoch == 2000 else 0


clock = Clock()


def ticks_ms():
    return clock.ms() & TICKS_MAX


def ticks_us():
    return clock.us() & TICKS_MAX


ticks_cpu = ticks_us


def ticks_diff(a, b):
    return ((a - b + TICKS_HALFPERIOD) & TICKS_MAX) - TICKS_HALFPERIOD


def ticks_add(t, delta):
    if not -TICKS_HALFPERIOD < delta < TICKS_HALFPERIOD:
        raise OverflowError("ticks interval overflow")
    return (t + delta) & TICKS_MAX


def sleep_ms(ms):
    clock.sleep_us(int(ms) * 1000)  # MicroPython ignores a negative delay


def sleep_us(us):
    clock.sleep_us(int(us))


def sleep(s):
    clock.sleep_us(int(s * 1000000))


# ----- utime: the whole MicroPython time module on the shim clock ---------

def _time_now():
    return clock.unix_us() // 1000000 - clock.epoch_offset()


def _gmtime(secs=None):
    if secs is None:
        secs = _time_now()
    t = _time.gmtime(int(secs) + clock.epoch_offset())
    # MicroPython: (year, month, mday, hour, minute, second, weekday 0=Mon, yearday)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)


def _mktime(t):
    import calendar
    return calendar.timegm(tuple(t[:6]) + (0, 0, 0)) - clock.epoch_offset()


def _time_ns():
    return (clock.unix_us() - clock.epoch_offset() * 1000000) * 1000


utime = types.ModuleType("utime", "MicroPython's time module on the shim clock")
for _name, _fn in (("time", _time_now), ("time_ns", _time_ns), ("gmtime", _gmtime),
                   ("localtime", _gmtime), ("mktime", _mktime), ("sleep", sleep),
                   ("sleep_ms", sleep_ms), ("sleep_us", sleep_us), ("ticks_ms", ticks_ms),
                   ("ticks_us", ticks_us), ("ticks_cpu", ticks_cpu), ("ticks_add", ticks_add),
                   ("ticks_diff", ticks_diff)):
    setattr(utime, _name, _fn)

_EXTRA = ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us")


def patch(time_module):
    """Give CPython's ``time`` the MicroPython-only functions (on the shim clock)."""
    for name in _EXTRA:
        setattr(time_module, name, globals()[name])
