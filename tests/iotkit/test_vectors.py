"""iotkit credential vectors and RFC 1321 MD5 vectors, on CPython and on the
MicroPython unix port (with hashlib.md5 and with the pure fallback)."""

import hashlib
import json

import pytest

from iotlink import md5
from iotlink.clouds import iotkit
from iotlink_tools.sims.iotkit import password as sim_password

# pk, dn, model, secret, clientId, username, password, [wrong-order digests]
# copied from the spec's test vectors
VECTORS = [
    ("hbtgIA0SuVw9lxjB", "AA:BB:CC:DD:22", "GW01", "mySecret0123456789abcdefghijklmn",
     "hbtgIA0SuVw9lxjB_AA:BB:CC:DD:22_GW01", "AA:BB:CC:DD:22", "ca970423a151a7757cdec99498ad0c31",
     ["0a9df08c8d57b02ee488773aee10743d", "ac2085bc78e049301c22ea06018c1d75"]),
    ("Rf4QSjbm65X45753", "ABC12300002", "S01", "0123456789abcdef0123456789abcdef",
     "Rf4QSjbm65X45753_ABC12300002_S01", "ABC12300002", "e1bf7edb5be7d4b7907bd5609d32f48c",
     ["2c0e8a2b80e66502a99d403de0788766"]),
    ("pk123", "dev001", "esp32", "secret", "pk123_dev001_esp32", "dev001",
     "1105afe7e52a05222a1055318f772910",
     ["350072b6119412447a472e8f9fc9f637", "0b227ad44ed3bbff460d0792dd1eff24"]),
]
# RFC 1321 appendix A.5
RFC1321 = [
    ("", "d41d8cd98f00b204e9800998ecf8427e"),
    ("a", "0cc175b9c0f1b6a831c399e269772661"),
    ("abc", "900150983cd24fb0d6963f7d28e17f72"),
    ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"),
    ("1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
]


def cloud(pk, dn, model, secret):
    return iotkit.Cloud({"cloud": {"type": "iotkit", "product_key": pk, "device_name": dn,
                                   "model": model, "product_secret": secret}})


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v[2])
def test_credentials(v):
    pk, dn, model, secret, cid, user, pw, wrong = v
    c = cloud(pk, dn, model, secret)
    assert c.credentials(0) == (cid, user, pw)
    assert c.subscriptions() == ((("/sys/%s/%s/c/#" % (pk, dn)).encode(), 1),)
    assert sim_password(secret, cid) == pw
    assert pw not in wrong


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v[2])
def test_wrong_orders_are_real_digests(v):
    """The negative vectors are what the wrong formulas give: so a codec using
    one of them would fail test_credentials."""
    _, _, _, secret, cid, _, _, wrong = v
    alts = {hashlib.md5((cid + secret).encode()).hexdigest(),
            hashlib.md5((secret + "," + cid).encode()).hexdigest()}
    assert set(wrong) <= alts


@pytest.mark.parametrize("text,digest", RFC1321)
def test_pure_md5(text, digest):
    assert md5.digest(text.encode()).hex() == digest


def test_pure_md5_block_edges():
    for n in (54, 55, 56, 57, 63, 64, 65, 119, 120, 200):
        data = bytes(range(256))[:n] * 1
        assert md5.digest(data).hex() == hashlib.md5(data).hexdigest()


MPY = r"""
import sys, json
HIDE = %s
if HIDE:
    import hashlib
    class NoMd5:
        sha256 = hashlib.sha256
    sys.modules["hashlib"] = NoMd5
from iotlink import sign
from iotlink.clouds import iotkit
out = {"pure": getattr(sign.hashlib, "md5", None) is None, "creds": [], "rfc": []}
for pk, dn, model, secret in %s:
    c = iotkit.Cloud({"cloud": {"type": "iotkit", "product_key": pk, "device_name": dn,
                                "model": model, "product_secret": secret}})
    out["creds"].append(list(c.credentials(0)))
for t in %s:
    out["rfc"].append(sign.md5_hex(t))
print(json.dumps(out))
"""


@pytest.mark.parametrize("hide", [False, True], ids=["hashlib.md5", "pure-fallback"])
def test_vectors_on_micropython(upy_run, hide):
    code = MPY % (hide, json.dumps([list(v[:4]) for v in VECTORS]),
                  json.dumps([t for t, _ in RFC1321]))
    out = json.loads(upy_run.run(code).stdout.strip().splitlines()[-1])
    assert out["pure"] is hide
    assert out["creds"] == [[v[4], v[5], v[6]] for v in VECTORS]
    assert out["rfc"] == [d for _, d in RFC1321]
