"""TLS client contexts from the endpoint options in config.json.

Loaded only when a connection uses TLS.  Verification is on unless the config
says ``verify: false``; CA files may be PEM bundles or DER (mbedTLS on
MicroPython takes DER for ``cadata``, one certificate per call).
"""

from . import log


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def der_certs(data):
    """The DER certificates in a PEM bundle, or ``[data]`` if it is DER already."""
    if b"-----BEGIN" not in data:
        return [data]
    from binascii import a2b_base64
    out = []
    for part in data.split(b"-----BEGIN CERTIFICATE-----")[1:]:
        body = part.split(b"-----END")[0]
        out.append(a2b_base64(body.replace(b"\n", b"").replace(b"\r", b"")))
    return out


def context(ep):
    """An SSLContext for ``ep`` (a dict with ca, verify, cert, key)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ep.get("verify", True):
        ctx.verify_mode = ssl.CERT_REQUIRED
        for der in der_certs(_read(ep["ca"])):
            ctx.load_verify_locations(cadata=der)
    else:
        ctx.verify_mode = ssl.CERT_NONE
        log.warn("TLS certificate verification is off (cloud.verify=false)")
    if ep.get("cert"):
        ctx.load_cert_chain(_read(ep["cert"]), _read(ep["key"]))
    return ctx
