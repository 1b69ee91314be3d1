"""MQTT 3.1.1 packets for a QoS <= 1 client, pure (no sockets, no clock):
the rules a packet from the broker is checked by (``kind``,
``length_byte``, ``check_ack``, ``publish_head``, ``check_topic``,
``connack``) and the builders of what the client sends
(``connect_packet``, ``subscribe_packet``, ``write_publish``).  Both
drivers read and write with them: ``umqtt_link.Link`` (blocking) and
``aio`` (asyncio streams).  A broken packet is a ``ProtocolError`` the
moment it is seen.
"""

from micropython import const

from .errors import ProtocolError

PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBACK = const(0x90)
UNSUBACK = const(0xB0)
PINGRESP = const(0xD0)
# what a broker may send a QoS <= 1 client after CONNACK, with the smallest
# body each may have (exact for PUBACK, UNSUBACK, PINGRESP)
_ACKS = {PUBACK: 2, SUBACK: 3, UNSUBACK: 2, PINGRESP: 0}
_EXACT = (PUBACK, UNSUBACK, PINGRESP)


def write_publish(link, hdr, topic, msg, qos, retain, pid):
    """PUBLISH from a reused header buffer ``hdr`` (7 bytes)."""
    sz = 2 + len(topic) + len(msg) + (2 if qos else 0)
    hdr[0] = PUBLISH | qos << 1 | retain
    i = 1
    while sz > 0x7F:
        hdr[i] = (sz & 0x7F) | 0x80
        sz >>= 7
        i += 1
    hdr[i] = sz
    hdr[i + 1] = len(topic) >> 8
    hdr[i + 2] = len(topic) & 0xFF
    link.write(hdr, i + 3)
    link.write(topic)
    if qos:
        hdr[0] = pid >> 8
        hdr[1] = pid & 0xFF
        link.write(hdr, 2)
    link.write(msg)


def subscribe_packet(filters, pid):
    """One SUBSCRIBE for all (topic, qos) filters, or an UNSUBSCRIBE when
    their qos is None."""
    unsub = filters[0][1] is None
    body = bytearray((pid >> 8, pid & 0xFF))
    for topic, qos in filters:
        _field(body, topic)
        if not unsub:
            body.append(qos)
    return _framed(0xA2 if unsub else 0x82, body)


def connect_packet(cid, user, pw, will, keepalive):
    """CONNECT (MQTT 3.1.1, clean session) for ``Session.login()``'s client
    id, username, password and will; a username always goes with a password
    field, as umqtt.simple sends it."""
    body = bytearray(b"\0\4MQTT\4\2")
    body.append(keepalive >> 8)
    body.append(keepalive & 0xFF)
    _field(body, cid)
    if will:
        body[7] |= 4 | (will[3] & 3) << 3 | (0x20 if will[2] else 0)
        _field(body, will[0])
        _field(body, will[1])
    if user is not None:
        body[7] |= 0xC0
        _field(body, user)
        _field(body, pw or b"")
    return _framed(0x10, body)


def _field(body, b):
    body.append(len(b) >> 8)
    body.append(len(b) & 0xFF)
    body += b


def _framed(first, body):
    n = len(body)
    hdr = bytearray((first,))
    while True:
        hdr.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    return hdr + body


# ----- the rules of a packet from the broker (pure; both readers use them) ---

def kind(first):
    """The type of a packet from the broker by its first byte: PUBLISH (QoS 0
    or 1) or an ack; ProtocolError for anything a QoS <= 1 client must not get."""
    k = first & 0xF0
    if k == PUBLISH:
        qos = first >> 1 & 3
        if qos == 3:
            raise ProtocolError("PUBLISH with QoS 3 (MQTT 3.1.1 3.3.1.2)")
        if qos == 2:
            raise ProtocolError("PUBLISH at QoS 2, above the QoS granted (MQTT 3.1.1 3.8.4)")
    elif k not in _ACKS or first != k:
        raise ProtocolError("unexpected packet %02x from the broker" % first)
    return k


def length_byte(n, i, b):
    """The remaining length ``n`` so far, with its byte number ``i`` (from 0)
    ``b`` added; a fifth byte is a ProtocolError (MQTT 3.1.1 2.2.3).  The
    length is complete when ``b < 0x80``."""
    if i == 3 and b & 0x80:
        raise ProtocolError("remaining length over 4 bytes (MQTT 3.1.1 2.2.3)")
    return n | (b & 0x7F) << 7 * i


def check_ack(first, n, limit):
    """An ack's body length ``n`` against what MQTT allows it."""
    least = _ACKS[first]
    if n < least or (n != least and first in _EXACT) or n > limit:
        raise ProtocolError("packet %02x with a %d-byte body" % (first, n))


def publish_head(first, n):
    """The bytes of an ``n``-byte PUBLISH body that are neither topic nor
    payload: the topic length, and the packet id at QoS 1 (then 4)."""
    head = 4 if first & 6 else 2
    if n < head:
        raise ProtocolError("PUBLISH of %d bytes" % n)
    return head


def check_topic(tl, head, n):
    """The payload length of an ``n``-byte PUBLISH with a ``tl``-byte topic."""
    if tl + head > n:
        raise ProtocolError("topic length %d beyond the %d-byte PUBLISH (MQTT 3.1.1 3.3.2)"
                            % (tl, n))
    return n - tl - head


def connack(b):
    """The return code of the 4-byte CONNACK ``b``."""
    if b[0] != 0x20 or b[1] != 2:
        raise ProtocolError("not a CONNACK: %02x %02x" % (b[0], b[1]))
    return b[3]
