"""iotlink.ota on the unix port against a local HTTPS server (test CA)."""

import hashlib
import http.server
import json
import os

import pytest

from ..https_server import module_fixture

BLOB = os.urandom(50_000 + 123)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/fw.bin":
            self.send_error(404)
            return
        if self.headers.get("Authorization") != "Bearer tok-1":
            self.send_error(401)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLOB)))
        self.end_headers()
        self.wfile.write(BLOB)

    def log_message(self, *a):
        pass


https = module_fixture(_Handler)


def test_download_checks_hash_and_reports_progress(https, test_ca, upy_run, tmp_path):
    good = hashlib.sha256(BLOB).hexdigest()
    out = tmp_path / "fw.out"
    r = upy_run.run("""
import json
from iotlink import ota
base, ca, good, path = json.loads(%r)
seen = []
with open(path, "wb") as f:
    h = ota.download(base + "/fw.bin", f.write, sha256=good.upper(), size=%d, ca=ca,
                     headers={"Authorization": "Bearer tok-1"},
                     progress=lambda d, t: seen.append((d, t)))
print("OK", h == good, len(seen), seen[-1][0], seen[-1][1])
for url, kw in ((base + "/fw.bin", {"sha256": "00" * 32}), (base + "/fw.bin", {"size": 5}),
                (base + "/nope", {}), (base + "/fw.bin", {"bearer": 0})):
    hdr = {} if kw.pop("bearer", 1) == 0 else {"Authorization": "Bearer tok-1"}
    try:
        ota.download(url, lambda b: None, ca=ca, headers=hdr, **kw)
        print("NO ERROR")
    except (ValueError, OSError) as e:
        print("ERR", type(e).__name__, e)
""" % (json.dumps([https, test_ca["ca"], good, str(out)]), len(BLOB)), heap="256k")
    lines = r.stdout.splitlines()
    n = (len(BLOB) + 1023) // 1024
    assert lines[0] == "OK True %d %d %d" % (n, len(BLOB), len(BLOB))
    assert out.read_bytes() == BLOB
    assert lines[1].startswith("ERR ValueError SHA-256 mismatch")
    assert lines[2].startswith("ERR ValueError server sends")
    assert lines[3] == "ERR OSError HTTP 404"
    assert lines[4] == "ERR OSError HTTP 401"
