"""The library's one HTTP/1.0 client, on MicroPython boards and on CPython.

    s, status, length = http.open("GET", "https://host/fw.bin", ca="ca.der")
    status, body = http.request("POST", url, b'{"a":1}', {"Content-Type": "application/json"})

``open()`` leaves the body on the returned stream for the caller to read
(firmware images: never the whole body in RAM) and close; ``request()``
reads a JSON-sized body, at most ``max_body`` bytes.  Written here rather
than on MicroPython's ``requests``, which does not verify server
certificates and reads whole bodies into RAM.  https:// verifies the server
against ``ca`` (a PEM or DER file) unless ``verify`` is False; on CPython
without ``ca`` the system's CAs.  HTTP/1.0, so a body is never
chunk-encoded; redirects are not followed.  The connection, every read and
the whole exchange have the ``timeout_ms`` deadline: a server that trickles
its answer cannot hold the caller past it.  Network failures raise OSError;
any HTTP status is returned.
"""

import sys

from . import tls

try:
    from time import ticks_ms, ticks_add, ticks_diff
except ImportError:  # CPython without the test shim: the host tools
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_add(t, d):
        return t + d

    def ticks_diff(a, b):
        return a - b

_UPY = sys.implementation.name == "micropython"
_HEAD_LINES = 64    # header lines an answer may have


def parse(url):
    """(host, port, is_tls, path) of an http:// or https:// URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise ValueError("url must be http:// or https://")
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    on = scheme == "https"
    return host, int(port) if port else (443 if on else 80), on, slash + path


def _late(end):
    if ticks_diff(end, ticks_ms()) <= 0:
        raise OSError(110, "HTTP answer not complete in time")


def _connect(host, port, on, ca, verify, timeout_ms):
    ctx = None
    if on and verify and not ca and not _UPY:
        import ssl
        ctx = ssl.create_default_context()
    s = tls.connect(host, port, on, ca, verify, timeout_ms, ctx)
    if not _UPY:
        f = s.makefile("rwb", 0)  # read(n), readline() and write() as on MicroPython
        s.close()                 # the socket closes with f
        s = f
    return s


def _head(method, path, host, headers, size):
    head = "%s %s HTTP/1.0\r\nHost: %s\r\n" % (method, path or "/", host)
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    if size is not None:
        head += "Content-Length: %d\r\n" % size
    return head.encode() + b"\r\n"


def _answer(s, end, host, port):
    """(status, Content-Length or None) of the answer on ``s``."""
    status = s.readline().split(None, 2)
    if len(status) < 2:
        raise OSError("no HTTP answer from %s:%d" % (host, port))
    n = None
    for _ in range(_HEAD_LINES):
        _late(end)
        line = s.readline()
        if not line or line == b"\r\n":
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    else:
        raise OSError("HTTP answer from %s:%d with over %d header lines" % (host, port, _HEAD_LINES))
    return int(status[1]), n


def open(method, url, headers=None, body=None, ca=None, verify=True, timeout_ms=10000):
    """Send the request; return (stream, status code, Content-Length or None)
    with the stream positioned at the start of the body.  The stream has
    read(n), readinto(), write() and close(), each bounded by timeout_ms."""
    end = ticks_add(ticks_ms(), timeout_ms)
    host, port, on, path = parse(url)
    s = _connect(host, port, on, ca, verify, timeout_ms)
    try:
        s.write(_head(method, path, host, headers, None if body is None else len(body)))
        if body:
            s.write(body)
        status, n = _answer(s, end, host, port)
        return s, status, n
    except Exception:
        s.close()
        raise


def upload(url, size, readinto, headers=None, ca=None, verify=True, timeout_ms=10000,
           chunk=1024, method="PUT", progress=None, max_body=1024):
    """Send ``size`` bytes that ``readinto(buffer)`` yields (a file's
    readinto) in ``chunk``-byte pieces, holding one buffer of ``chunk``
    bytes; return (status, answer body up to ``max_body`` bytes).  OSError
    when the source ends early or the server stops taking bytes.  The
    deadline is per write and per answer, not for the whole upload."""
    host, port, on, path = parse(url)
    s = _connect(host, port, on, ca, verify, timeout_ms)
    try:
        s.write(_head(method, path, host, headers, size))
        mv = memoryview(bytearray(chunk))
        done = 0
        while done < size:
            n = readinto(mv[:min(chunk, size - done)])
            if not n:
                raise OSError("source ended at %d of %d bytes" % (done, size))
            w = 0
            while w < n:
                k = s.write(mv[w:n])
                if not k:
                    raise OSError("upload to %s:%d stalled" % (host, port))
                w += k
            done += n
            if progress:
                progress(done, size)
        end = ticks_add(ticks_ms(), timeout_ms)
        status, n = _answer(s, end, host, port)
        return status, _body(s, n, end, max_body, False)
    finally:
        s.close()


def _body(s, n, end, max_body, strict):
    """The body (``n`` bytes, or to EOF when None) by ``end``; over
    ``max_body`` bytes: ValueError when ``strict``, else cut there."""
    if n is not None and n > max_body and strict:
        raise ValueError("answer over %d bytes (%d)" % (max_body, n))
    out = b""
    while n is None or len(out) < n:
        _late(end)
        more = s.read(512 if n is None else min(512, n - len(out)))
        if not more:
            break
        out += more
        if len(out) > max_body:
            if strict:
                raise ValueError("answer over %d bytes" % max_body)
            return out[:max_body]
    return out


def request(method, url, body=None, headers=None, timeout_ms=10000, ca=None, verify=True,
            max_body=16384, strict=True):
    """(status, body bytes) of one request.  An answer over ``max_body``
    bytes raises ValueError before more of it is read (``strict``), or is
    cut at ``max_body`` bytes."""
    if isinstance(body, str):
        body = body.encode()
    end = ticks_add(ticks_ms(), timeout_ms)
    s, status, n = open(method, url, headers, body, ca, verify, timeout_ms)
    try:
        return status, _body(s, n, end, max_body, strict)
    finally:
        s.close()
