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


def _tls(method, url, body, headers, timeout, ca):
    from .. import http
    if not ca:
        raise ValueError("ca: required for https (a CA file), or verify=False")
    s, status, n = http.open(method, url, headers, body, ca, True, int(timeout * 1000))
    try:
        out = b""
        while n is None or len(out) < n:
            more = s.read(1024 if n is None else min(1024, n - len(out)))
            if not more:
                break
            out += more
        return status, out
    finally:
        s.close()
