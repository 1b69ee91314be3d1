"""Huawei Cloud IoTDA (设备接入), MQTT device side.

Config (``cloud``): type "iotda", host (the instance's access address), device_id,
secret (or cert + key for X.509), sign_type 0|1 (default 0: timestamp not
checked, safe before the clock is set), service (the product model's service id
used when a report names none; default "default"), sw_version / fw_version
(sent as version_report after every connect), time_sync (true: ask for the
time after every connect), event_time (true: stamp reports), port 8883,
keepalive 120 (30..1200 enforced).  IoTDP: bootstrap true (+ bootstrap_keyword)
makes the session ask for its address only; scope_id + group_secret log in
with a registration group's derived secret.

Topics are all under ``$oc/devices/{device_id}/sys/``.  Downlinks become:

  commands/request_id=X      Request(COMMAND, name, params=paras, service, target)
  properties/set/...         Request(SET, params=properties, service)   (one service)
  properties/get/...         Request(GET, service)
  messages/down              Request(MESSAGE, params=dict for the JSON system
                             format, else the raw bytes)
  events/down                Request(SYSTEM): time sync sets the clock,
                             version_query is answered, upgrades go to the "ota"
                             handler, every other event to the "event" handler
  shadow/get/response/...    Request(SYSTEM): EVENT "shadow" to the "event" handler
  bootstrap/down             Request(SYSTEM): EVENT "bootstrap" (see bootstrapped())

For set and get, ``service`` is None when it is the configured default
service, so ``Device.state[""]`` (what ``report(props)`` without a service
fills) answers a property get.  ``target`` is the child device id on a
gateway, else None.

Application events (``Device.event``) go out as messages/up in the system
format ``{"name": name, "content": params}``; IoTDA events/up only carries the
platform's own ``$`` services.
"""

import json
from micropython import const
from .. import config, sign, log
from ..clock import ymdh, compact
from ..request import Request, COMMAND, SET, GET, MESSAGE, EVENT, SYSTEM

_REPORT_MAX = const(65536)     # property report body (64 KB)
_MSG_MAX = const(1048576)      # any publish, log report (1 MB)
_TOPIC_MAX = const(128)        # custom topic
_ID_MAX = const(128)
_BATCH = const(100)            # children per gateway property report / status update
_SUB_OPS = const(50)           # children per add / delete request
_SEP = (",", ":")

OTA_UPGRADES = ("firmware_upgrade", "software_upgrade", "firmware_upgrade_v2", "software_upgrade_v2")
# upgrade_progress_report result codes
OTA_OK = const(0)
OTA_BUSY = const(1)
OTA_SIGNAL = const(2)
OTA_LATEST = const(3)
OTA_BATTERY = const(4)
OTA_STORAGE = const(5)
OTA_TIMEOUT = const(6)
OTA_VERIFY = const(7)
OTA_TYPE = const(8)
OTA_MEMORY = const(9)
OTA_INSTALL = const(10)
OTA_INTERNAL = const(255)
LOG_TYPES = ("DEVICE_STATUS", "DEVICE_PROPERTY", "DEVICE_MESSAGE", "DEVICE_COMMAND")


def dumps(obj):
    return json.dumps(obj, separators=_SEP)


def _limit(data, most, what):
    if len(data) > most:
        raise ValueError("%s of %d bytes is over the IoTDA limit of %d" % (what, len(data), most))
    return data


def valid_id(s):
    """device_id rule: 1..128 of letters, digits, '_' and '-'."""
    return config.word(s, _ID_MAX)


def password(secret, ts):
    """HMAC-SHA256(key=timestamp YYYYMMDDHH, msg=secret) as 64 lowercase hex."""
    return sign.hmac_sha256_hex(ts, secret)


def group_derived(device_id, group_secret):
    """Registration-group device secret: hex HMAC-SHA256(key=device_id,
    msg=base64-decoded group secret)."""
    from binascii import a2b_base64
    try:
        raw = a2b_base64(group_secret)
    except ValueError:
        raise config.ConfigError("cloud.group_secret: not base64")
    return sign.hmac_sha256_hex(device_id, raw)


