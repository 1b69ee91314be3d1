"""Credential hashing for cloud logins: HMAC-SHA256 and MD5, as lowercase hex.

MicroPython firmware has ``hashlib.sha256`` but no ``hmac`` module, and some
builds lack ``hashlib.md5``; both are built from what every port has (the MD5
fallback in ``md5.py``, loaded only where it is needed).
"""

import hashlib
from binascii import hexlify


def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def hmac_sha256(key, msg):
    """Raw 32-byte HMAC-SHA256 (RFC 2104) of ``msg`` under ``key``."""
    key = _b(key)
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(_b(msg))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256_hex(key, msg):
    return hexlify(hmac_sha256(key, msg)).decode()


def sha256_hex(data):
    return hexlify(hashlib.sha256(_b(data)).digest()).decode()


def md5_hex(data):
    data = _b(data)
    md5 = getattr(hashlib, "md5", None)
    if md5 is not None:
        return hexlify(md5(data).digest()).decode()
    from .md5 import digest  # firmware built without hashlib.md5
    return hexlify(digest(data)).decode()
