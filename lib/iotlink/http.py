"""A minimal HTTP/1.0 client on a socket, for MicroPython boards.

    s, status, length = http.open("GET", "https://host/fw.bin", ca="ca.der")

Used where MicroPython's ``requests`` falls short: it does not verify server
certificates, and it reads whole bodies into RAM.  HTTP/1.0, so a body is
never chunk-encoded; redirects are not followed.  The caller reads the body
from the returned socket and closes it.
"""

from . import tls


def parse(url):
    """(host, port, is_tls, path) of an http:// or https:// URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise ValueError("url must be http:// or https://")
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    on = scheme == "https"
    return host, int(port) if port else (443 if on else 80), on, slash + path


def open(method, url, headers=None, body=None, ca=None, verify=True, timeout_ms=10000):
    """Send the request; return (socket, status code, Content-Length or None)
    with the socket positioned at the start of the body."""
    host, port, on, path = parse(url)
    s = tls.connect(host, port, on, ca, verify, timeout_ms)
    try:
        head = "%s %s HTTP/1.0\r\nHost: %s\r\n" % (method, path or "/", host)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        if body is not None:
            head += "Content-Length: %d\r\n" % len(body)
        s.write(head.encode() + b"\r\n")
        if body:
            s.write(body)
        status = s.readline().split(None, 2)
        if len(status) < 2:
            raise OSError("no HTTP answer from %s:%d" % (host, port))
        n = None
        while True:
            line = s.readline()
            if not line or line == b"\r\n":
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        return s, int(status[1]), n
    except Exception:
        s.close()
        raise
