"""Frame and field codecs (pure), with the document's example bytes."""

import random

import pytest

from iotlink.apis import alientek as A
from iotlink import ws
from iotlink.errors import ConfigError

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

# the document's example: "设备编号 0x31 0x38 0x38 ..." and the NB-IoT one
DOC_NUMBER = bytes([0x31, 0x38, 0x38, 0x34, 0x36, 0x34, 0x39, 0x34, 0x39, 0x30,
                    0x38, 0x35, 0x33, 0x32, 0x36, 0x38, 0x39, 0x35, 0x37, 0x35])
DOC_NB = bytes([0x62, 0x36, 0x64, 0x38, 0x35, 0x36, 0x33, 0x34, 0x2d, 0x39, 0x64, 0x33, 0x34, 0x2d,
                0x34, 0x30, 0x35, 0x32, 0x2d, 0x38, 0x30, 0x63, 0x64, 0x2d, 0x62, 0x38, 0x34, 0x30,
                0x62, 0x37, 0x35, 0x63, 0x62, 0x39, 0x31, 0x30])


def test_outgoing_frames_match_the_document():
    assert A.frame(A.SUB, "18846494908532689575") == b"\x01" + DOC_NUMBER
    assert A.frame(A.UNSUB, DOC_NUMBER) == b"\x02" + DOC_NUMBER
    assert A.frame(A.TO_DTU, "18846494908532689575", b"\xd5\xfd") == b"\x03" + DOC_NUMBER + b"\xd5\xfd"
    assert A.frame(A.TO_DTU, "18846494908532689575", "开") == b"\x03" + DOC_NUMBER + "开".encode()
    nb = A.frame(A.TO_NB, DOC_NB.decode(), b"x")
    # 37-byte number field as documented; the example number (36) NUL-padded
    assert nb == b"\x07" + DOC_NB + b"\x00" + b"x" and len(nb) == 1 + 37 + 1
    assert A.frame(A.TO_NB, DOC_NB.decode(), b"x", nb_len=36) == b"\x07" + DOC_NB + b"x"


def test_incoming_frames():
    assert A.parse(b"\x04" + DOC_NUMBER) == (4, "18846494908532689575", b"")
    assert A.parse(b"\x05" + DOC_NUMBER) == (5, "18846494908532689575", b"")
    assert A.parse(b"\x04") == (4, None, b"")   # tolerated: number absent
    assert A.parse(b"\x06" + DOC_NUMBER + b"ALIENTEK-HRTDT") == (6, "18846494908532689575", b"ALIENTEK-HRTDT")
    assert A.parse(b"\x06" + DOC_NUMBER) == (6, "18846494908532689575", b"")
    assert A.parse(b"\x08" + DOC_NB + b"\x00" + b"42") == (8, DOC_NB.decode(), b"42")
    assert A.parse(b"\x08" + DOC_NB + b"42", nb_len=36) == (8, DOC_NB.decode(), b"42")
    assert A.parse(bytearray(b"\x06" + DOC_NUMBER + b"\x00\xff")) == (6, "18846494908532689575", b"\x00\xff")


@pytest.mark.parametrize("bad", [b"", b"\x06", b"\x06123", b"\x06" + b"1234567890123456789x" + b"p",
                                 b"\x08" + DOC_NB, b"\x09" + DOC_NUMBER, b"\xff", b"\x00" + DOC_NUMBER])
def test_malformed_frames_raise_value_error(bad):
    with pytest.raises(ValueError):
        A.parse(bad)


def test_random_frames_only_ever_raise_value_error():
    rnd = random.Random(6455)
    for _ in range(3000):
        b = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 60)))
        if rnd.random() < 0.5 and b:
            b = bytes((rnd.randrange(1, 9),)) + DOC_NUMBER[:rnd.randrange(0, 21)] + b
        try:
            op, number, payload = A.parse(b)
        except ValueError:
            continue
        assert 1 <= op <= 8 and isinstance(payload, bytes)


