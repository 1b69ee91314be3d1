"""The shim behaves like MicroPython where the tests above rely on it."""

import pytest

import shim
from shim.net import FakeSocket, SocketModule, Poll, WouldBlockForever, POLLIN
from shim.ticks import ticks_ms, ticks_diff, ticks_add, sleep_ms, utime, TICKS_MAX


def connected(**kw):
    s = FakeSocket(**kw)
    s.connect(("192.0.2.1", 1883))
    return s


def test_nonblocking_read_returns_none_when_empty():
    s = connected()
    s.setblocking(False)
    assert s.read(4) is None
    s.feed(b"ab")
    assert s.read(4) == b"ab"                    # short read without blocking
    assert s.read(1) is None


def test_timeout_read_waits_then_raises_etimedout(fake_clock):
    s = connected(rx=b"a")
    s.settimeout(2.5)
    t0 = ticks_ms()
    with pytest.raises(OSError) as e:
        s.read(2)
    assert e.value.args[0] == 110
    assert ticks_diff(ticks_ms(), t0) == 2500


def test_blocking_read_without_data_would_hang():
    s = connected()
    with pytest.raises(WouldBlockForever):
        s.read(1)


def test_eof_gives_short_reads_then_empty():
    s = connected(rx=b"xyz")
    s.settimeout(1)
    s.hangup()
    assert s.read(2) == b"xy" and s.read(5) == b"z" and s.read(1) == b""


def test_write_with_length_and_peer():
    seen = []
    s = connected(peer=lambda sock, data: seen.append(data))
    buf = bytearray(b"\x10\x00\x00\x00")
    assert s.write(buf, 2) == 2
    buf[0] = 0xFF                                # later changes do not reach the wire
    assert bytes(s.tx) == b"\x10\x00" and seen == [b"\x10\x00"]
    s.close()
    with pytest.raises(OSError):
        s.write(b"x")


def test_socket_module_and_poll(fake_clock):
    mod = SocketModule(hosts={"h": "10.0.0.9"})
    s = mod.socket()
    addr = mod.getaddrinfo("h", 8883)[0][-1]
    assert addr == ("10.0.0.9", 8883) and mod.sockets == [s] and mod.lookups == [("h", 8883)]
    s.connect(addr)
    p = Poll()
    p.register(s, POLLIN)
    t0 = ticks_ms()
    assert p.poll(0) == [] and ticks_ms() == t0
    assert p.poll(300) == [] and ticks_diff(ticks_ms(), t0) == 300
    s.feed(b"\x00")
    assert p.poll(1000) == [(s, POLLIN)] and ticks_diff(ticks_ms(), t0) == 300
    with pytest.raises(WouldBlockForever):
        Poll().poll(-1)


def test_refused_connect():
    with pytest.raises(OSError) as e:
        FakeSocket(connect_error=111).connect(("h", 1))
    assert e.value.args[0] == 111


def test_ticks_wrap_and_sleep(fake_clock):
    t0 = ticks_ms()
    sleep_ms(5000)                               # crosses the wrap: see conftest
    t1 = ticks_ms()
    assert t1 < t0 and ticks_diff(t1, t0) == 5000 and ticks_add(t0, 5000) == t1
    assert 0 <= t1 <= TICKS_MAX
    sleep_ms(-5)
    assert ticks_ms() == t1


def test_utime_epochs(fake_clock):
    fake_clock.use_fake(0, unix=946684800 + 86400 + 3661)
    assert utime.time() == 946684800 + 90061 and utime.gmtime()[:6] == (2000, 1, 2, 1, 1, 1)
    fake_clock.epoch = 2000
    assert utime.time() == 90061 and utime.gmtime(0)[:3] == (2000, 1, 1)
    assert utime.mktime((2000, 1, 2, 1, 1, 1, 0, 0)) == 90061
    assert utime.gmtime(0)[6] == 5              # 2000-01-01 was a Saturday (0 = Monday)


def test_machine(fake_clock):
    import machine
    led = machine.Pin(2, machine.Pin.OUT)
    led.on()
    assert machine.Pin(2).value() == 1
    led.toggle()
    assert led() == 0
    edges = []
    button = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
    button.irq(lambda p: edges.append(p.value()), trigger=machine.Pin.IRQ_FALLING)
    machine.Pin.drive(0, 0)
    machine.Pin.drive(0, 1)
    assert edges == [0]
    machine.RTC().datetime((2030, 1, 2, 2, 3, 4, 5, 0))
    fake_clock.advance(61000)
    assert machine.RTC().datetime()[:7] == (2030, 1, 2, 2, 3, 5, 6)
    wdt = machine.WDT(timeout=1000)
    fake_clock.advance(900)
    wdt.feed()
    fake_clock.advance(1001)
    with pytest.raises(SystemExit):
        wdt.feed()
    with pytest.raises(SystemExit):
        machine.reset()
    machine.ADC.values[26] = 32768
    assert machine.ADC(machine.Pin(26)).read_u16() == 32768
    assert isinstance(machine.unique_id(), bytes)


def test_network(fake_clock):
    import network
    network.aps["home"] = "pass1234"
    network.connect_ms = 1500
    sta = network.WLAN(network.STA_IF)
    assert network.WLAN(network.STA_IF) is sta
    with pytest.raises(OSError):
        sta.connect("home", "pass1234")         # not active yet
    sta.active(True)
    sta.connect("home", "wrong")
    fake_clock.advance(1500)
    assert sta.status() == network.STAT_WRONG_PASSWORD and not sta.isconnected()
    sta.connect("home", "pass1234")
    assert sta.status() == network.STAT_CONNECTING
    fake_clock.advance(1499)
    assert not sta.isconnected()
    fake_clock.advance(1)
    assert sta.isconnected() and sta.ifconfig()[0] != "0.0.0.0"
    sta.lose()
    assert not sta.isconnected() and sta.ifconfig()[0] == "0.0.0.0"
    sta.connect("cafe")
    fake_clock.advance(2000)
    assert sta.status() == network.STAT_NO_AP_FOUND


def test_micropython_module():
    import micropython
    assert micropython.const(7) == 7
    got = []
    micropython.schedule(got.append, 3)
    assert got == [3]
