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
the acks are unverified.  Gateway topics and payloads are provisional
(third-party sources only, see docs/thingscloud.md).
"""

import json
from micropython import const
from .. import config
from ..request import Request, COMMAND, SET, EVENT, DATA, SYSTEM

_SEP = (",", ":")
_ID = const(1000)       # the id the vendor SDKs use for gets, events and replies
_IDENT_MAX = const(64)

# otaUpgrade reply codes (params.ota_result), as in the vendor's OTA demos;
# what the platform makes of each failure code is unverified
OTA_OK = const(0)
OTA_DOWNLOAD = const(1)
OTA_VERIFY = const(3)
OTA_FAILED = const(4)


def dumps(obj):
    return json.dumps(obj, separators=_SEP)


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


def _id(v):
    """A topic id level from an int or str."""
    b = str(v).encode()
    if not b or b"/" in b or b"+" in b or b"#" in b:
        raise ValueError("id must be a non-empty topic level")
    return b


def _obj(payload):
    try:
        body = json.loads(payload) if payload else {}
    except (ValueError, UnicodeError):
        raise ValueError("payload is not UTF-8 JSON")
    if not isinstance(body, dict):
        raise ValueError("payload must be a JSON object")
    return body


def _ack(payload):
    """An acknowledgement's body: a dict when JSON, else the raw bytes."""
    try:
        return _obj(payload)
    except ValueError:
        return payload


class Cloud:
    REPORT_AFTER_SET = True

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
            subs += [b"gateway/attributes/push", b"gateway/command/send",
                     b"gateway/attributes/response", b"gateway/attributes/get/response",
                     b"gateway/event/response"]
        self._subs = tuple((t, 0) for t in subs)

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
            return self.gateway_report({target: props})
        return b"attributes", dumps(props)

    def event(self, name, params, now, target=None):
        """``event/report/1000`` {"method": name, "params": {...}}."""
        if target is not None:
            raise ValueError("sub-device events: ThingsCloud documents no topic")
        return self.event_report(name, params)

    def event_report(self, name, params=None, id=_ID):
        if not isinstance(name, str) or not name:
            raise ValueError("event name must be a non-empty string")
        return b"event/report/" + _id(id), dumps({"method": name, "params": params or {}})

    def attributes_get(self, keys=None, id=_ID):
        """Ask for the cloud's attribute values (all, or ``keys``); the answer
        arrives as EVENT "attributes/get/response" with rid = str(id)."""
        body = {} if not keys else {"keys": list(keys)}
        return b"attributes/get/" + _id(id), dumps(body)

    def data(self, identifier, payload):
        """A custom data stream uplink: ``data/<identifier>``, bytes as they are."""
        if not valid_ident(identifier):
            raise ValueError("stream identifier: letters, digits, '_' or '-'")
        if isinstance(payload, str):
            payload = payload.encode()
        return b"data/" + identifier.encode(), payload

    def command_reply(self, method, params, id, topic_id=None):
        """A command reply built by the app (e.g. after a reboot for OTA)."""
        body = {"method": method, "params": params or {}}
        if id is not None:
            body["id"] = id
        return b"command/reply/" + _id(topic_id if topic_id is not None else
                                       (id if id is not None else _ID)), dumps(body)

    # gateway (provisional)

    def gateway_report(self, children):
        """``gateway/attributes`` {address: {attr: value}, ...}."""
        for k, v in children.items():
            if not isinstance(k, str) or not isinstance(v, dict):
                raise TypeError("gateway report: {address: {attr: value}}")
        return b"gateway/attributes", dumps(children)

    def gateway_connect(self, address):
        return b"gateway/connect", dumps({"device": address})

    def gateway_disconnect(self, address):
        return b"gateway/disconnect", dumps({"device": address})

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        if topic == b"attributes/push":
            req = Request(SET)
            try:
                req.params = _obj(payload)
            except ValueError as e:
                req.error = str(e)
            return req
        if topic.startswith(b"command/send/"):
            return self._command(Request(COMMAND, rid=(_tail(topic, 13), None)), payload)
        if topic.startswith(b"data/") and topic.endswith(b"/set") and len(topic) > 9:
            try:
                name = topic[5:-4].decode()
            except UnicodeError:
                return None
            return Request(DATA, name, payload) if valid_ident(name) else None
        if topic == b"attributes/response":
            return Request(EVENT, "attributes/response", _ack(payload))
        if topic.startswith(b"attributes/get/response/"):
            req = Request(EVENT, "attributes/get/response", rid=_tail(topic, 24))
            body = _ack(payload)
            if not isinstance(body, dict):
                req.params, req.error = body, "payload is not UTF-8 JSON"
                return req
            a = body.get("attributes")
            req.params = a if isinstance(a, dict) else {}
            if body.get("result") not in (1, True):
                m = body.get("message")
                req.error = m if isinstance(m, str) and m else "result %s" % body.get("result")
            return req
        for p in (b"command/reply/response/", b"event/response/"):
            if topic.startswith(p):
                return Request(EVENT, p[:-1].decode(), _ack(payload), rid=_tail(topic, len(p)))
        if topic.startswith(b"gateway/"):
            return self._gateway(topic, payload)
        return None

    def _command(self, req, payload, body=None):
        try:
            if body is None:
                body = _obj(payload)
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

    def _gateway(self, topic, payload):
        rest = topic[8:]
        if rest == b"attributes/push":
            body = _obj(payload)
            kids = [(k, v) for k, v in body.items() if isinstance(v, dict)]
            return Request(SYSTEM, "gateway/attributes/push", kids)
        if rest == b"command/send":
            req = Request(COMMAND, rid=(None, None))
            try:
                body = _obj(payload)
            except ValueError as e:
                req.error = str(e)
                return req
            dev, cmd = body.get("device"), body.get("command")
            if isinstance(dev, str) and dev:
                req.target = dev
            else:
                req.error = "device must be a sub-device address"
                return req
            if not isinstance(cmd, dict):
                req.error = "command must be a JSON object"
                return req
            return self._command(req, None, cmd)
        if rest.endswith(b"/response"):
            body = _ack(payload)
            dev = body.get("device") if isinstance(body, dict) else None
            return Request(EVENT, topic.decode(), body, target=dev if isinstance(dev, str) else None)
        return None

    def system(self, req, now_ms):
        """gateway/attributes/push: one SET per sub-device to the "set" handler."""
        return [("event", SET, Request(SET, params=v, target=k)) for k, v in req.params]

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
            tid = cid if cid is not None else _ID
        return b"command/reply/" + _id(tid), dumps(cmd)


def _tail(topic, n):
    try:
        return topic[n:].decode()
    except UnicodeError:
        return ""
