"""One HTTP(S) request with a JSON-sized body, on MicroPython and CPython.

    status, body = http.request("POST", url, b'{"a":1}', {"Content-Type": "application/json"})

On MicroPython plain http:// goes through ``requests``; https:// with
``verify`` (the default) is made here on an ``ssl.SSLContext`` that checks the
server against ``ca`` (a PEM or DER file), because ``requests`` does not check
certificates.  On CPython ``urllib`` does both (``ca`` None: the system's
CAs).  Network failures raise OSError; any HTTP status is returned.
"""

import sys

_UPY = sys.implementation.name == "micropython"


def request(method, url, body=None, headers=None, timeout=10, ca=None, verify=True):
    """(status, body bytes)."""
    if isinstance(body, str):
        body = body.encode()
    headers = headers or {}
    if not _UPY:
        return _cpython(method, url, body, headers, timeout, ca, verify)
    if url.startswith("https://") and verify:
        return _tls(method, url, body, headers, timeout, ca)
    import requests
    r = requests.request(method, url, data=body, headers=headers, timeout=timeout)
    try:
        return r.status_code, r.content
    finally:
        r.close()


def _cpython(method, url, body, headers, timeout, ca, verify):
    import ssl
    import urllib.request
    import urllib.error
    ctx = None
    if url.startswith("https://"):
        ctx = ssl.create_default_context(cafile=ca) if verify else ssl._create_unverified_context()
    req = urllib.request.Request(url, body, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except urllib.error.URLError as e:
        raise OSError(str(e.reason))


def _der(data):
    if b"-----BEGIN" not in data:
        return [data]
    from binascii import a2b_base64
    return [a2b_base64(p.split(b"-----END")[0]) for p in data.split(b"-----BEGIN CERTIFICATE-----")[1:]]


def _tls(method, url, body, headers, timeout, ca):
    import socket
    import ssl
    if not ca:
        raise ValueError("ca: required for https (a CA file), or verify=False")
    rest = url[8:]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else 443
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    with open(ca, "rb") as f:
        for der in _der(f.read()):
            ctx.load_verify_locations(cadata=der)
    s = socket.socket()
    try:
        s.settimeout(timeout)
        s.connect(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1])
        s = ctx.wrap_socket(s, server_hostname=host)
        head = "%s /%s HTTP/1.0\r\nHost: %s\r\n" % (method, path, host)
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        if body is not None:
            head += "Content-Length: %d\r\n" % len(body)
        s.write(head.encode() + b"\r\n")
        if body:
            s.write(body)
        status = s.readline().split(None, 2)
        if len(status) < 2:
            raise OSError("no HTTP answer")
        n = None
        while True:
            line = s.readline()
            if not line or line == b"\r\n":
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        out = b""
        while n is None or len(out) < n:
            more = s.read(1024 if n is None else min(1024, n - len(out)))
            if not more:
                break
            out += more
        return int(status[1]), out
    finally:
        s.close()
