# A stand-in for the network and the broker, for iotlink.aio on a board
# without a link (the emulated Pico W has no radio): an in-memory "socket"
# that asyncio polls like a real one (io.IOBase with ioctl), behind which a
# minimal MQTT 3.1.1 broker answers CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1) and
# PINGREQ, records every uplink and can send a downlink.  With ``hold`` set,
# PUBACKs are held until that many messages wait and then sent newest first,
# so a window of QoS 1 messages is acknowledged out of order.
# MicroPython only: it runs on the board next to the library under test.
import io
import asyncio

_POLL = 3           # MP_STREAM_POLL
_RD = 1             # POLLIN
_WR = 4             # POLLOUT


class Link(io.IOBase):
    def __init__(self):
        self.published = []         # (topic, payload, qos) from the device
        self.subscribed = []        # topic filters
        self.connects = 0
        self.hold = 0
        self.opened()

    def opened(self):
        """A new connection: nothing in either direction."""
        self.up = bytearray()       # bytes from the device, not yet parsed
        self.down = bytearray()     # bytes for the device to read
        self.held = []              # packet ids of PUBACKs not sent yet
        self.closed = False

    # --- the socket the device sees ---
    def readinto(self, buf, n=None):
        if not self.down:
            return None if not self.closed else 0
        k = min(len(buf), len(self.down))
        buf[0:k] = self.down[0:k]
        self.down = self.down[k:]
        return k

    def write(self, buf, n=None):
        if n is None:
            n = len(buf)
        self.up += memoryview(buf)[0:n]
        self._parse()
        return n

    def ioctl(self, req, arg):
        if req == _POLL:
            return (arg & _RD if self.down or self.closed else 0) | (arg & _WR)
        return 0

    def setsockopt(self, *args):
        pass

    def close(self):
        self.closed = True

    # --- the broker ---
    def send(self, topic, payload):
        """A QoS 0 PUBLISH to the device."""
        self.down += _frame(0x30, _str(topic) + payload)

    def _parse(self):
        while len(self.up) >= 2:
            n = 0
            i = 1
            while True:
                if i >= len(self.up):
                    return
                b = self.up[i]
                n |= (b & 0x7F) << 7 * (i - 1)
                i += 1
                if b < 0x80:
                    break
            if len(self.up) < i + n:
                return
            first = self.up[0]
            body = bytes(self.up[i:i + n])
            self.up = self.up[i + n:]
            self._packet(first, body)

    def _packet(self, first, body):
        k = first & 0xF0
        if k == 0x10:       # CONNECT
            self.connects += 1
            self.down += b"\x20\x02\x00\x00"
        elif k == 0x80:     # SUBSCRIBE: one granted QoS per filter
            codes = bytearray()
            j = 2
            while j < len(body):
                tl = body[j] << 8 | body[j + 1]
                self.subscribed.append(body[j + 2:j + 2 + tl])
                codes.append(body[j + 2 + tl])
                j += 3 + tl
            self.down += _frame(0x90, body[0:2] + codes)
        elif k == 0x30:     # PUBLISH
            qos = first >> 1 & 3
            tl = body[0] << 8 | body[1]
            j = 2 + tl + (2 if qos else 0)
            self.published.append((body[2:2 + tl], body[j:], qos))
            if qos:
                self.held.append(body[2 + tl:4 + tl])
                if len(self.held) >= self.hold:
                    self.flush_acks()
        elif k == 0xC0:     # PINGREQ
            self.down += b"\xd0\x00"

    def flush_acks(self):
        while self.held:
            self.down += b"\x40\x02" + self.held.pop()


def _str(b):
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def _frame(first, body):
    # what this broker sends is short: one remaining-length byte
    if len(body) > 127:
        raise ValueError("stand-in packets stay under 128 bytes")
    return bytes((first, len(body))) + body


def install(link):
    """asyncio.open_connection gives ``link`` (as the port's stream) from now on."""
    async def open_connection(host, port, ssl=None):
        link.opened()
        s = asyncio.StreamReader(link)
        return s, s
    asyncio.open_connection = open_connection
