"""UTC time for cloud protocols, whatever the port's epoch and RTC state.

``now()`` is Unix seconds (UTC).  Ports count from 1970 (unix) or 2000 (ESP32,
RP2); the difference is derived from ``time.gmtime(0)``, never assumed.  After
``set()`` (from NTP or a cloud's time sync) time is kept as an anchor plus
``ticks_ms`` so it stays right even where the RTC cannot be written, and the
anchor is moved forward daily so ``ticks_diff`` never wraps.  When nothing
reads the clock for longer than half a ticks period (6.2 days on boards) the
port clock, coarse but never wrapping, tells how many periods went by.
"""

import time
from micropython import const

# seconds from 1970-01-01 to this port's epoch
EPOCH = 0 if time.gmtime(0)[0] == 1970 else 946684800
_NTP_DELTA = const(2208988800)  # 1900 -> 1970
_NTP_MIN = 3913056000  # 2024-01-01 in NTP seconds: anything below is NTP era 1 (2036+)
_DAY_MS = const(86400000)

_anchor_ms = None  # Unix ms at _anchor_ticks
_anchor_ticks = 0
_anchor_s = 0      # time.time() at _anchor_ticks


def synced():
    """True once set() has run (NTP or a cloud's time sync)."""
    return _anchor_ms is not None


def now_ms():
    global _anchor_ms, _anchor_ticks, _anchor_s
    if _anchor_ms is None:
        return int((time.time() + EPOCH) * 1000)  # time() is a float on some ports
    t = time.ticks_ms()
    s = time.time()
    d = time.ticks_diff(t, _anchor_ticks)
    # whole ticks periods that ticks_diff cannot see, from the coarse clock
    p = time.ticks_add(0, -1) + 1  # the ticks period: 2**30 on boards
    d += (int((s - _anchor_s) * 1000) - d + p // 2) // p * p
    if d > _DAY_MS:
        _anchor_ms += d
        _anchor_ticks = t
        _anchor_s = s
        d = 0
    return _anchor_ms + d


def now():
    return now_ms() // 1000


def set(unix_ms):
    """Set UTC (Unix milliseconds); also writes the board RTC where there is one."""
    global _anchor_ms, _anchor_ticks, _anchor_s
    _anchor_ms = int(unix_ms)
    _anchor_ticks = time.ticks_ms()
    try:
        import machine
        tm = time.gmtime(_anchor_ms // 1000 - EPOCH)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))
    except Exception:
        pass  # no RTC (unix port): the anchor alone keeps time
    _anchor_s = time.time()  # after the RTC write, which moves it


def gmtime(unix=None):
    """time.gmtime() of a Unix time (default now), independent of the port epoch."""
    return time.gmtime((now() if unix is None else int(unix)) - EPOCH)


def ymdh(unix=None):
    """YYYYMMDDHH in UTC."""
    t = gmtime(unix)
    return "%04d%02d%02d%02d" % (t[0], t[1], t[2], t[3])


def compact(unix=None):
    """yyyyMMddTHHmmssZ in UTC."""
    t = gmtime(unix)
    return "%04d%02d%02dT%02d%02d%02dZ" % t[:6]


def ntp(host="pool.ntp.org", port=123, timeout_ms=2000):
    """Ask an NTP server for the time, set the clock and return Unix ms."""
    import socket
    import struct
    pkt = bytearray(48)
    pkt[0] = 0x1B  # LI 0, version 3, client
    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout_ms / 1000)
        t0 = time.ticks_ms()
        s.sendto(pkt, addr)
        data = s.recv(48)
        rtt = time.ticks_diff(time.ticks_ms(), t0)
    finally:
        s.close()
    if len(data) < 48:
        raise OSError("short NTP reply")
    secs, frac = struct.unpack("!II", data[40:48])
    if secs == 0:
        raise OSError("NTP server sent no time")
    if secs < _NTP_MIN:
        secs += 0x100000000  # the 32-bit seconds field wraps on 2036-02-07
    ms = (secs - _NTP_DELTA) * 1000 + (frac * 1000 >> 32) + rtt // 2
    set(ms)
    return ms