def bootstrapped(cfg, params):
    """The config to use after a bootstrap answer (the EVENT "bootstrap"
    params): host and port from ``address``, ``deviceSecret`` if given,
    bootstrap off.  Raises ValueError on a failure answer."""
    addr = params.get("address")
    if not isinstance(addr, str) or not addr:
        raise ValueError("bootstrap failed: %s" % params.get("errorCode", "no address"))
    host, _, port = addr.rpartition(":")
    c = dict(cfg["cloud"])
    if host and port.isdigit():
        c["host"], c["port"] = host, int(port)
    else:
        c["host"] = addr
    c["bootstrap"] = False
    ds = params.get("deviceSecret")
    if isinstance(ds, str) and ds:
        c["secret"] = ds
        c.pop("group_secret", None)
        c.pop("scope_id", None)
    out = dict(cfg)
    out["cloud"] = c
    return out


def _int(v):
    """A millisecond time sent as a JSON number or a digit string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


class Cloud:
    REPORT_AFTER_SET = False

    def __init__(self, cfg):
        c = cfg["cloud"]
        self.ep = config.endpoint(c, 8883, True, 120, ka_lo=30, ka_hi=1200)
        did = config.get(c, "device_id", str)
        if not valid_id(did):
            raise config.ConfigError("cloud.device_id: 1..128 letters, digits, '_' or '-'")
        self.device_id = did
        self.secret = config.get(c, "secret", str, None)
        self.scope = config.get(c, "scope_id", str, None)
        group = config.get(c, "group_secret", str, None)
        if group is not None:
            if self.scope is None:
                raise config.ConfigError("cloud.scope_id: required with cloud.group_secret")
            self.secret = group_derived(did, group)
            log.secret(self.secret)
        if self.secret is None and not self.ep["cert"]:
            raise config.ConfigError("cloud.secret: required (or cloud.cert + cloud.key for X.509)")
        self.sign_type = config.get(c, "sign_type", int, 0, lo=0, hi=1)
        self.service = config.get(c, "service", str, "default")
        self.sw_version = config.get(c, "sw_version", str, None)
        self.fw_version = config.get(c, "fw_version", str, None)
        self.time_sync = config.get(c, "time_sync", bool, False)
        self.stamp = config.get(c, "event_time", bool, False)
        base = ("$oc/devices/" + did + "/sys/").encode()
        self._sys = base
        self._t_report = base + b"properties/report"  # built once: reports are the hot path
        self._events_up = base + b"events/up"
        self.bootstrap = config.get(c, "bootstrap", bool, False)
        self.keyword = config.get(c, "bootstrap_keyword", str, None)
        if self.bootstrap:
            self._subs = ((base + b"bootstrap/down", 1),)
        else:
            self._subs = tuple((base + t, 1) for t in (
                b"commands/#", b"properties/set/#", b"properties/get/#",
                b"shadow/get/response/#", b"messages/down", b"events/down"))

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        ts = ymdh(now)
        scope = self.scope + "_" if self.scope else ""
        if self.secret is None:  # X.509
            if scope:
                return self.device_id + "_0_" + self.scope, self.device_id, None
            return "%s_0_%d_%s" % (self.device_id, self.sign_type, ts), self.device_id, None
        cid = "%s_0_%s%d_%s" % (self.device_id, scope, self.sign_type, ts)
        pw = password(self.secret, ts)
        return cid, self.device_id, pw

    def subscriptions(self):
        return self._subs

    def will(self):
        return None  # IoTDA supports no will message

    def on_connect(self, now):
        if self.bootstrap:  # IoTDP: ask where to go, nothing else
            body = dumps({"baseStrategyKeyword": self.keyword}) if self.keyword else ""
            return [(self._sys + b"bootstrap/up", body.encode(), 1, False)]
        out = []
        v = self.version_report(now)
        if v:
            out.append((v[0], v[1].encode(), 1, False))
        if self.time_sync:
            t = self.time_sync_request(now * 1000)
            out.append((t[0], t[1].encode(), 1, False))
        return out

    # ----- uplinks ---------------------------------------------------------

    def _svc(self, service, props, now):
        if not isinstance(props, dict):
            raise TypeError("properties must be a dict")
        s = {"service_id": service or self.service, "properties": props}
        if self.stamp:
            s["event_time"] = compact(now)
        return s

    def report(self, props, service, now):
        """One service's properties (service None = the configured one)."""
        body = '{"services":[%s]}' % dumps(self._svc(service, props, now))
        return self._t_report, _limit(body, _REPORT_MAX, "property report")

    def report_services(self, services, now):
        """Several services in one report: ``{service_id: {name: value}}``."""
        body = dumps({"services": [self._svc(k, v, now) for k, v in services.items()]})
        return self._t_report, _limit(body, _REPORT_MAX, "property report")

    def event(self, name, params, now):
        """An application event, as a system-format message up."""
        return self.message(params if params is not None else {}, name)

    def message(self, content, name=None, id=None, target=None):
        """messages/up in the system format (content: dict or str)."""
        body = {"content": content}
        if name is not None:
            body["name"] = name
        if id is not None:
            body["id"] = id
        if target is not None:
            body["object_device_id"] = target
        return self._sys + b"messages/up", _limit(dumps(body), _MSG_MAX, "message")

    def raw_message(self, data):
        """messages/up with any bytes (the platform does not parse them)."""
        return self._sys + b"messages/up", _limit(data, _MSG_MAX, "message")

    def user_topic(self, name):
        """``$oc/devices/{device_id}/user/{name}`` (custom topics, at most 128 bytes)."""
        t = self._sys[:-4] + b"user/" + (name.encode() if isinstance(name, str) else name)
        if b"+" in t or b"#" in t:
            raise ValueError("custom topic must not contain MQTT wildcards")
        return _limit(t, _TOPIC_MAX, "custom topic")

    def _event(self, service_id, event_type, paras, now, target=None, event_id=None):
        s = {"service_id": service_id, "event_type": event_type, "paras": paras}
        if now is not None:
            s["event_time"] = compact(now)
        if event_id is not None:
            s["event_id"] = event_id
        body = {"services": [s]}
        if target is not None:
            body["object_device_id"] = target
        return self._events_up, _limit(dumps(body), _MSG_MAX, "event")

    def version_report(self, now, sw=None, fw=None, target=None):
        """OTA version report; None when no version is configured or given."""
        p = {}
        sw = sw or self.sw_version
        fw = fw or self.fw_version
        if sw:
            p["sw_version"] = sw
        if fw:
            p["fw_version"] = fw
        if not p:
            return None
        return self._event("$ota", "version_report", p, now, target)

    def progress(self, result_code, version, now, progress=None, description=None, target=None):
        """upgrade_progress_report: result_code OTA_* (0 success), progress 0..100."""
        if not isinstance(result_code, int) or not isinstance(version, str):
            raise TypeError("progress(result_code int, version str, ...)")
        p = {"result_code": result_code, "version": version}
        if progress is not None:
            if not 0 <= progress <= 100:
                raise ValueError("progress must be 0..100")
            p["progress"] = progress
        if description is not None:
            p["description"] = description
        return self._event("$ota", "upgrade_progress_report", p, now, target)

    def time_sync_request(self, now_ms):
        """Ask for the platform time; the answer sets the clock (see system())."""
        return self._event("$time_sync", "time_sync_request",
                           {"device_send_time": int(now_ms)}, None)

    def log_report(self, kind, content, now, timestamp=None):
        """$log log_report (while the platform has log collection on)."""
        if kind not in LOG_TYPES:
            raise ValueError("log type must be one of " + ", ".join(LOG_TYPES))
        p = {"type": kind, "content": content}
        if timestamp is not None:
            p["timestamp"] = str(timestamp)
        return self._event("$log", "log_report", p, now)

    def sdk_info(self, now, version, device_ip=None):
        p = {"device_sdk_version": "MicroPython_v" + version}
        if self.sw_version:
            p["sw_version"] = self.sw_version
        if self.fw_version:
            p["fw_version"] = self.fw_version
        if device_ip:
            p["device_ip"] = device_ip
        return self._event("$sdk_info", "sdk_info_report", p, now)

    def shadow_get(self, rid, service=None, target=None):
        """Ask for the device shadow; the answer arrives as EVENT "shadow"."""
        body = {}
        if service:
            body["service_id"] = service
        if target:
            body["object_device_id"] = target
        return self._sys + b"shadow/get/request_id=" + str(rid).encode(), dumps(body)

    # ----- gateway ---------------------------------------------------------

    def sub_reports(self, devices, now):
        """Children's properties ``{child_id: {service_id: {name: value}}}`` (or a
        list of such pairs, to keep an order) as a list of (topic, payload): at
        most 100 children and 64 KB per message."""
        topic = self._sys + b"gateway/sub_devices/properties/report"
        out, chunk, size = [], [], 0
        for cid, services in devices.items() if isinstance(devices, dict) else devices:
            e = dumps({"device_id": cid,
                       "services": [self._svc(k, v, now) for k, v in services.items()]})
            if 15 + len(e) > _REPORT_MAX:
                raise ValueError("properties of %s alone are over 64 KB" % cid)
            if chunk and (len(chunk) >= _BATCH or size + len(e) + 15 > _REPORT_MAX):
                out.append((topic, '{"devices":[' + ",".join(chunk) + "]}"))
                chunk, size = [], 0
            chunk.append(e)
            size += len(e) + 1
        if chunk:
            out.append((topic, '{"devices":[' + ",".join(chunk) + "]}"))
        return out

    def sub_status(self, statuses, now):
        """Children online/offline ``{child_id: "ONLINE"|"OFFLINE"}``, 100 per message."""
        items = []
        for cid, st in statuses.items():
            if st not in ("ONLINE", "OFFLINE"):
                raise ValueError("status must be ONLINE or OFFLINE")
            items.append({"device_id": cid, "status": st})
        return [self._event("$sub_device_manager", "sub_device_update_status",
                            {"device_statuses": items[i:i + _BATCH]}, now)
                for i in range(0, len(items), _BATCH)]

    def sub_add(self, devices, now, event_id=None):
        """add_sub_device_request; devices: list of {node_id, product_id, ...} (<= 50)."""
        if not 0 < len(devices) <= _SUB_OPS:
            raise ValueError("1..50 children per add request")
        return self._event("$sub_device_manager", "add_sub_device_request",
                           {"devices": devices}, now, None, event_id)

    def sub_delete(self, device_ids, now, event_id=None):
        """delete_sub_device_request; a list of child device ids (<= 50)."""
        if not 0 < len(device_ids) <= _SUB_OPS:
            raise ValueError("1..50 children per delete request")
        return self._event("$sub_device_manager", "delete_sub_device_request",
                           {"devices": device_ids}, now, None, event_id)

    def sub_sync(self, version, now):
        """Ask for child changes since ``version`` (answered by add/delete notifies)."""
        return self._event("$sub_device_manager", "sub_device_sync_request",
                           {"version": version}, now)

    # ----- downlinks -------------------------------------------------------

    def _target(self, body):
        t = body.get("object_device_id")
        return t if isinstance(t, str) and t and t != self.device_id else None

    def decode(self, topic, payload):
        base = self._sys
        if not topic.startswith(base):
            return None
        rest = topic[len(base):]
        if rest == b"messages/down":
            return self._message(payload)
        if rest == b"bootstrap/down" and self.bootstrap:
            return Request(SYSTEM, "bootstrap", _obj(payload))
        if rest == b"events/down":
            body = _obj(payload)
            items = []
            ss = body.get("services")
            for s in ss if isinstance(ss, list) else ():
                if not isinstance(s, dict):
                    continue
                sid, et, p = s.get("service_id"), s.get("event_type"), s.get("paras")
                if isinstance(sid, str) and isinstance(et, str) and isinstance(p, (dict, type(None))):
                    items.append((sid, et, p or {}, s.get("event_id")))
            return Request(SYSTEM, "events", items, target=self._target(body))
        i = rest.find(b"request_id=")
        if i <= 0 or rest[i - 1] != 47:  # "/"
            return None
        what = rest[:i - 1]
        if what.endswith(b"/response") and what != b"shadow/get/response":
            # our own reply coming back through a "commands/#"-style filter on a
            # broker that echoes (the real platform does not): nothing to do
            return Request(SYSTEM, "echo")
        try:
            rid = rest[i + 11:].decode()
        except UnicodeError:
            return None
        if what == b"commands":
            req = Request(COMMAND, rid=rid)
        elif what == b"properties/set":
            req = Request(SET, rid=rid)
        elif what == b"properties/get":
            req = Request(GET, rid=rid)
        elif what == b"shadow/get/response":
            body = _obj(payload)
            sh = body.get("shadow")
            return Request(SYSTEM, "shadow", sh if isinstance(sh, list) else [],
                           target=self._target(body), rid=rid)
        else:
            return None
        try:
            body = _obj(payload)
        except ValueError as e:
            req.error = str(e)
            return req
        req.target = self._target(body)
        if req.kind == COMMAND:
            name, svc, p = body.get("command_name"), body.get("service_id"), body.get("paras")
            if p is None:
                p = {}
            if name is not None and not isinstance(name, str) or svc is not None and not isinstance(svc, str):
                req.error = "command_name and service_id must be strings"
            elif not isinstance(p, dict):
                req.error = "paras must be a JSON object"
            req.name, req.params, req.service = name, p, svc
        elif req.kind == SET:
            ss = body.get("services")
            if not isinstance(ss, list) or len(ss) != 1 or not isinstance(ss[0], dict):
                req.error = "services must hold one service"
                return req
            svc, p = ss[0].get("service_id"), ss[0].get("properties")
            if not isinstance(svc, str) or not isinstance(p, dict):
                req.error = "service_id must be a string and properties an object"
                return req
            req.params, req.service = p, self._own(svc)
        else:
            svc = body.get("service_id")
            if svc is not None and not isinstance(svc, str):
                req.error = "service_id must be a string"
                return req
            req.service = self._own(svc) if svc else "*"  # no service_id: all services
        return req

    def _own(self, svc):
        return None if not svc or svc == self.service else svc

    def service_key(self, service):
        """The configured service and None are one service to Device.state."""
        return "" if not service or service == self.service else service

    def _message(self, payload):
        """System-format JSON -> dict; anything else stays raw bytes."""
        req = Request(MESSAGE, params=payload)
        if payload.lstrip()[:1] == b"{":
            try:
                body = json.loads(payload)
            except (ValueError, UnicodeError):
                return req
            if isinstance(body, dict) and "content" in body:
                req.params = body
                n = body.get("name")
                req.name = n if isinstance(n, str) else None
                i = body.get("id")
                req.rid = i if isinstance(i, str) else None
                req.target = self._target(body)
        return req

    def reply(self, req, result, err):
        k = req.kind
        rid = str(req.rid).encode()
        if k == COMMAND:
            body = {"result_code": 0 if err is None else 1}
            if req.name:
                body["response_name"] = req.name
            if err is not None:
                body["paras"] = {"error": err}
            elif result:
                body["paras"] = result
            t = b"commands/response/request_id="
        elif k == SET:
            body = {"result_code": 0, "result_desc": "success"} if err is None else \
                {"result_code": 1, "result_desc": err}
            t = b"properties/set/response/request_id="
        elif k == GET:
            if err is not None:
                ss = []
            elif result is not None and isinstance(result.get("services"), list):
                ss = result["services"]  # the handler built the IoTDA list itself
            elif req.service == "*":   # {service: values} for every service
                ss = [{"service_id": k or self.service, "properties": v}
                      for k, v in (result or {}).items() if isinstance(v, dict)]
            else:
                ss = [{"service_id": req.service or self.service, "properties": result or {}}]
            body = {"services": ss}
            t = b"properties/get/response/request_id="
        else:
            return None
        return self._sys + t + rid, _limit(dumps(body), _MSG_MAX, "reply")

    def system(self, req, now_ms):
        """Actions for Device._system: ("clock", ms), ("publish", t, p), ("event", kind, req)."""
        if req.name == "bootstrap":
            ds = req.params.get("deviceSecret")
            if isinstance(ds, str):
                log.secret(ds)
            return [("event", EVENT, Request(EVENT, "bootstrap", req.params))]
        if req.name == "shadow":
            return [("event", EVENT, Request(EVENT, "shadow", req.params, target=req.target, rid=req.rid))]
        if req.name == "echo":
            return []
        acts = []
        tgt = req.target
        for sid, et, p, eid in req.params or ():
            if sid == "$time_sync" and et == "time_sync_response" and tgt is None:
                ms = synced_ms(p, now_ms)
                if ms is not None:
                    acts.append(("clock", ms))
            elif sid == "$ota" and et == "version_query" and tgt is None and \
                    (self.sw_version or self.fw_version):
                t, body = self.version_report(now_ms // 1000)
                acts.append(("publish", t, body))
            else:
                kind = "ota" if sid == "$ota" else EVENT
                if et in OTA_UPGRADES and not (isinstance(p.get("url"), str) and isinstance(p.get("version"), str)):
                    continue  # unusable upgrade order: no url or version
                acts.append(("event", kind, Request(EVENT, et, p, sid, tgt, eid)))
        return acts


def synced_ms(paras, now_ms):
    """Unix ms now from a time_sync_response: (srv_recv + srv_send + dev_recv - dev_send) / 2.

    dev_recv is ``now_ms`` (the device clock when the answer is handled), so
    the result is off by half of any delay between arrival and handling plus
    half the asymmetry of the network path."""
    sent = _int(paras.get("device_send_time"))
    recv = _int(paras.get("server_recv_time"))
    send = _int(paras.get("server_send_time"))
    if sent is None or recv is None or send is None:
        return None
    return (recv + send + now_ms - sent) // 2


def _obj(payload):
    try:
        body = json.loads(payload) if payload else {}
    except (ValueError, UnicodeError):
        raise ValueError("payload is not UTF-8 JSON")
    if not isinstance(body, dict):
        raise ValueError("payload must be a JSON object")
    return body
