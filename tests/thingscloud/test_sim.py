"""The local ThingsCloud's answer to a report: it must come at once, so that
what a device's report rate measures against it is the device."""

import socket
import struct
import time


def _pkt(kind, body):
    n, size = len(body), b""
    while True:
        b, n = n & 0x7F, n >> 7
        size += bytes((b | (0x80 if n else 0),))
        if not n:
            return bytes((kind,)) + size + body


def _s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


class _Client:
    """Just enough MQTT 3.1.1 over a socket with TCP_NODELAY (as the Device sets)."""

    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sock.sendall(_pkt(0x10, _s("MQTT") + bytes((4, 0xC2)) + struct.pack(">H", 60) +
                               _s("rate-probe") + _s(user) + _s(password)))
        assert self.read() == (0x20, b"\x00\x00")

    def read(self):
        while True:
            if len(self.buf) >= 2:
                n, mul, i = 0, 1, 1
                while i < len(self.buf):
                    n += (self.buf[i] & 0x7F) * mul
                    mul *= 128
                    i += 1
                    if not self.buf[i - 1] & 0x80:
                        break
                if len(self.buf) >= i + n:
                    kind, body = self.buf[0], self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    return kind, body
            more = self.sock.recv(65536)
            assert more, "connection closed"
            self.buf += more


def test_report_answered_without_a_delayed_ack_stall(sim):
    """A QoS 1 ``attributes`` report gets its PUBACK and its
    attributes/response within a few ms.  (Both go to the device over the same
    broker socket a moment apart; with Nagle on there, the response waited
    for the delayed ACK of the PUBACK: ~40 ms a report.)"""
    d = sim.add_device("rate-probe")
    c = _Client(sim.port, d["access_token"], sim.project_key)
    try:
        c.sock.sendall(_pkt(0x82, struct.pack(">H", 1) + _s("attributes/response") + b"\x00"))
        assert c.read()[0] == 0x90
        took = []
        for pid in range(2, 62):
            t0 = time.monotonic()
            c.sock.sendall(_pkt(0x32, _s("attributes") + struct.pack(">H", pid) + b'{"t":1}'))
            got = set()
            while len(got) < 2:
                kind, body = c.read()
                if kind & 0xF0 == 0x30:
                    assert b'"result": 1' in body or b'"result":1' in body
                    got.add("response")
                elif kind == 0x40 and struct.unpack(">H", body[:2])[0] == pid:
                    got.add("puback")
            took.append(time.monotonic() - t0)
        took.sort()
        assert took[len(took) // 2] < 0.02, "median report round trip %.1f ms" % (took[len(took) // 2] * 1000)
        assert sim.devices[d["id"]]["attributes"]["t"]["value"] == 1
    finally:
        c.sock.close()
