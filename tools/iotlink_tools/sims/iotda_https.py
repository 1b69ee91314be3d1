"""The HTTPS side of the local IoTDA: the device API, an object store standing
in for OBS, and the secure tunnel server.  Started by ``LocalIoTDA.start_https()``
on one TLS port (the test CA's server certificate).

* ``POST /v5/device-auth``: the MQTT door's checks (registered device, HMAC
  password, sign_type 1 hour within the skew) with HTTPS's answers: 400
  IOTDA.000006 naming the invalid field (``sign_type`` must be an integer),
  401 IOTDA.000002 for a refused password; ``{"access_token", "expires_in"}``
  otherwise.  Authenticating again keeps the older token 30 s, as IoTDA does.
* ``POST /v5/devices/{id}/sys/properties/report``, ``.../messages/up``,
  ``.../gateway/sub-devices/properties/report`` with the ``access_token``
  header: 403 IOTDA.000004 for a missing, expired or foreign token, 400
  IOTDA.000006 for a malformed body or more than 50 children, 400
  IOTDA.021104 for a child not under the gateway, 400 IOTDA.021105 above
  1 MB, 403 IOTDA.021101 while ``throttle(device, n)`` answers are due.
  Accepted uplinks go to ``sim.uplinks`` and ``sim.reported`` like MQTT ones.
* Object store: the URLs handed out for ``$file_manager`` are signed and
  expire; ``PUT`` stores the body, ``GET`` returns it (403 otherwise).
* Secure tunnel: ``open_tunnel()`` sends ``$tunnel_manager`` /
  ``tunnel_notify`` over MQTT; the device connects a WebSocket to
  ``/v5/iot/tunnels/{id}/device-connect``, the user's end to
  ``.../source-connect``, each with its ``tunnel_access_token`` header.  The
  server relays whole messages between the two ends, answers
  ``{"operation_type": "ping"}`` with ``pong``, tells the user's end
  ``connect_tunnel`` when the device is there, refuses frames over 10 KB
  (close 1009) and closes both ends when the tunnel expires or is closed.
  What Huawei leaves open is marked in docs/iotda_tunnel.md.
"""

import hashlib
import hmac
import json
import os
import re
import struct
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

from .wspeer import HttpServer, WsPeer, accept_for, switch_protocols

BODY_MAX = 1024 * 1024
FRAME_MAX = 10 * 1024
_SIG_ERR = b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
_DATA = re.compile(r"^/v5/devices/([A-Za-z0-9_-]{1,128})/sys/"
                   r"(properties/report|messages/up|gateway/sub-devices/properties/report)$")
_TUNNEL = re.compile(r"^/v5/iot/tunnels/([A-Za-z0-9_-]{1,128})/(device|source)-connect$")
_OBJ = re.compile(r"^/obs/([A-Za-z0-9_-]{1,128})/([^/?]{1,255})$")


def _err(code, msg):
    return {"error_code": code, "error_msg": msg}


class Ws(WsPeer):
    """One end of a tunnel: whole messages in and out, 10 KB at most."""

    def __init__(self, sock, rfile):
        WsPeer.__init__(self, sock, rfile, FRAME_MAX)

    def frame(self, op, data=b""):
        self.send_frame(op, data)

    def send(self, msg):
        """A dict goes as a JSON text message, bytes as binary."""
        if isinstance(msg, dict):
            self.frame(1, json.dumps(msg).encode())
        else:
            self.frame(2, msg)

    def close(self, code=1000):
        if self.alive:
            self.frame(8, struct.pack("!H", code))
            self.alive = False
            try:
                self.sock.shutdown(2)
            except OSError:
                pass

    def refuse(self, code):
        self.close(code)

    def closing(self, data):
        self.close(self.close_code if self.close_code < 4000 else 1000)


