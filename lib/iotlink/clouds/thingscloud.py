"""ThingsCloud (thingscloud.xyz), MQTT device side.

Config (``cloud``): type "thingscloud", host (the device's MQTT access point
from the console), access_token (the device's AccessToken: MQTT username),
project_key (the ProjectKey: MQTT password), client_id (default ``tc_`` + the
first 16 hex digits of SHA-256(access_token): stable, unique per device, and
no part of the token), port 1883 (8883 with tls; the TLS port is unverified),
tls false, keepalive 120, streams (custom data stream identifiers whose
``data/<id>/set`` downlinks to subscribe), gateway (true: also subscribe the
provisional gateway topics), version (reported as the attribute ``version``
after every connect, what OTA on ThingsCloud looks at).

Topics are relative and carry no device id: the broker knows the device by
its AccessToken.  Downlinks become:

  attributes/push               Request(SET, params={attr: value})  (no ack topic;
                                Device re-reports the new values: REPORT_AFTER_SET)
  command/send/<id>             Request(COMMAND, name=method, params, rid=(<id>, id))
                                -> command/reply/<id> {"method", "params", "id"}
  data/<identifier>/set         Request(DATA, name=identifier, params=raw bytes)
  attributes/response           Request(EVENT, "attributes/response", params)
  attributes/get/response/<id>  Request(EVENT, "attributes/get/response",
                                params=attributes, rid=<id>, error when result != 1)
  command/reply/response/<id>, event/response/<id>   Request(EVENT, ..., rid=<id>)
  gateway/attributes/push       Request(SYSTEM): one SET per sub-device address to
                                the "set" handler, req.target = the address
  gateway/command/send          Request(COMMAND, target=address) -> gateway/command/reply
  gateway/*/response            Request(EVENT, "gateway/...", target from "device")

An ack payload that is not JSON reaches the app as raw bytes; the formats of
the acks are unverified.  The plain success answer to a report
({"result": 1, "message": "success"}) is recognised without parsing and comes
as one reused Request and params dict: copy what a handler keeps.  Optional
parts are modules of their own, imported by the app that uses them or by this
module where it needs them: thingscloud_uplinks.py (attribute gets, custom data
streams, app-built command replies), thingscloud_gateway.py (sub-devices; its
topics and payloads are provisional, from third-party sources only, see
docs/thingscloud.md), thingscloud_ota.py, thingscloud_provision.py.
"""

from micropython import const
from .. import config
from ..request import Request, COMMAND, SET, EVENT, DATA
from . import dumps, json_object

ID = const(1000)        # the id the vendor SDKs use for gets, events and replies
_IDENT_MAX = const(64)

# otaUpgrade reply codes (params.ota_result), as in the vendor's OTA demos;
# what the platform makes of each failure code is unverified
OTA_OK = const(0)
OTA_DOWNLOAD = const(1)
OTA_VERIFY = const(3)
OTA_FAILED = const(4)


def valid_ident(s):
    """Custom data stream identifier: letters, digits, '_' and '-'."""
    return config.word(s, _IDENT_MAX)


def default_client_id(token):
    from hashlib import sha256
    from binascii import hexlify
    return "tc_" + hexlify(sha256(token.encode()).digest()).decode()[:16]


def chip_id(mac):
    """The vendor ESP SDK's chip id from a 6-byte MAC (``machine.unique_id()``
    on ESP32): the last three bytes as one number in uppercase hex, no
    leading zeros.  Its default DeviceKey, and client id suffix."""
    return "%X" % (mac[-3] << 16 | mac[-2] << 8 | mac[-1])


def topic_id(v):
    """A topic id level from an int or str."""
    b = str(v).encode()
    if not b or b"/" in b or b"+" in b or b"#" in b:
        raise ValueError("id must be a non-empty topic level")
    return b


def ack_body(payload):
    """An acknowledgement's body: a dict when JSON, else the raw bytes."""
    try:
        return json_object(payload)
    except ValueError:
        return payload


