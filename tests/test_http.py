"""iotlink.http, the library's one HTTP client, on CPython and on the
MicroPython unix port: verified TLS, the body cap, the whole-answer deadline
against a server that trickles, and open()'s signature that OTA and the REST
APIs build on."""

import http.server
import inspect
import json
import os
import socket
import sys
import threading
import time

import pytest

from iotlink_tools import paths

from .https_server import module_fixture

if paths.LIB not in sys.path:
    sys.path.insert(0, paths.LIB)
sys.modules.setdefault("micropython", type(sys)("micropython"))
sys.modules["micropython"].const = getattr(sys.modules["micropython"], "const", lambda x: x)

from iotlink import http as H  # noqa: E402

BIG = b"x" * 2000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/big":
            body = BIG
        elif self.path == "/big-no-length":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(BIG)
            return
        else:
            body = json.dumps({"path": self.path, "token": self.headers.get("token")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


https = module_fixture(_Handler)


@pytest.fixture
def trickle():
    """A plain HTTP server that sends a complete, valid answer one byte per
    50 ms (about 4 s in all)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    stop = threading.Event()

    def run():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                c.recv(1024)
                for b in b"HTTP/1.0 200 OK\r\nContent-Length: 20\r\nX-Slow: yes\r\n\r\n" + b"y" * 20:
                    if stop.is_set():
                        break
                    c.sendall(bytes((b,)))
                    time.sleep(0.05)
            except OSError:
                pass
            finally:
                c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/slow" % srv.getsockname()[1]
    stop.set()
    t.join(5)
    srv.close()


SCRIPT = r"""
import json, sys
from iotlink import http
base, ca, slow = json.loads(sys.argv[1])
out = {}
st, body = http.request("GET", base + "/a?b=1", None, {"token": "t1"}, 5000, ca)
out["get"] = [st, json.loads(body)]
st, body = http.request("POST", base + "/echo", '{"n": 3}', None, 5000, ca)
out["post"] = [st, json.loads(body)]
for path in ("/big", "/big-no-length"):
    try:
        http.request("GET", base + path, None, None, 5000, ca, True, 512)
        out[path] = "read"
    except ValueError as e:
        out[path] = "refused: " + str(e)
st, body = http.request("GET", base + "/big", None, None, 5000, ca, True, 4096)
out["big_allowed"] = [st, len(body)]
s, st, n = http.open("GET", base + "/big", None, None, ca, True, 5000)
got = b""
while len(got) < n:
    b = s.read(n - len(got))
    if not b:
        break
    got += b
s.close()
out["open"] = [st, n, len(got)]
try:
    http.request("GET", slow, None, None, 1000)
    out["slow"] = "completed"
except OSError as e:
    out["slow"] = "deadline"
print("OUT " + json.dumps(out))
"""


def _check(out):
    assert out["get"] == [200, {"path": "/a?b=1", "token": "t1"}]
    assert out["post"] == [201, {"n": 3}]
    assert out["/big"].startswith("refused") and "512" in out["/big"]
    assert out["/big-no-length"].startswith("refused")
    assert out["big_allowed"] == [200, 2000]
    assert out["open"] == [200, 2000, 2000]
    # the answer was valid and complete, only slow: the deadline ended it
    assert out["slow"] == "deadline"


def test_cpython(https, test_ca, trickle, capsys):
    ns = {}
    sys.argv = ["x", json.dumps([https, test_ca["ca"], trickle])]
    exec(SCRIPT, ns)
    _check(json.loads(capsys.readouterr().out.split("OUT ", 1)[1]))


def test_micropython(https, test_ca, trickle, upy_run):
    r = upy_run.run(SCRIPT, args=(json.dumps([https, test_ca["ca_der"], trickle]),), timeout=60)
    _check(json.loads(r.stdout.split("OUT ", 1)[1]))


def test_unknown_ca_refused_on_micropython(https, upy_run, tmp_path):
    from iotlink_tools import certs
    other = certs.make_ca(str(tmp_path / "other"))
    r = upy_run.run("""
import sys
from iotlink import http
try:
    http.request("GET", sys.argv[1] + "/a", None, None, 5000, sys.argv[2])
    print("ACCEPTED")
except Exception as e:
    print("REFUSED", type(e).__name__)
""", args=(https, other["ca_der"] if "ca_der" in other else other["ca"]))
    assert "REFUSED" in r.stdout and "ACCEPTED" not in r.stdout


def test_open_keeps_its_signature():
    # OTA and the IoTDA HTTPS API call open() positionally and by name
    assert str(inspect.signature(H.open)) == \
        "(method, url, headers=None, body=None, ca=None, verify=True, timeout_ms=10000)"
    with pytest.raises(ValueError):
        H.request("GET", "ftp://x/")
    assert os.path.basename(H.__file__) == "http.py"
