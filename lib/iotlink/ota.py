"""Download a file (a firmware image) over HTTP(S) in small chunks, checking
its SHA-256 on the way, without holding it in RAM.

    ota.download(url, f.write, sha256=sign, size=n, ca="ca.der",
                 headers={"Authorization": "Bearer " + token},
                 progress=lambda done, total: ...)

HTTP/1.0 is used so the body is never chunk-encoded; redirects are not followed.
"""

import hashlib
from binascii import hexlify


def download(url, sink, sha256=None, size=None, headers=None, progress=None, ca=None,
             verify=True, timeout_s=10, chunk=1024):
    """GET ``url`` and pass the body to ``sink(bytes)`` chunk by chunk.

    ``sha256`` (hex) and ``size`` are checked at the end (ValueError when wrong);
    ``progress(done, total)`` is called after every chunk (total None when
    unknown).  Network errors and non-200 answers raise OSError.  Returns the
    body's SHA-256 hex."""
    from . import http
    s, status, total = http.open("GET", url, headers, None, ca, verify, timeout_s * 1000)
    try:
        if status != 200:
            raise OSError("HTTP %d" % status)
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
