"""Sockets with a timeout on every step and TLS that verifies by default.

    s = tls.connect("cloud.example.com", 443, tls=True, ca="ca.der")

The same code runs on MicroPython (ESP32, RP2, unix) and CPython.  ``ca`` is a
PEM bundle or a DER file; mbedTLS wants DER, so PEM is converted here.
"""

import sys
import socket


def der_blocks(data, kind=None):
    """The DER bodies of the PEM blocks in ``data`` (only ``kind`` blocks, e.g.
    b"CERTIFICATE", when given), or ``[data]`` if it is DER already."""
    if b"-----BEGIN" not in data:
        return [data]
    from binascii import a2b_base64
    out = []
    for part in data.split(b"-----BEGIN ")[1:]:
        head, rest = part.split(b"-----", 1)
        if kind is None or head == kind:
            body = rest.split(b"-----END")[0]
            out.append(a2b_base64(body.replace(b"\n", b"").replace(b"\r", b"")))
    return out


def der_certs(data):
    """DER certificates from a PEM bundle or a DER file."""
    return der_blocks(data, b"CERTIFICATE")


def context(ca=None, verify=True, cert=None, key=None):
    """A client SSLContext: CERT_REQUIRED with the CA file ``ca`` unless
    ``verify`` is False (then a warning is logged); ``cert``/``key`` files
    add a client certificate (X.509 device login)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if not ca:
            raise ValueError("ca: required to verify the server (or verify=False)")
        ctx.verify_mode = ssl.CERT_REQUIRED
        with open(ca, "rb") as f:
            data = f.read()
        for der in der_certs(data):
            ctx.load_verify_locations(cadata=der)
    else:
        try:
            ctx.check_hostname = False  # CPython: must go before CERT_NONE
        except AttributeError:
            pass
        ctx.verify_mode = ssl.CERT_NONE
        from . import log
        log.warn("TLS certificate verification is off")
    if cert:
        # mbedTLS on MicroPython parses only DER here, like for cadata
        with open(cert, "rb") as f:
            c = der_blocks(f.read())[0]
        with open(key, "rb") as f:
            k = der_blocks(f.read())[0]
        ctx.load_cert_chain(c, k)
    return ctx


def connect(host, port, tls=False, ca=None, verify=True, timeout_ms=10000, ctx=None):
    """A connected socket (TLS-wrapped when ``tls``) with ``timeout_ms`` on
    every blocking call.  OSError texts name host:port only."""
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.settimeout(timeout_ms / 1000)
        s.connect(ai[-1])
        try:
            s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except Exception:
            pass
        if tls:
            if ctx is None:
                ctx = context(ca, verify)
            s = ctx.wrap_socket(s, server_hostname=host)
            try:
                s.settimeout(timeout_ms / 1000)
            except Exception:
                pass
    except Exception:
        s.close()
        raise
    return s


class Stream:
    """Exact reads and whole writes on a socket from connect(), on either Python."""

    def __init__(self, sock):
        self.sock = sock
        self._cpy = sys.implementation.name != "micropython"

    def read(self, n):
        """Exactly ``n`` bytes; OSError on EOF or timeout."""
        s = self.sock
        if self._cpy:
            buf = b""
            while len(buf) < n:
                try:
                    b = s.recv(n - len(buf))
                except socket.timeout:
                    raise OSError(110)
                if not b:
                    raise OSError(-1)
                buf += b
            return buf
        b = s.read(n)
        if not b:
            raise OSError(-1 if b == b"" else 110)
        while len(b) < n:
            more = s.read(n - len(b))
            if not more:
                raise OSError(-1 if more == b"" else 110)
            b += more
        return b

    def write(self, data):
        if self._cpy:
            self.sock.sendall(data)
        else:
            self.sock.write(data)

    def pending(self):
        """Bytes already decrypted but unread (CPython SSL; select cannot see them)."""
        p = getattr(self.sock, "pending", None)
        return p() if p else 0

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass

