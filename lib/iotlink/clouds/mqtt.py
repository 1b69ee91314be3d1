"""Plain MQTT: any broker (mosquitto, EMQX, HiveMQ), one documented convention.

With ``base`` = ``iotlink/<client_id>`` unless configured:

  up    {base}/up/report[/<service>]   JSON object of property values
  up    {base}/up/event/<name>         JSON object
  up    {base}/up/reply                {"id", "name", "ok": true, "data": {...}}
                                       {"id", "name", "ok": false, "error": "..."}
  up    {base}/status                  "online" (retained); "offline" as the last will
  down  {base}/down/command/<name>     {"id": "...", "params": {...}}  -> reply
  down  {base}/down/set                {"id": "...", "params": {...}}  -> reply, re-report
  down  {base}/down/get                {"id": "...", "params": ["name", ...] | null} -> reply
  down  {base}/down/message            any bytes, handed over untouched
"""

from .. import config
from ..request import Request, COMMAND, SET, GET, MESSAGE
from . import dumps, json_object


class Cloud:
    NAME = "mqtt"
    RECEIVE_ONLY = False
    REPORT_AFTER_SET = True

    def __init__(self, cfg):
        c = cfg["cloud"]
        self.ep = config.endpoint(c, 1883, False, 60)
        self.client_id = config.get(c, "client_id", str)
        self.username = config.get(c, "username", str, None)
        self.password = config.get(c, "password", str, None, nonempty=False)
        if self.password is not None and self.username is None:
            raise config.ConfigError("cloud.username: required when cloud.password is set")
        base = config.get(c, "base", str, "iotlink/" + self.client_id)
        for ch in "+#":
            if ch in base:
                raise config.ConfigError("cloud.base: must not contain MQTT wildcards (+ #)")
        base = base.rstrip("/").encode()
        self._down = base + b"/down/"
        self._up = base + b"/up/"
        self._reply = base + b"/up/reply"
        self._report = base + b"/up/report"  # built once: reports are the hot path
        self._status = base + b"/status"
        self._subs = ((base + b"/down/#", 1),)

    def credentials(self, now):
        return self.client_id, self.username, self.password

    def subscriptions(self):
        return self._subs

    def will(self):
        return self._status, b"offline", True, 1

    def on_connect(self, now):
        """Messages to send after every (re)connect: (topic, payload, qos, retain)."""
        return ((self._status, b"online", 1, True),)

    def report(self, props, service, now, target=None):
        _no_target(target)
        if service:
            return self._report + b"/" + _name(service), dumps(props)
        return self._report, dumps(props)

    def event(self, name, params, now, target=None):
        _no_target(target)
        return self._up + b"event/" + _name(name), dumps(params or {})

    def decode(self, topic, payload):
        if not topic.startswith(self._down):
            return None
        rest = topic[len(self._down):]
        if rest == b"message":
            return Request(MESSAGE, params=payload)
        if rest.startswith(b"command/") and len(rest) > 8:
            kind, name = COMMAND, rest[8:]
        elif rest == b"set":
            kind, name = SET, None
        elif rest == b"get":
            kind, name = GET, None
        else:
            return None
        req = Request(kind)
        try:
            body = json_object(payload)
        except ValueError as e:
            req.error = str(e)
            return req
        rid = body.get("id")
        if isinstance(rid, (str, int)) and not isinstance(rid, bool):
            req.rid = rid
        elif rid is not None:
            req.error = "id must be a string or integer"
            return req
        if name is not None:
            try:
                req.name = name.decode()
            except UnicodeError:
                req.error = "command name in the topic is not UTF-8"
                return req
        p = body.get("params")
        if kind == GET:
            if p is not None and not (isinstance(p, list) and all(isinstance(n, str) for n in p)):
                req.error = "params must be a list of property names"
                return req
        elif p is None:
            p = {}
        elif not isinstance(p, dict):
            req.error = "params must be a JSON object"
            return req
        req.params = p
        return req

    def reply(self, req, result, err):
        """(topic, payload) answering ``req``; ``err`` is a short text or None."""
        if req.kind not in (COMMAND, SET, GET):
            return None
        body = {"id": req.rid, "ok": err is None}
        if req.name:
            body["name"] = req.name
        if err is None:
            body["data"] = result if result is not None else {}
        else:
            body["error"] = err
        return self._reply, dumps(body)

    def system(self, req, now_ms):
        return ()  # no library-internal downlinks

    def service_key(self, service):
        """None and "" are one service to Device.state."""
        return service or ""


def _no_target(target):
    if target is not None:
        raise NotImplementedError("mqtt: no sub-devices")


def _name(s):
    b = s.encode() if isinstance(s, str) else s
    if not b or b"/" in b or b"+" in b or b"#" in b:
        raise ValueError("bad name for a topic level")
    return b
