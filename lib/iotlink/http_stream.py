"""What ``http.open`` leaves to its caller: an answer body read with a cap,
and a request body streamed from a file instead of held in RAM.

    s, status, n = http.open("POST", url, hdrs, body, ca)
    text = http_stream.body(s, n, 2048)       # closes s; at most 2 KB kept

    status, text = http_stream.put(url, size, f.readinto, ca=ca)
"""

from . import http, tls

_HEAD_MAX = 4096


def body(s, length, cap):
    """The answer body as bytes, at most ``cap`` bytes kept (the rest is left
    unread); closes the socket.  ``length`` is the Content-Length or None
    (then read to EOF or the cap)."""
    try:
        want = cap if length is None else min(length, cap)
        out = b""
        while len(out) < want:
            b = s.read(want - len(out))
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def _readline(s):
    line = s.readline()
    if len(line) > _HEAD_MAX:
        raise OSError("HTTP answer line too long")
    return line


def put(url, size, readinto, headers=None, ca=None, verify=True, timeout_ms=10000,
        chunk=1024, method="PUT", progress=None):
    """Send ``size`` bytes that ``readinto(buffer)`` yields in ``chunk``-byte
    pieces (a file's readinto), then read the answer: (status, body bytes up to
    1 KB).  One buffer of ``chunk`` bytes is all it holds.  ValueError when the
    source ends early, OSError when the server sends no HTTP answer."""
    host, port, on, path = http.parse(url)
    s = tls.connect(host, port, on, ca, verify, timeout_ms)
    try:
        head = "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, path or "/", host, size)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        s.write(head.encode() + b"\r\n")
        buf = bytearray(chunk)
        mv = memoryview(buf)
        done = 0
        cut = None
        try:
            while done < size:
                n = readinto(mv[:min(chunk, size - done)])
                if not n:
                    raise ValueError("source ended at %d of %d bytes" % (done, size))
                w = 0
                while w < n:
                    k = s.write(mv[w:n])
                    if not k:
                        raise OSError("upload to %s:%d stalled" % (host, port))
                    w += k
                done += n
                if progress:
                    progress(done, size)
        except OSError as e:
            # a server may answer (403, 413) and close before the body is in:
            # its answer, when it can still be read, says more than EPIPE
            cut = e
        try:
            status = _readline(s).split(None, 2)
        except OSError:
            status = ()
        if len(status) < 2:
            if cut is not None:
                raise OSError("upload to %s:%d cut by the server after %d of %d bytes (%s)"
                              % (host, port, done, size, cut))
            raise OSError("no HTTP answer from %s:%d" % (host, port))
        n = None
        while True:
            line = _readline(s)
            if not line or line == b"\r\n":
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
    except Exception:
        s.close()
        raise
    return int(status[1]), body(s, n, 1024)
