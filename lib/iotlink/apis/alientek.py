"""ALIENTEK 原子云 (cloud.alientek.com), application side: REST and WebSocket.

    from iotlink.apis import alientek
    api = alientek.Api(token, ca="ca.der")
    org = api.orgs()[0]["id"]
    s = alientek.Session({"cloud": {"token": token, "org_id": org, "ca": "ca.der"}})
    @s.on("data")
    def data(req):            # req.target: device number, req.params: bytes
        print(req.target, req.params)
    s.subscribe("18846494908532689575")
    s.send("18846494908532689575", b"on\\r\\n")
    while True:
        s.poll(1000)

REST: every answer is ``{code, message, data}``; any code but 200 (or an HTTP
status but 200, or an answer that is not that envelope) raises ApiError.
WebSocket: binary messages, 1 byte opcode + device number + payload.
"""

import time
from micropython import const

from .. import log, config
from ..request import Request, DATA
from ..linkbase import LinkBase, Outbox, PING, DEAD

API = "https://cloud.alientek.com/api"
WS = "wss://cloud.alientek.com/connection"

SUB = const(0x01)
UNSUB = const(0x02)
TO_DTU = const(0x03)
ONLINE = const(0x04)
OFFLINE = const(0x05)
FROM_DTU = const(0x06)
TO_NB = const(0x07)
FROM_NB = const(0x08)
NUMBER_LEN = const(20)
NB_LEN = const(37)  # the document's figure; its own example is 36 characters

CODES = {
    200: "ok",
    201: "request failed (see message)",
    300: "not logged in: API token refused",
    301: "permission denied",
    302: "account locked",
    400: "bad parameter",
    401: "no such object",
    500: "server error",
}


class ApiError(Exception):
    """A 原子云 REST call failed: ``code`` (the envelope code, or the HTTP
    status when ``http`` is True) and the server's ``message``."""

    def __init__(self, code, message="", http=False):
        what = ("HTTP status %d" if http else "code %d") % code
        super().__init__("%s (%s)%s" % (what, CODES.get(code, "unknown") if not http else "no JSON envelope",
                                        ": " + message if message else ""))
        self.code = code
        self.message = message
        self.http = http


# ----- frames (pure) ---------------------------------------------------------

def _num(number, nb_len=NB_LEN, nb=False):
    if isinstance(number, str):
        number = number.encode()
    if not isinstance(number, (bytes, bytearray)):
        raise TypeError("device number must be str or bytes")
    if not nb:
        if len(number) != NUMBER_LEN or not _digits(number):
            raise ValueError("device number must be 20 digits")
        return bytes(number)
    if not number or len(number) > nb_len or b"\x00" in number:
        raise ValueError("NB-IoT device number must be 1..%d characters" % nb_len)
    return bytes(number) + b"\x00" * (nb_len - len(number))


def _digits(b):
    for c in b:
        if c < 0x30 or c > 0x39:
            return False
    return True