@pytest.mark.parametrize("number", ["1884649490853268957", "188464949085326895755", "1884649490853268957x", 12])
def test_bad_numbers_are_refused_before_sending(number):
    with pytest.raises((ValueError, TypeError)):
        A.frame(A.TO_DTU, number, b"x")


def test_hex_packet_decoding_and_fallback():
    # the document's history sample: "ALIENTEK-HRTDT", and a GBK one across a line break
    assert A.hex_bytes("41 4C 49 45 4E 54 45 4B 2D 48 52 54 44 54") == b"ALIENTEK-HRTDT"
    assert A.hex_bytes("D5 FD B5 E3\nD4 AD") == "正点原".encode("gbk")
    assert A.hex_bytes("414C") == b"AL"
    assert A.hex_bytes("online") == b"online"          # not hex: the text itself
    assert A.hex_bytes("41 4C 4") == b"41 4C 4"
    assert A.hex_bytes(None) == b""


def test_history_time_bounds():
    assert A._when("2020-04-24 02:12:35", "start") == "2020-04-24%2002%3A12%3A35"
    assert A._when((2020, 4, 24, 2, 12, 35, 0, 0), "end") == "2020-04-24%2002%3A12%3A35"
    for bad in ("2020-04-24T02:12:35", "2020-4-24 02:12:35", 1587694355, "2020-04-24 02:12:3x"):
        with pytest.raises(ValueError, match="start"):
            A._when(bad, "start")


def test_websocket_accept_key_rfc6455_vector():
    # RFC 6455 section 1.3
    assert ws.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_url_parsing():
    assert ws.parse_url("wss://cloud.alientek.com/connection/t/org/1?token=x") == \
        (True, "cloud.alientek.com", 443, "/connection/t/org/1?token=x")
    assert ws.parse_url("ws://127.0.0.1:8080") == (False, "127.0.0.1", 8080, "/")
    assert ws.parse_url("ws://h?x=1") == (False, "h", 80, "/?x=1")
    with pytest.raises(ValueError):
        ws.parse_url("http://h/")


def test_uuid4_shape():
    u = A.uuid4()
    parts = u.split("-")
    assert [len(p) for p in parts] == [8, 4, 4, 4, 12] and parts[2][0] == "4" and u != A.uuid4()


def test_session_config_errors_name_the_field_and_hide_the_token():
    base = {"type": "alientek", "token": "0115b0e4a89f7819ea88f81006117646", "org_id": 1, "ca": "ca.der"}
    cases = [({"token": None}, "cloud.token"), ({"org_id": "1"}, "cloud.org_id"),
             ({"ws": "http://x"}, "cloud.ws"), ({"ca": None}, "cloud.ca"),
             ({"devices": ["1" * 40]}, "cloud.devices[0]"), ({"keepalive": 0}, "cloud.keepalive"),
             ({"type": "iotda"}, "cloud.type")]
    for change, field in cases:
        c = dict(base)
        c.update(change)
        c = {k: v for k, v in c.items() if v is not None}
        with pytest.raises(ConfigError) as e:
            A.Session({"cloud": c})
        assert str(e.value).startswith(field) and base["token"] not in str(e.value)
    s = A.Session({"cloud": dict(base, devices=["18846494908532689575"])})
    assert base["token"] not in repr(s) and base["token"] not in repr(s.api())
    assert s.url().startswith("wss://cloud.alientek.com/connection/%s/org/1?token=" % base["token"])


def test_atk_number_and_password_checked():
    from iotlink.drivers.atk import ATK
    for number, password, field in (("1884649490853268957", "12345678", "atk.number"),
                                    ("1884649490853268957a", "12345678", "atk.number"),
                                    ("18846494908532689575", "1234567", "atk.password"),
                                    ("18846494908532689575", "abcdefgh", "atk.password"),
                                    ("18846494908532689575", 12345678, "atk.password")):
        with pytest.raises(ConfigError) as e:
            ATK(object(), number, password)
        assert str(e.value).startswith(field) and "12345678" not in str(e.value)
