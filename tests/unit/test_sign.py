"""sign.py against published vectors and CPython's hmac/hashlib."""

import hashlib
import hmac
import types

import pytest
from hypothesis import given, settings, strategies as st

from iotlink import md5, sign

# Huawei IoTDA password = hex(HMAC-SHA256(key=timestamp, msg=secret))
IOTDA = [
    ("12345678", "2025041401", "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"),
    ("a1b2c3d4e5f6", "2024010100", "d60b713568c93fdc446c969d8b6b5090df006210bbb5a70ac97c43130bc5e003"),
    ("MySecret_2024!", "2025123123", "0b4acdd4e50f955e44eacd2e26e429d1a0ab2a9a654e827808b48952961ad82c"),
    ("0123456789abcdef0123456789abcdef", "2019120219",
     "47765ebe207c47938dbe873b422791156914f2b38156046258bbbdc1f7076baa"),
]
IOTDA_SWAPPED = "75e7262705ff85203403e600f652133f9cac4e4d1400b44f3582e778a97f6c36"

# iotkit password = md5_hex(productSecret + clientId), with the wrong orders
IOTKIT = [
    ("mySecret0123456789abcdefghijklmn", "hbtgIA0SuVw9lxjB_AA:BB:CC:DD:22_GW01",
     "ca970423a151a7757cdec99498ad0c31", "0a9df08c8d57b02ee488773aee10743d"),
    ("0123456789abcdef0123456789abcdef", "Rf4QSjbm65X45753_ABC12300002_S01",
     "e1bf7edb5be7d4b7907bd5609d32f48c", "2c0e8a2b80e66502a99d403de0788766"),
    ("secret", "pk123_dev001_esp32",
     "1105afe7e52a05222a1055318f772910", "350072b6119412447a472e8f9fc9f637"),
]


@pytest.mark.parametrize("secret,ts,password", IOTDA)
def test_iotda_password_vectors(secret, ts, password):
    assert sign.hmac_sha256_hex(ts, secret) == password
    assert sign.hmac_sha256_hex(ts.encode(), secret.encode()) == password


def test_iotda_swapped_arguments_differ():
    assert sign.hmac_sha256_hex("12345678", "2025041401") == IOTDA_SWAPPED
    assert sign.hmac_sha256_hex("2025041401", "12345678") != IOTDA_SWAPPED


@pytest.mark.parametrize("secret,client_id,password,wrong", IOTKIT)
@pytest.mark.parametrize("pure", [False, True])
def test_iotkit_md5_vectors(secret, client_id, password, wrong, pure, monkeypatch):
    if pure:  # firmware built without hashlib.md5
        monkeypatch.setattr(sign, "hashlib", types.SimpleNamespace(sha256=hashlib.sha256))
    assert sign.md5_hex(secret + client_id) == password
    assert sign.md5_hex(client_id + secret) == wrong


@settings(max_examples=300, deadline=None)
@given(key=st.one_of(st.binary(max_size=200), st.binary(min_size=64, max_size=64),
                     st.binary(min_size=65, max_size=300)),
       msg=st.binary(max_size=300))
def test_hmac_sha256_matches_cpython(key, msg):
    want = hmac.new(key, msg, hashlib.sha256)
    assert sign.hmac_sha256(key, msg) == want.digest()
    assert sign.hmac_sha256_hex(key, msg) == want.hexdigest()


@settings(max_examples=100, deadline=None)
@given(key=st.text(max_size=100), msg=st.text(max_size=100))
def test_hmac_sha256_text_is_utf8(key, msg):
    assert sign.hmac_sha256_hex(key, msg) == hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300),
                      # every padding case: around 55/56/64 bytes mod 64
                      st.integers(0, 200).map(lambda n: bytes(range(256))[:n % 256] * (n // 256 + 1))))
def test_md5_pure_matches_hashlib(data):
    assert md5.digest(data) == hashlib.md5(data).digest()
    assert sign.md5_hex(data) == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("n", [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000])
def test_md5_pure_block_boundaries(n):
    data = bytes((i * 7 + 3) & 0xFF for i in range(n))
    assert md5.digest(data) == hashlib.md5(data).digest()


def test_md5_pure_rfc1321_suite():
    # RFC 1321 appendix A.5
    suite = {
        b"": "d41d8cd98f00b204e9800998ecf8427e",
        b"a": "0cc175b9c0f1b6a831c399e269772661",
        b"abc": "900150983cd24fb0d6963f7d28e17f72",
        b"message digest": "f96b697d7cb7938d525a2f31aaf161d0",
        b"abcdefghijklmnopqrstuvwxyz": "c3fcd3d76192e4007dfb496cca67e13b",
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":
            "d174ab98d277d9f5a5611c2c9f419d9f",
        b"1234567890" * 8: "57edf4a22be3c955ac49da2e2107b67a",
    }
    for data, want in suite.items():
        assert md5.digest(data).hex() == want


def test_sha256_hex():
    assert sign.sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_iotda_hmac_password_is_masked_hour_after_hour(logs, cert_files):
    from iotlink import log
    from iotlink.clouds import iotda
    cloud = iotda.Cloud({"cloud": {"type": "iotda", "host": "iot.example", "device_id": "d_1",
                                   "secret": "topsecret", "ca": "ca.der"}})
    pws = [cloud.credentials(1700000000 + 3600 * h)[2] for h in range(30)]
    assert len(set(pws)) == 30
    log.warn("sent %s and %s", pws[-1], pws[-2])
    assert logs[-1] == "iotlink W: sent *** and ***"
    assert len(log._secrets) <= 3          # the secret and two passwords, not one per hour
