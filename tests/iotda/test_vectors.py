"""Password and ClientId vectors (Huawei's device-side MQTT interface reference, its
connect example first), on CPython and on MicroPython."""

import calendar
import hashlib
import hmac
import json

import pytest

from iotlink.clouds import iotda

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

# secret, timestamp, password -- copied from the spec's table (Huawei's own
# documented example first)
VECTORS = [
    ("12345678", "2025041401", "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"),
    ("a1b2c3d4e5f6", "2024010100", "d60b713568c93fdc446c969d8b6b5090df006210bbb5a70ac97c43130bc5e003"),
    ("MySecret_2024!", "2025123123", "0b4acdd4e50f955e44eacd2e26e429d1a0ab2a9a654e827808b48952961ad82c"),
    ("0123456789abcdef0123456789abcdef", "2019120219",
     "47765ebe207c47938dbe873b422791156914f2b38156046258bbbdc1f7076baa"),
]
# key=secret, msg=timestamp for 12345678/2025041401: the wrong argument order
NEGATIVE = "75e7262705ff85203403e600f652133f9cac4e4d1400b44f3582e778a97f6c36"
EXAMPLE_ID = "64f1a2b3c4d5e6f7a8b9c0d1_node01"
EXAMPLE_NOW = calendar.timegm((2025, 4, 14, 1, 37, 12))


@pytest.mark.parametrize("secret,ts,pw", VECTORS)
def test_password_vectors(secret, ts, pw):
    assert iotda.password(secret, ts) == pw
    assert hmac.new(ts.encode(), secret.encode(), hashlib.sha256).hexdigest() == pw


def test_negative_vector_is_not_produced():
    assert iotda.password("12345678", "2025041401") != NEGATIVE
    assert hmac.new(b"12345678", b"2025041401", hashlib.sha256).hexdigest() == NEGATIVE


def _cloud(**kw):
    c = {"type": "iotda", "host": "h", "device_id": EXAMPLE_ID, "secret": "12345678",
         "ca": "ca.pem"}
    c.update(kw)
    return iotda.Cloud({"cloud": c})


def test_documented_connect_example():
    assert _cloud().credentials(EXAMPLE_NOW) == (
        EXAMPLE_ID + "_0_0_2025041401", EXAMPLE_ID,
        "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a")
    cid, user, pw = _cloud(sign_type=1).credentials(EXAMPLE_NOW)
    assert cid == EXAMPLE_ID + "_0_1_2025041401" and pw == VECTORS[0][2]


def test_timestamp_is_utc_and_zero_padded():
    now = calendar.timegm((2018, 7, 4, 7, 56, 20))
    assert _cloud().credentials(now)[0].endswith("_0_0_2018070407")


def test_x509_has_no_password():
    c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "d1", "ca": "ca.pem",
                               "cert": "d.crt", "key": "d.key"}})
    assert c.credentials(EXAMPLE_NOW) == ("d1_0_0_2025041401", "d1", None)


def test_vectors_on_micropython(upy_run):
    r = upy_run.run("""
import json
from iotlink.clouds import iotda

vec = json.loads(%r)
out = [iotda.password(s, ts) for s, ts, _ in vec]
c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": %r,
                           "secret": "12345678", "ca": "ca.pem"}})
print(json.dumps({"pw": out, "cred": c.credentials(%d)}))
""" % (json.dumps(VECTORS), EXAMPLE_ID, EXAMPLE_NOW))
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["pw"] == [v[2] for v in VECTORS]
    assert NEGATIVE not in got["pw"]
    assert got["cred"] == [EXAMPLE_ID + "_0_0_2025041401", EXAMPLE_ID, VECTORS[0][2]]


# registration group (IoTDP): derived secret and password
GROUP_B64 = "Z3JvdXAtc2VjcmV0LWJ5dGVzLTEyMw=="
DERIVED = "64c31eee1d984a6cf57ae0a3668ad48557e3c565e286fa3103bdfafe6fe7421f"
GROUP_PW = "475e549a29562305a0848c71fc29b9849e24b30a98c1151d0c58e67b0f947cfc"


def test_registration_group_vector():
    assert iotda.group_derived("myproduct_node01", GROUP_B64) == DERIVED
    c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "myproduct_node01",
                               "scope_id": "scope9", "group_secret": GROUP_B64, "ca": "c"}})
    assert c.credentials(EXAMPLE_NOW) == ("myproduct_node01_0_scope9_0_2025041401",
                                          "myproduct_node01", GROUP_PW)
    x = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "d1", "scope_id": "sc",
                               "ca": "c", "cert": "d.crt", "key": "d.key"}})
    assert x.credentials(EXAMPLE_NOW) == ("d1_0_sc", "d1", None)


def test_registration_group_on_micropython(upy_run):
    r = upy_run.run("""
from iotlink.clouds import iotda
c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "myproduct_node01",
                           "scope_id": "s", "group_secret": %r, "ca": "c"}})
print(c.secret, c.credentials(%d)[2])
""" % (GROUP_B64, EXAMPLE_NOW))
    assert r.stdout.split()[-2:] == [DERIVED, GROUP_PW]
