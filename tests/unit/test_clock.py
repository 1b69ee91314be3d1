"""clock.py: formatting, port epochs, the ticks anchor across wraps, NTP."""

import datetime
import importlib.util
import socket
import struct
import sys
import threading

import pytest
from hypothesis import given, settings, strategies as st

import shim
from shim.ticks import utime, TICKS_PERIOD
from iotlink import clock as lib_clock

DAY_MS = 86400000
NTP_DELTA = 2208988800
UNIX_2000 = 946684800


def fresh_clock(epoch=1970):
    """A new copy of clock.py on a port whose ``time`` is the shim's utime
    with the given epoch (ESP32/RP2 count from 2000)."""
    shim.clock.epoch = epoch
    spec = importlib.util.spec_from_file_location("clock_%d" % epoch, lib_clock.__file__)
    mod = importlib.util.module_from_spec(spec)
    saved = sys.modules["time"]
    sys.modules["time"] = utime
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules["time"] = saved
    return mod


def utc(unix):
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc)


# ----- formatting ----------------------------------------------------------

KNOWN = [
    (0, "1970010100", "19700101T000000Z"),
    (UNIX_2000, "2000010100", "20000101T000000Z"),
    (951782400, "2000022900", "20000229T000000Z"),       # leap day
    (1744592400 + 59 * 60 + 59, "2025041401", "20250414T015959Z"),  # IoTDA doc example hour
    (4102444799, "2099123123", "20991231T235959Z"),
]


@pytest.mark.parametrize("epoch,unix,ymdh,compact",
                         [(e,) + k for e in (1970, 2000) for k in KNOWN if k[0] >= UNIX_2000 or e == 1970])
def test_known_instants(epoch, unix, ymdh, compact):
    c = fresh_clock(epoch)
    assert c.ymdh(unix) == ymdh
    assert c.compact(unix) == compact
    assert tuple(c.gmtime(unix)[:6]) == tuple(utc(unix).timetuple()[:6])


@settings(max_examples=200, deadline=None)
@given(unix=st.integers(UNIX_2000, 4102444799), epoch=st.sampled_from([1970, 2000]))
def test_formatting_matches_datetime(unix, epoch):
    c = fresh_clock(epoch)
    d = utc(unix)
    assert c.ymdh(unix) == d.strftime("%Y%m%d%H")
    assert c.compact(unix) == d.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("epoch,offset", [(1970, 0), (2000, UNIX_2000)])
def test_epoch_is_detected(epoch, offset):
    c = fresh_clock(epoch)
    assert c.EPOCH == offset


@pytest.mark.parametrize("epoch", [1970, 2000])
def test_unsynced_now_is_unix_time_on_any_epoch(epoch, fake_clock):
    fake_clock.use_fake(0, unix=1700000000.25)
    c = fresh_clock(epoch)
    assert not c.synced()
    assert c.now() == 1700000000
    assert c.ymdh() == utc(1700000000).strftime("%Y%m%d%H")
    fake_clock.advance(3600 * 1000)
    assert c.now() == 1700003600


def test_unsynced_now_ms_is_an_int_when_time_is_a_float():
    # CPython's and the unix port's time.time() return a float
    assert isinstance(lib_clock.now_ms(), int)
    assert isinstance(lib_clock.now(), int)


