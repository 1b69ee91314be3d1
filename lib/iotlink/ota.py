"""Download a file (a firmware image) over HTTP(S) in small chunks, checking
its SHA-256 on the way, without holding it in RAM.

    ota.download(url, f.write, sha256=sign, size=n, ca="ca.der",
                 headers={"Authorization": "Bearer " + token},
                 progress=lambda done, total: ...)

HTTP/1.0 is used so the body is never chunk-encoded; redirects are not followed.
"""

import hashlib
import socket
from binascii import hexlify, a2b_base64


def _parse(url):
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise ValueError("url must be http:// or https://")
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    tls = scheme == "https"
    return host, int(port) if port else (443 if tls else 80), tls, slash + path


def _ctx(ca, verify):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not ca:
        raise ValueError("ca: required for https (or verify=False)")
    ctx.verify_mode = ssl.CERT_REQUIRED
    with open(ca, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        for part in data.split(b"-----BEGIN CERTIFICATE-----")[1:]:
            ctx.load_verify_locations(cadata=a2b_base64(part.split(b"-----END")[0]))
    else:
        ctx.load_verify_locations(cadata=data)
    return ctx


def download(url, sink, sha256=None, size=None, headers=None, progress=None, ca=None,
             verify=True, timeout_s=10, chunk=1024):
    """GET ``url`` and pass the body to ``sink(bytes)`` chunk by chunk.

    ``sha256`` (hex) and ``size`` are checked at the end (ValueError when wrong);
    ``progress(done, total)`` is called after every chunk (total None when
    unknown).  Network errors and non-200 answers raise OSError.  Returns the
    body's SHA-256 hex."""
    host, port, tls, path = _parse(url)
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    s = socket.socket()
    try:
        s.settimeout(timeout_s)
        s.connect(addr)
        if tls:
            s = _ctx(ca, verify).wrap_socket(s, server_hostname=host)
        req = "GET %s HTTP/1.0\r\nHost: %s\r\n" % (path or "/", host)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        s.write((req + "\r\n").encode())
        status = s.readline().split(None, 2)
        if len(status) < 2 or status[1] != b"200":
            raise OSError("HTTP %s" % (status[1].decode() if len(status) > 1 else "no answer"))
        total = None
        while True:
            line = s.readline()
            if not line or line == b"\r\n":
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                total = int(v.strip())
        if size is not None and total is not None and total != size:
            raise ValueError("server sends %d bytes, expected %d" % (total, size))
        total = total if total is not None else size
        h = hashlib.sha256()
        buf = bytearray(chunk)
        mv = memoryview(buf)
        done = 0
        while total is None or done < total:
            n = s.readinto(mv if total is None else mv[:min(chunk, total - done)])
            if not n:
                break
            h.update(mv[:n])
            sink(bytes(mv[:n]))
            done += n
            if progress:
                progress(done, total)
    finally:
        s.close()
    if total is not None and done != total:
        raise OSError("download cut short at %d of %d bytes" % (done, total))
    got = hexlify(h.digest()).decode()
    if sha256 is not None and got != sha256.lower():
        raise ValueError("SHA-256 mismatch: package corrupt or not the announced one")
    return got