class Cloud:
    NAME = "thingscloud"
    RECEIVE_ONLY = False
    REPORT_AFTER_SET = True  # attribute pushes have no ack topic

    def __init__(self, cfg):
        c = cfg["cloud"]
        self.ep = config.endpoint(c, 1883, False, 120)
        self.token = config.get(c, "access_token", str)
        self.project_key = config.get(c, "project_key", str)
        self.client_id = config.get(c, "client_id", str, None) or default_client_id(self.token)
        self.version = config.get(c, "version", str, None)
        self.gateway = config.get(c, "gateway", bool, False)
        streams = config.get(c, "streams", list, [])
        subs = [b"attributes/push", b"attributes/response", b"attributes/get/response/+",
                b"command/send/+", b"command/reply/response/+", b"event/response/+"]
        for s in streams:
            if not valid_ident(s):
                raise config.ConfigError("cloud.streams: identifiers of letters, digits, '_' or '-'")
            subs.append(b"data/" + s.encode() + b"/set")
        if self.gateway:
            from .thingscloud_gateway import GATEWAY_SUBS
            subs.extend(GATEWAY_SUBS)
        self._subs = tuple((t, 0) for t in subs)
        self._ok = Request(EVENT)  # the success attributes/response, reused: see decode()

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        return self.client_id, self.token, self.project_key

    def subscriptions(self):
        return self._subs

    def will(self):
        return None  # no vendor SDK uses one

    def on_connect(self, now):
        if self.version:
            return ((b"attributes", dumps({"version": self.version}).encode(), 0, False),)
        return ()

    # ----- uplinks ---------------------------------------------------------

    def report(self, props, service, now, target=None):
        """Attributes up: ``attributes`` (flat JSON), or ``gateway/attributes``
        keyed by the sub-device address for a ``target``."""
        if service:
            raise ValueError("ThingsCloud attributes have no service")
        if not isinstance(props, dict):
            raise TypeError("attributes must be a dict")
        if target is not None:
            from .thingscloud_gateway import report
            return report({target: props})
        return b"attributes", dumps(props)

    def event(self, name, params, now, target=None):
        """``event/report/1000`` {"method": name, "params": {...}}."""
        if target is not None:
            raise NotImplementedError("thingscloud: no sub-device events (no documented topic)")
        return self.event_report(name, params)

    def event_report(self, name, params=None, id=ID):
        """``event/report/<id>`` {"method": name, "params": {...}}."""
        if not isinstance(name, str) or not name:
            raise ValueError("event name must be a non-empty string")
        return b"event/report/" + topic_id(id), dumps({"method": name, "params": params or {}})

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        if topic == b"attributes/push":
            req = Request(SET)
            try:
                req.params = json_object(payload)
            except ValueError as e:
                req.error = str(e)
            return req
        if topic.startswith(b"command/send/"):
            return self.fill_command(Request(COMMAND, rid=(topic_tail(topic, 13), None)), payload)
        if topic.startswith(b"data/") and topic.endswith(b"/set") and len(topic) > 9:
            try:
                name = topic[5:-4].decode()
            except UnicodeError:
                return None
            return Request(DATA, name, payload) if valid_ident(name) else None
        if topic == b"attributes/response":
            # the answer to every report: a plain success is recognised in
            # place and handed on as one reused Request with a reused dict
            if _same(payload, b'{"result":1,"message":"success"}') or \
                    _same(payload, b'{"message":"success","result":1}'):
                r = self._ok
                r.kind = EVENT
                r.name = "attributes/response"
                r.service = r.target = r.rid = r.error = None
                d = r.params
                if not isinstance(d, dict) or len(d) != 2:
                    d = r.params = {}
                d["result"] = 1
                d["message"] = "success"
                return r
            return Request(EVENT, "attributes/response", ack_body(payload))
        if topic.startswith(b"attributes/get/response/"):
            from .thingscloud_uplinks import get_response
            return get_response(topic, payload)
        for p in (b"command/reply/response/", b"event/response/"):
            if topic.startswith(p):
                return Request(EVENT, p[:-1].decode(), ack_body(payload), rid=topic_tail(topic, len(p)))
        if topic.startswith(b"gateway/"):
            from .thingscloud_gateway import decode
            return decode(self, topic, payload)
        return None

    def fill_command(self, req, payload, body=None):
        """``req`` (a COMMAND) filled from a command/send body."""
        try:
            if body is None:
                body = json_object(payload)
        except ValueError as e:
            req.error = str(e)
            return req
        m, p, i = body.get("method"), body.get("params"), body.get("id")
        req.rid = (req.rid[0], i)
        if p is None:
            p = {}
        if not isinstance(m, str) or not m:
            req.error = "method must be a non-empty string"
        elif not isinstance(p, dict):
            req.error = "params must be a JSON object"
        req.name, req.params = m if isinstance(m, str) else None, p
        return req

    def reply(self, req, result, err):
        if req.kind != COMMAND:
            return None  # attribute pushes have no ack topic
        tid, cid = req.rid if isinstance(req.rid, tuple) else (None, req.rid)
        cmd = {"method": req.name or "", "params": {"error": err} if err is not None else (result or {})}
        if cid is not None:
            cmd["id"] = cid
        if req.target is not None:
            return b"gateway/command/reply", dumps({"device": req.target, "command": cmd})
        if not tid:
            tid = cid if cid is not None else ID
        return b"command/reply/" + topic_id(tid), dumps(cmd)

    def system(self, req, now_ms):
        """gateway/attributes/push: one SET per sub-device to the "set" handler."""
        return [("event", SET, Request(SET, params=v, target=k)) for k, v in req.params]

    def service_key(self, service):
        return service or ""


def topic_tail(topic, n):
    try:
        return topic[n:].decode()
    except UnicodeError:
        return ""


def _same(b, form):
    """``b`` is ``form`` give or take whitespace between the JSON tokens."""
    i = 0
    n = len(b)
    for k in range(len(form)):
        while i < n and b[i] <= 32:
            i += 1
        if i >= n or b[i] != form[k]:
            return False
        i += 1
    while i < n and b[i] <= 32:
        i += 1
    return i == n