@pytest.mark.parametrize("epoch", [1970, 2000])
def test_set_writes_rtc_in_utc(epoch, fake_clock):
    import machine
    c = fresh_clock(epoch)
    unix_ms = 1744592400 * 1000 + 3723 * 1000 + 456      # 2025-04-14 02:02:03.456 Monday
    c.set(unix_ms)
    d = utc(unix_ms // 1000)
    assert machine.RTC.writes == [(d.year, d.month, d.day, d.weekday(), d.hour, d.minute, d.second, 0)]
    assert c.synced()
    assert c.now_ms() == unix_ms


# ----- the ticks anchor ----------------------------------------------------

@pytest.mark.parametrize("epoch", [1970, 2000])
def test_now_ms_follows_ticks_across_wraps_with_daily_calls(epoch, fake_clock):
    c = fresh_clock(epoch)
    start = 1744592400123
    c.set(start)
    elapsed = 0
    step = 3600 * 1000
    wraps = 0
    last = shim.ticks.ticks_ms()
    while elapsed < 40 * DAY_MS:                       # > 3 ticks periods
        fake_clock.advance(step)
        elapsed += step
        t = shim.ticks.ticks_ms()
        wraps += t < last
        last = t
        if elapsed % (6 * step) == 0:                   # looked at four times a day
            assert c.now_ms() == start + elapsed
    assert wraps >= 3
    assert c.now() == (start + elapsed) // 1000


@pytest.mark.parametrize("gap_days", [5, 7, 13, 30])
def test_now_ms_survives_a_long_gap_without_calls(gap_days, fake_clock):
    """Nothing reads the clock for days (a board that reports weekly): more
    than half a ticks period (6.2 days) must not send the time backwards."""
    c = fresh_clock(2000)
    start = 1744592400000
    c.set(start)
    fake_clock.advance(gap_days * DAY_MS + 1234)
    assert c.now_ms() == start + gap_days * DAY_MS + 1234


def test_set_anchors_at_current_ticks(fake_clock):
    c = fresh_clock()
    fake_clock.advance(5000)
    c.set(1000000)
    fake_clock.advance(250)
    assert c.now_ms() == 1000250
    c.set(2000000)                                       # a later sync replaces the anchor
    assert c.now_ms() == 2000000


# ----- NTP -----------------------------------------------------------------

class NtpServer:
    """A tiny NTP responder on 127.0.0.1 answering with ``reply(request)``."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(512)
            except OSError:
                continue
            self.requests.append(data)
            out = self.reply(data)
            if out is not None:
                self.sock.sendto(out, addr)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def ntp_reply(unix_ms, era=0):
    secs = unix_ms // 1000 + NTP_DELTA - era * (1 << 32)
    frac = (unix_ms % 1000) * (1 << 32) // 1000
    pkt = bytearray(48)
    pkt[0] = 0x1C                   # LI 0, version 3, server
    pkt[1] = 2                      # stratum
    struct.pack_into("!II", pkt, 40, secs, frac)
    return bytes(pkt)


@pytest.mark.parametrize("unix_ms", [
    1893456000250,                  # 2030-01-01 00:00:00.250
    2085978496000 + 86400 * 1000,   # 2036-02-08: the NTP seconds field has wrapped (era 1)
])
def test_ntp_sets_the_clock(unix_ms):
    import machine
    era = 1 if unix_ms // 1000 + NTP_DELTA >= 1 << 32 else 0
    with NtpServer(lambda req: ntp_reply(unix_ms, era)) as srv:
        got = lib_clock.ntp("127.0.0.1", srv.port, timeout_ms=2000)
    assert len(srv.requests) == 1
    assert len(srv.requests[0]) == 48 and srv.requests[0][0] & 0x07 == 3   # client mode
    assert abs(got - unix_ms) < 1000
    assert lib_clock.synced()
    assert abs(lib_clock.now_ms() - unix_ms) < 2000
    d = utc(got // 1000)
    assert machine.RTC.writes[-1][:3] == (d.year, d.month, d.day)


@pytest.mark.parametrize("reply", [
    lambda req: b"\x1c" + bytes(20),                    # short
    lambda req: bytes(48),                              # no time in it
    lambda req: None,                                   # silence: the timeout
])
def test_ntp_bad_replies_raise_oserror(reply):
    with NtpServer(reply) as srv:
        with pytest.raises(OSError):
            lib_clock.ntp("127.0.0.1", srv.port, timeout_ms=300)
    assert not lib_clock.synced()


def test_ticks_period_is_30_bits():
    # the shim's ticks must behave like a board's for the tests above to mean anything
    t = shim.ticks
    assert t.ticks_add(TICKS_PERIOD - 1, 1) == 0
    assert t.ticks_diff(0, TICKS_PERIOD - 1) == 1
    assert t.ticks_diff(TICKS_PERIOD - 1, 0) == -1
    assert t.ticks_diff(t.ticks_add(5, TICKS_PERIOD // 2 - 1), 5) == TICKS_PERIOD // 2 - 1
    with pytest.raises(OverflowError):
        t.ticks_add(0, TICKS_PERIOD // 2)