def frame(op, number, payload=b"", nb_len=NB_LEN):
    """One WebSocket message: opcode, number (20 digits; NB-IoT numbers padded
    with NUL to ``nb_len`` for 0x07/0x08), payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    nb = op in (TO_NB, FROM_NB)
    if op in (SUB, UNSUB, ONLINE, OFFLINE) and len(number) != NUMBER_LEN:
        nb = True  # an NB-IoT number in a subscribe: padded like 0x07
    return bytes((op,)) + _num(number, nb_len, nb) + bytes(payload)


def parse(msg, nb_len=NB_LEN):
    """(opcode, number str or None, payload bytes) of one message; ValueError
    when it is malformed."""
    if not msg:
        raise ValueError("empty message")
    op = msg[0]
    if op in (SUB, UNSUB, ONLINE, OFFLINE):
        # the number follows (20 digits, or an NB-IoT number); tolerated absent
        n = bytes(msg[1:]).rstrip(b"\x00")
        return op, n.decode() if n else None, b""
    if op in (TO_DTU, FROM_DTU):
        n = msg[1:1 + NUMBER_LEN]
        if len(n) < NUMBER_LEN or not _digits(n):
            raise ValueError("opcode %d without a 20-digit number" % op)
        return op, bytes(n).decode(), bytes(msg[1 + NUMBER_LEN:])
    if op in (TO_NB, FROM_NB):
        if len(msg) < 1 + nb_len:
            raise ValueError("opcode %d shorter than its %d-byte number" % (op, nb_len))
        n = bytes(msg[1:1 + nb_len]).rstrip(b"\x00")
        try:
            s = n.decode()
        except Exception:
            raise ValueError("opcode %d: number is not text" % op)
        return op, s, bytes(msg[1 + nb_len:])
    raise ValueError("unknown opcode 0x%02x" % op)


def hex_bytes(text):
    """The payload of a history item: "41 4C 49" -> b"ALI".  When the text is
    not hex pairs (one client shows it as plain text) its UTF-8 bytes."""
    if not isinstance(text, str):
        return b""
    from binascii import unhexlify
    h = text.replace(" ", "").replace("\r", "").replace("\n", "")
    try:
        if len(h) % 2:
            raise ValueError
        return unhexlify(h)
    except Exception:
        return text.encode()


def _when(v, name):
    """yyyy-MM-dd hh:mm:ss from a string of that shape or a time tuple."""
    if isinstance(v, (tuple, list)):
        v = "%04d-%02d-%02d %02d:%02d:%02d" % tuple(v[:6])
    if not isinstance(v, str) or len(v) != 19 or v[4] != "-" or v[7] != "-" or v[10] != " " \
            or v[13] != ":" or v[16] != ":" or not (v[:4] + v[5:7] + v[8:10] + v[11:13] + v[14:16] + v[17:]).isdigit():
        raise ValueError("%s: must be 'YYYY-MM-DD HH:MM:SS' or a time tuple" % name)
    return v.replace(" ", "%20").replace(":", "%3A")


def uuid4():
    """A random 8-4-4-4-12 identifier (the per-connection token)."""
    from binascii import hexlify
    from ..ws import _rand
    b = bytearray(_rand(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = hexlify(b).decode()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


# ----- REST ------------------------------------------------------------------

class Api:
    """The REST API.  ``base`` may be http:// for a local stand-in; https://
    verifies the server with ``ca`` (PEM or DER; PEM on CPython) unless
    ``verify`` is False."""

    def __init__(self, token, base=API, ca=None, verify=True, timeout_ms=10000, max_body=16384):
        if not isinstance(token, str) or not token:
            raise config.ConfigError("cloud.token: required (the account's API token)")
        log.secret(token)
        self._token = token
        self.base = base.rstrip("/")
        if not (self.base.startswith("https://") or self.base.startswith("http://")):
            raise config.ConfigError("cloud.api: must start with https:// or http://")
        self.ca = ca
        self.verify = verify
        self.timeout_ms = timeout_ms
        self.max_body = max_body

    def __repr__(self):
        return "<alientek.Api %s>" % self.base

    def orgs(self):
        """Organisations of the account: [{id, name, device_limit, device_counter, ...}]."""
        return self._get("/orgs")

    def groups(self, org_id):
        """Device groups of an organisation: [{id, name, ...}]."""
        return self._get("/orgs/%d/grouplist" % _int(org_id, "org_id"))

    def devices(self, org_id, group_id):
        """Devices in a group: [{id, show_id, name, number, device_type}]."""
        return self._get("/orgs/%d/groups/%d/devices" % (_int(org_id, "org_id"), _int(group_id, "group_id")))

    def state(self, org_id, device_id):
        """Connection state by the numeric device id: "connected",
        "disconnected" (DTU/Wi-Fi) or "binded", "notbind" (NB-IoT)."""
        return self._get("/orgs/%d/devicestate/%d" % (_int(org_id, "org_id"), _int(device_id, "device_id")))

    def packets(self, org_id, number, page=None, limit=None, start=None, end=None):
        """Message history (newest first, about 6 hours) by device number:
        {current_page, total_page, total_item, page_limit, items}; each item
        gets "data", its payload as bytes decoded from hex_packet."""
        if isinstance(number, bytes):
            number = number.decode()
        if not isinstance(number, str) or not number or not _safe(number):
            raise ValueError("number: must be the device number (digits, letters, '-')")
        q = []
        if page is not None:
            q.append("page=%d" % _int(page, "page", 1))
        if limit is not None:
            q.append("limit=%d" % _int(limit, "limit", 1))
        if start is not None:
            q.append("start=" + _when(start, "start"))
        if end is not None:
            q.append("end=" + _when(end, "end"))
        d = self._get("/orgs/%d/devicepacket/%s%s" % (_int(org_id, "org_id"), number,
                                                      "?" + "&".join(q) if q else ""))
        if not isinstance(d, dict):
            raise ApiError(0, "history data is not an object")
        items = d.get("items")
        if not isinstance(items, list):
            d["items"] = items = []
        for it in items:
            if isinstance(it, dict):
                it["data"] = hex_bytes(it.get("hex_packet"))
        return d

    def _get(self, path):
        status, body = self._http(self.base + path)
        if status != 200:
            raise ApiError(status, "", True)
        import json
        try:
            env = json.loads(body)
        except Exception:
            raise ApiError(200, "answer is not JSON", True)
        if not isinstance(env, dict) or not isinstance(env.get("code"), int):
            raise ApiError(200, "answer has no code", True)
        if env["code"] != 200:
            m = env.get("message")
            raise ApiError(env["code"], m if isinstance(m, str) else "")
        return env.get("data")

    def _http(self, url):
        from .. import http
        hdr = {"token": self._token, "Content-Type": "application/json"}
        try:
            return http.request("GET", url, None, hdr, self.timeout_ms, self.ca, self.verify,
                                self.max_body)
        except ValueError as e:  # over max_body
            raise ApiError(0, str(e), True)


def _int(v, name, lo=0):
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise ValueError("%s: must be an integer >= %d" % (name, lo))
    return v


def _safe(s):
    for c in s:
        if not (c.isdigit() or c.isalpha() or c == "-"):
            return False
    return True


# ----- WebSocket session -----------------------------------------------------

class Session(LinkBase):
    """The 原子云 WebSocket: subscribe to devices, send them data, receive
    their data and online/offline notices.  Handlers (``on(kind)``):
    "data" fn(req) with req.target the number, req.params the payload bytes,
    req.name "dtu" or "nbiot"; "online"/"offline" fn(req) with req.target;
    "status" fn(event, detail) with "up"/"down".  Subscriptions are sent again
    after every reconnect; sends made while offline wait in a bounded outbox."""

    def __init__(self, cfg):
        cfg = config.load(cfg) if isinstance(cfg, str) else cfg
        c = config.section(cfg, "cloud")
        config.get(c, "type", str, "alientek", choices=("alientek",))
        self._token = config.get(c, "token", str)
        self.org = config.get(c, "org_id", int, lo=0)
        self.api_base = config.get(c, "api", str, API)
        self.ws_base = config.get(c, "ws", str, WS).rstrip("/")
        if not (self.ws_base.startswith("wss://") or self.ws_base.startswith("ws://")):
            raise config.ConfigError("cloud.ws: must start with wss:// or ws://")
        self.ca = config.file(c, "ca")
        self.verify = config.get(c, "verify", bool, True)
        if self.verify and not self.ca and (self.ws_base.startswith("wss:") or self.api_base.startswith("https:")):
            raise config.ConfigError("cloud.ca: required for wss:// and https:// (CA file to verify "
                                     "the server; set cloud.verify false only for testing)")
        self.keepalive_ms = config.get(c, "keepalive", int, 30, lo=1, hi=3600) * 1000
        self.timeout_ms = config.get(c, "timeout_ms", int, 10000, lo=100, hi=120000)
        self.max_frame = config.get(c, "max_frame", int, 4096, lo=64, hi=1048576)
        self.nb_len = config.get(c, "nb_len", int, NB_LEN, lo=1, hi=64)
        self.opts = config.session(cfg)
        LinkBase.__init__(self, time.ticks_ms(), {
            "connects": 0, "reconnects": 0, "received": 0, "sent": 0, "queued": 0, "dropped": 0,
            "bad_input": 0, "handler_errors": 0, "link_errors": 0, "pings": 0})
        self._subs = []
        self._out = Outbox(self.opts["outbox"])
        self.ws = None
        self._ctx = None
        for i, n in enumerate(config.get(c, "devices", list, [])):
            try:
                self.subscribe(n)
            except Exception:
                raise config.ConfigError("cloud.devices[%d]: must be a device number (20 digits, or an NB-IoT number)" % i)

    def __repr__(self):
        return "<alientek.Session org %d %s>" % (self.org, "up" if self.connected else "down")

    def api(self):
        """An Api for the same account and CA."""
        return Api(self._token, self.api_base, self.ca, self.verify, self.timeout_ms)

    # ----- uplinks ---------------------------------------------------------

    def subscribe(self, number):
        """Receive this device's data and notices, now and after every reconnect."""
        m = frame(SUB, number, b"", self.nb_len)
        n = m[1:]
        if n not in self._subs:
            self._subs.append(n)
        self._write(m, False)

    def unsubscribe(self, number):
        m = frame(UNSUB, number, b"", self.nb_len)
        self._subs = [s for s in self._subs if s != m[1:]]
        self._write(m, False)

    def send(self, number, data):
        """Data to a DTU / Wi-Fi device (0x03)."""
        self._write(frame(TO_DTU, number, data, self.nb_len), True)

    def send_nb(self, number, data):
        """Data to an NB-IoT device (0x07)."""
        self._write(frame(TO_NB, number, data, self.nb_len), True)

    def _write(self, m, queue):
        if self.connected:
            try:
                self.ws.send(m)
                self.stats["sent"] += 1
                return
            except Exception as e:
                self._lost(e)
        if queue:
            self.stats["queued"] += 1
            if self._out.put(m) is not None:
                self.stats["dropped"] += 1
                log.warn("outbox full (%d): oldest message dropped", self.opts["outbox"])

    # ----- connection ------------------------------------------------------

    def url(self):
        return "%s/%s/org/%d?token=%s" % (self.ws_base, self._token, self.org, uuid4())

    def connect(self):
        """Connect now; raises OSError when that fails (poll() then retries)."""
        try:
            self._open()
        except Exception as e:
            self._failed(e)
            raise

    def _open(self):
        from .. import ws
        if self._ctx is None and self.ws_base.startswith("wss:"):
            from .. import tls
            self._ctx = tls.context(self.ca, self.verify)
        w = ws.connect(self.url(), timeout_ms=self.timeout_ms, max_size=self.max_frame, ctx=self._ctx)
        try:
            for n in self._subs:
                w.send(bytes((SUB,)) + n)
            while len(self._out):
                w.send(self._out.peek())
                self._out.pop()     # only once sent
                self.stats["sent"] += 1
        except Exception:
            w.s.close()
            raise
        self.ws = w
        self.up(time.ticks_ms(), "%s (org %d), %d subscriptions" % (self.ws_base, self.org, len(self._subs)))

    def close(self):
        """Close handshake, no reconnect until connect() or poll()."""
        if self.ws:
            self.ws.close()
        self.ws = None
        self.connected = False

    def _lost(self, e):
        if self.ws:
            self.ws.closed or self.ws.s.close()
        self.ws = None
        self.lost(e, time.ticks_ms())

    def _failed(self, e):
        self.failed(e, time.ticks_ms())

    # ----- the loop --------------------------------------------------------

    def poll(self, timeout_ms=0):
        """Read and dispatch messages, ping when idle, reconnect when down,
        for up to ``timeout_ms``."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            if not self.connected and not self.connect_in(time.ticks_ms()):
                try:
                    self._open()
                except Exception as e:
                    self._failed(e)
            left = time.ticks_diff(deadline, time.ticks_ms())
            if self.connected:
                try:
                    wait = self._keepalive()
                    if self.ws.ready(max(0, min(left, wait))):
                        m = self.ws.recv()
                        if m is not None:
                            self._message(m)
                except Exception as e:
                    self._lost(e)
            elif left > 0:
                until = self.connect_in(time.ticks_ms())
                time.sleep_ms(max(0, min(left, until, 1000)))
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return

    def _keepalive(self):
        """A ping when LinkBase says one is due; a dead link as an OSError."""
        now = time.ticks_ms()
        w = self.ws
        wait = self.keepalive(now, w.rx, w.tx)
        if wait == DEAD:
            raise self.silence(now, w.rx)
        if wait == PING:
            w.ping()
            self.stats["pings"] += 1
            self.pinged(now)
            wait = self.keepalive(now, w.rx, w.tx)
        return wait

    def _message(self, m):
        op, data = m
        self.stats["received"] += 1
        if op != 2:
            self.stats["bad_input"] += 1
            log.warn("text message of %d bytes ignored", len(data))
            return
        try:
            op, number, payload = parse(data, self.nb_len)
        except Exception as e:
            self.stats["bad_input"] += 1
            log.warn("bad message: %s", _err(e))
            return
        if op == ONLINE:
            kind, req = "online", Request("online", target=number)
        elif op == OFFLINE:
            kind, req = "offline", Request("offline", target=number)
        elif op in (FROM_DTU, FROM_NB):
            kind, req = DATA, Request(DATA, "dtu" if op == FROM_DTU else "nbiot", payload, target=number)
        else:
            self.stats["bad_input"] += 1
            log.warn("opcode 0x%02x is not sent by the cloud: ignored", op)
            return
        fn = self._handlers.get(kind)
        if fn is None:
            return
        try:
            fn(req)
        except Exception as e:
            self.stats["handler_errors"] += 1
            log.warn("%s handler raised %s", kind, _err(e))


_err = log.err