class Tunnel:
    def __init__(self, did, ttl):
        self.id = uuid.uuid4().hex
        self.device_id = did
        self.device_token = uuid.uuid4().hex + uuid.uuid4().hex
        self.source_token = uuid.uuid4().hex + uuid.uuid4().hex
        self.expires = time.monotonic() + ttl
        self.ends = {"device": None, "source": None}
        self.relayed = []     # (from end, opcode, bytes)
        self.closed = False

    def other(self, end):
        return self.ends["source" if end == "device" else "device"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iotda-local"

    def log_message(self, *a):
        pass

    def _answer(self, status, body=None, ctype="application/json"):
        data = b"" if body is None else (json.dumps(body).encode() if isinstance(body, dict) else body)
        self.send_response(status)
        if data:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _body(self, limit=BODY_MAX):
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            return None
        return self.rfile.read(n)

    def do_POST(self):
        api = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_MAX:
            return self._answer(400, _err("IOTDA.021105", "The request body is over 1 MB."))
        body = self.rfile.read(n)
        if path == "/v5/device-auth":
            status, ans = api.auth(body)
            return self._answer(status, ans)
        m = _DATA.match(path)
        if m:
            status, ans = api.data(m.group(1), m.group(2), self.headers.get("access_token"), body)
            return self._answer(status, ans)
        self._answer(404, _err("IOTDA.000005", "Not found."))

    def do_PUT(self):
        api = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        m = _OBJ.match(url.path)
        if not m or not api.signed_ok("PUT", m.group(1), m.group(2), url.query):
            self._drain()   # read first: the device then always sees the 403 (see http.upload)
            return self._answer(403, _SIG_ERR, "application/xml")
        if self.headers.get("Content-Length") is None:
            return self._answer(411, b"<Error><Code>MissingContentLength</Code></Error>", "application/xml")
        n = int(self.headers["Content-Length"])
        got = bytearray()
        while len(got) < n:
            b = self.rfile.read(min(65536, n - len(got)))
            if not b:
                break
            got += b
        if len(got) < n:
            return self._answer(400, b"<Error><Code>IncompleteBody</Code></Error>", "application/xml")
        api.objects[(m.group(1), urllib.parse.unquote(m.group(2)))] = bytes(got)
        self._answer(200)

    def _drain(self):
        n = min(int(self.headers.get("Content-Length") or 0), 8 * BODY_MAX)
        while n > 0:
            b = self.rfile.read(min(65536, n))
            if not b:
                break
            n -= len(b)

    def do_GET(self):
        api = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        m = _TUNNEL.match(url.path)
        if m and self.headers.get("Upgrade", "").lower() == "websocket":
            return self._tunnel(api, m.group(1), m.group(2))
        m = _OBJ.match(url.path)
        if m:
            key = (m.group(1), urllib.parse.unquote(m.group(2)))
            if not api.signed_ok("GET", m.group(1), m.group(2), url.query):
                return self._answer(403, _SIG_ERR, "application/xml")
            if key not in api.objects:
                return self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            data = api.objects[key]
            if key in api.tampered:  # a store or path that damages data on the way
                data = data[:-1] + bytes((data[-1] ^ 1,))
            return self._answer(200, data, "application/octet-stream")
        self._answer(404, _err("IOTDA.000005", "Not found."))

    def _tunnel(self, api, tid, end):
        t = api.tunnels.get(tid)
        tok = self.headers.get("tunnel_access_token")
        want = None if t is None else (t.device_token if end == "device" else t.source_token)
        if t is None or t.closed or time.monotonic() >= t.expires or not tok or \
                not hmac.compare_digest(tok, want):
            return self._answer(401, _err("IOTDA.000002", "The tunnel access token is invalid or expired."))
        if t.ends[end] is not None and t.ends[end].alive:
            return self._answer(409, _err("IOTDA.000006", "This end of the tunnel is already connected."))
        key = self.headers.get("Sec-WebSocket-Key", "")
        switch_protocols(self, accept_for(key))
        ws = Ws(self.connection, self.rfile)
        t.ends[end] = ws
        if end == "device" and t.ends["source"] is not None:
            t.ends["source"].send(api.op("connect_tunnel", None))
        elif end == "source" and t.ends["device"] is not None and t.ends["device"].alive:
            ws.send(api.op("connect_tunnel", None))
        for op, data in ws.messages():
            api.relay(t, end, op, data)
        self.close_connection = True


class HttpsApi:
    """``sim``: the LocalIoTDA whose devices, uplinks and MQTT downlinks it shares."""

    def __init__(self, sim, port=0, token_ttl=86400, url_ttl=3600):
        self.sim = sim
        self.token_ttl = token_ttl
        self.url_ttl = url_ttl
        self.tokens = {}      # token -> [device_id, monotonic expiry]
        self.issued = []      # every token handed out
        self.throttled = {}   # device_id -> rate-limit answers still due
        self.requests = []    # (device_id, what, HTTP status)
        self.objects = {}     # (device_id, object name) -> bytes
        self.tampered = set()  # (device_id, object name) served with a flipped byte
        self.files = {}       # device_id -> {object name: {"upload"|"download": result paras, ...}}
        self.tunnels = {}     # tunnel id -> Tunnel
        self._key = os.urandom(16)
        self._stopped = threading.Event()
        self._srv = HttpServer((sim.host, port), _Handler, self, sim.tls)
        threading.Thread(target=self._srv.serve_forever, daemon=True, name="iotda-https").start()
        threading.Thread(target=self._expire_loop, daemon=True, name="iotda-tunnels").start()

    @property
    def port(self):
        return self._srv.server_address[1]

    @property
    def base(self):
        return "https://%s:%d" % (self.sim.host, self.port)

    def stop(self):
        self._stopped.set()
        for t in list(self.tunnels.values()):
            self.close_tunnel(t.id)
        self._srv.shutdown()
        self._srv.server_close()

    # ----- device API ------------------------------------------------------

    def throttle(self, device_id, n=1):
        """Answer the next ``n`` requests of ``device_id`` with 403 IOTDA.021101."""
        self.throttled[device_id] = n

    def expire_tokens(self, device_id):
        """Make every token of ``device_id`` invalid now (as expiry would)."""
        for tok, v in list(self.tokens.items()):
            if v[0] == device_id:
                del self.tokens[tok]

    def _limited(self, did):
        if self.throttled.get(did):
            self.throttled[did] -= 1
            return 403, _err("IOTDA.021101", "Request reached the maximum rate limit.")
        return None

    def auth(self, body):
        try:
            req = json.loads(body)
        except ValueError:
            return 400, _err("IOTDA.000006", "Invalid input data: the body is not JSON.")
        if not isinstance(req, dict):
            return 400, _err("IOTDA.000006", "Invalid input data: the body must be a JSON object.")
        did, st, ts, pw = (req.get(k) for k in ("device_id", "sign_type", "timestamp", "password"))
        if not isinstance(did, str) or not re.match(r"^[A-Za-z0-9_-]{1,128}$", did):
            return 400, _err("IOTDA.000006", "Invalid input data: device_id.")
        if not isinstance(st, int) or isinstance(st, bool) or st not in (0, 1):
            return 400, _err("IOTDA.000006", "Invalid input data: sign_type must be the integer 0 or 1.")
        if not isinstance(ts, str) or not re.match(r"^\d{10}$", ts):
            return 400, _err("IOTDA.000006", "Invalid input data: timestamp must be YYYYMMDDHH.")
        if not isinstance(pw, str) or len(pw) != 64:
            return 400, _err("IOTDA.000006", "Invalid input data: password must be 64 hex characters.")
        limited = self._limited(did)
        if limited:
            self.requests.append((did, "device-auth", 403))
            return limited
        secret = self.sim.devices.get(did)
        from .iotda import password
        ok = secret is not None and hmac.compare_digest(pw, password(secret, ts))
        if ok and st == 1:
            import calendar
            t = calendar.timegm(time.strptime(ts, "%Y%m%d%H"))
            ok = t - self.sim.skew_s <= self.sim.clock() < t + 3600 + self.sim.skew_s
        if not ok:
            self.requests.append((did, "device-auth", 401))
            return 401, _err("IOTDA.000002", "The request is unauthorized.")
        now = time.monotonic()
        for v in self.tokens.values():
            if v[0] == did:
                v[1] = min(v[1], now + 30)   # an older token lives 30 s more
        tok = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.tokens[tok] = [did, now + self.token_ttl]
        self.issued.append(tok)
        self.requests.append((did, "device-auth", 200))
        return 200, {"access_token": tok, "expires_in": self.token_ttl}

    def data(self, did, what, token, body):
        t = self.tokens.get(token or "")
        if t is None or t[0] != did or time.monotonic() >= t[1]:
            self.requests.append((did, what, 403))
            return 403, _err("IOTDA.000004", "Invalid access token.")
        limited = self._limited(did)
        if limited:
            self.requests.append((did, what, 403))
            return limited
        status, ans = self._data(did, what, body)
        self.requests.append((did, what, status))
        if status == 200:
            with self.sim._cond:
                self.sim.uplinks.append((did, what, body))
                self.sim._cond.notify_all()
        return status, ans

    def _data(self, did, what, body):
        if what == "messages/up":
            return 200, None
        try:
            req = json.loads(body)
        except ValueError:
            return 400, _err("IOTDA.000006", "Invalid input data: the body is not JSON.")
        if what == "properties/report":
            ss = req.get("services") if isinstance(req, dict) else None
            err = _services_error(ss, "services")
            if err:
                return 400, _err("IOTDA.000006", "Invalid input data: " + err)
            self.sim._store(did, ss)
            return 200, None
        devs = req.get("devices") if isinstance(req, dict) else None
        if not isinstance(devs, list) or not devs:
            return 400, _err("IOTDA.000006", "Invalid input data: devices must be a non-empty list.")
        if len(devs) > 50:
            return 400, _err("IOTDA.000006", "Invalid input data: devices holds %d children, at most 50."
                             % len(devs))
        kids = self.sim.children.get(did, {})
        for i, d in enumerate(devs):
            cid = d.get("device_id") if isinstance(d, dict) else None
            err = _services_error(d.get("services") if isinstance(d, dict) else None,
                                  "devices[%d].services" % i)
            if not isinstance(cid, str):
                err = "devices[%d].device_id must be a string" % i
            if err:
                return 400, _err("IOTDA.000006", "Invalid input data: " + err)
            if cid not in kids:
                return 400, _err("IOTDA.021104", "The device %s is not a child of the gateway." % cid)
        for d in devs:
            self.sim._store(d["device_id"], d["services"])
        return 200, None

    # ----- object store ($file_manager) -------------------------------------

    def _sig(self, method, did, name, expires):
        return hmac.new(self._key, ("%s:%s/%s:%d" % (method, did, name, expires)).encode(),
                        hashlib.sha256).hexdigest()

    def url(self, method, did, name):
        exp = int(time.time()) + self.url_ttl
        q = urllib.parse.quote(name, safe="")
        return "%s/obs/%s/%s?expires=%d&sig=%s" % (self.base, did, q, exp,
                                                    self._sig(method, did, q, exp))

    def signed_ok(self, method, did, qname, query):
        q = urllib.parse.parse_qs(query)
        try:
            exp = int(q["expires"][0])
            sig = q["sig"][0]
        except (KeyError, ValueError, IndexError):
            return False
        return time.time() < exp and hmac.compare_digest(sig, self._sig(method, did, qname, exp))

    def put_object(self, device_id, name, data):
        """Place a file the device can then download."""
        self.objects[(device_id, name)] = bytes(data)

    def file_event(self, did, target, et, p):
        """$file_manager events/up from ``did`` (for ``target`` or itself)."""
        who = target or did
        name = p.get("file_name") or p.get("object_name")
        rec = self.files.setdefault(who, {}).setdefault(name, {}) if isinstance(name, str) else None
        if et == "get_upload_url" and rec is not None:
            rec["declared"] = p.get("file_attributes") or {}
            self._answer_file(did, target, "get_upload_url_response", {
                "url": self.url("PUT", who, name), "bucket_name": "iotlink-local",
                "object_name": name, "expire": self.url_ttl,
                "file_attributes": rec["declared"]})
        elif et == "get_download_url" and rec is not None:
            data = self.objects.get((who, name))
            if data is None:  # what IoTDA answers for a missing object is undocumented
                self._answer_file(did, target, "get_download_url_response",
                                  {"object_name": name, "result_code": 1})
                return
            self._answer_file(did, target, "get_download_url_response", {
                "url": self.url("GET", who, name), "bucket_name": "iotlink-local",
                "object_name": name, "expire": self.url_ttl,
                "file_attributes": {"hash_code": hashlib.sha256(data).hexdigest(), "size": len(data)}})
        elif et in ("upload_result_report", "download_result_report") and rec is not None:
            rec["upload" if et[0] == "u" else "download"] = p
            if et[0] == "u":
                data = self.objects.get((who, name))
                d = rec.get("declared") or {}
                rec["verified"] = data is not None and \
                    hashlib.sha256(data).hexdigest() == d.get("hash_code") and len(data) == d.get("size")

    def _answer_file(self, did, target, et, paras):
        body = {"services": [{"service_id": "$file_manager", "event_type": et,
                              "event_time": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                              "paras": paras}]}
        if target:
            body["object_device_id"] = target
        self.sim._down(did, "events/down", body)

    # ----- secure tunnel ---------------------------------------------------

    @staticmethod
    def op(kind, data, request_id=None):
        return {"operation_type": kind, "tunnel_service_type": "ssh",
                "request_id": request_id or uuid.uuid4().hex, "data": data}

    def open_tunnel(self, device_id, ttl=600, notify=True):
        """Create a tunnel and tell the device (tunnel_notify over MQTT).
        Returns the Tunnel: ``source_uri()`` and ``source_token`` are the user's end."""
        t = Tunnel(device_id, ttl)
        self.tunnels[t.id] = t
        if notify:
            self.sim.send_event(device_id, "$tunnel_manager", "tunnel_notify", {
                "tunnel_uri": self.tunnel_uri(t, "device"),
                "tunnel_access_token": t.device_token, "expires_in": ttl})
        return t

    def tunnel_uri(self, t, end="source"):
        return "wss://%s:%d/v5/iot/tunnels/%s/%s-connect" % (self.sim.host, self.port, t.id, end)

    def close_tunnel(self, tid, status="closed"):
        t = self.tunnels.get(tid)
        if t is None or t.closed:
            return
        t.closed = True
        src = t.ends["source"]
        if src is not None:
            src.send(self.op("disconnect", {"status_code": "0", "status_msg": status}))
        for ws in t.ends.values():
            if ws is not None:
                ws.close(1000)

    def relay(self, t, end, op, data):
        t.relayed.append((end, op, data))
        try:
            msg = json.loads(data) if op == 1 else None
        except ValueError:
            msg = None
        if isinstance(msg, dict) and msg.get("operation_type") == "ping":
            t.ends[end].send(self.op("pong", None, msg.get("request_id")))
            return
        other = t.other(end)
        if other is not None and other.alive:
            other.frame(op, data)

    def _expire_loop(self):
        while not self._stopped.wait(0.2):
            now = time.monotonic()
            for t in list(self.tunnels.values()):
                if not t.closed and now >= t.expires:
                    self.close_tunnel(t.id, "expired")


def _services_error(ss, where):
    if not isinstance(ss, list) or not ss:
        return where + " must be a non-empty list"
    for i, s in enumerate(ss):
        if not isinstance(s, dict) or not isinstance(s.get("service_id"), str):
            return "%s[%d].service_id must be a string" % (where, i)
        if not 0 < len(s["service_id"]) <= 64:  # the product model's limit (stand-in's reading)
            return "%s[%d].service_id must be 1..64 characters" % (where, i)
        if not isinstance(s.get("properties"), dict):
            return "%s[%d].properties must be an object" % (where, i)
    return None
