"""IoTDA, loaded on first use: gateway (sub-device) uplinks, several-service
reports, log and SDK reports, shadow requests, raw and custom-topic messages,
IoTDP helpers (registration groups, bootstrap answers), the config checks a
plain secret login does not need, and the downlinks neither iotda.py nor
iotda_ev.py take: messages down, shadow and bootstrap answers, malformed
commands, sets and gets with their error texts.  Reached through ``iotda``
and ``iotda.Cloud``."""

import json
from micropython import const
from .. import config, sign, log
from .iotda import _SEP, _svc
from ..request import Request, COMMAND, SET, GET, MESSAGE, SYSTEM
from .iotda_ev import _event, _limit, _obj, _target

_REPORT_MAX = const(65536)     # property report body (64 KB)
_MSG_MAX = const(1048576)      # any publish (1 MB)
_ID_MAX = const(128)
_TOPIC_MAX = const(128)        # custom topic
_BATCH = const(100)            # children per gateway property report / status update
_SUB_OPS = const(50)           # children per add / delete request

LOG_TYPES = ("DEVICE_STATUS", "DEVICE_PROPERTY", "DEVICE_MESSAGE", "DEVICE_COMMAND")


def dumps(obj):
    return json.dumps(obj, separators=_SEP)


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


def setup(cloud, c):
    """The Cloud() checks past a plain secret login: the device_id rule, a
    registration group's derived secret, a missing secret."""
    if not valid_id(cloud.device_id):
        raise config.ConfigError("cloud.device_id: 1..128 letters, digits, '_' or '-'")
    group = config.get(c, "group_secret", str, None)
    if group is not None:
        if cloud.scope is None:
            raise config.ConfigError("cloud.scope_id: required with cloud.group_secret")
        cloud.secret = group_derived(cloud.device_id, group)
        log.secret(cloud.secret)
    if cloud.secret is None and not cloud.ep["cert"]:
        raise config.ConfigError("cloud.secret: required (or cloud.cert + cloud.key for X.509)")


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


def _own(cloud, svc):
    return None if not svc or svc == cloud.service else svc


def decode(cloud, topic, payload):
    """Cloud.decode for every downlink but events/down and well-formed
    commands, sets and gets."""
    base = cloud._sys
    if not topic.startswith(base):
        return None
    rest = topic[len(base):]
    if rest == b"messages/down":
        return _message(cloud, payload)
    if rest == b"bootstrap/down" and cloud.bootstrap:
        return Request(SYSTEM, "bootstrap", _obj(payload))
    i = rest.find(b"request_id=")
    if i <= 0 or rest[i - 1] != 47:  # "/"
        return None
    what = rest[:i - 1]
    # (an echo of our own reply was taken by iotda.py)
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
                       target=_target(cloud, body), rid=rid)
    else:
        return None
    try:
        body = _obj(payload)
    except ValueError as e:
        req.error = str(e)
        return req
    req.target = _target(cloud, body)
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
        req.params, req.service = p, _own(cloud, svc)
    else:
        svc = body.get("service_id")
        if svc is not None and not isinstance(svc, str):
            req.error = "service_id must be a string"
            return req
        req.service = _own(cloud, svc) if svc else "*"  # no service_id: all services
    return req


def _message(cloud, payload):
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
            req.target = _target(cloud, body)
    return req


class More:
    # methods of iotda.Cloud (installed there on first use)

    def report_services(self, services, now):
        """Several services in one report: ``{service_id: {name: value}}``."""
        body = dumps({"services": [_svc(self, k, v, now) for k, v in services.items()]})
        return self._t_report, _limit(body, _REPORT_MAX, "property report")

    def raw_message(self, data):
        """messages/up with any bytes (the platform does not parse them)."""
        return self._sys + b"messages/up", _limit(data, _MSG_MAX, "message")

    def user_topic(self, name):
        """``$oc/devices/{device_id}/user/{name}`` (custom topics, at most 128 bytes)."""
        t = self._sys[:-4] + b"user/" + (name.encode() if isinstance(name, str) else name)
        if b"+" in t or b"#" in t:
            raise ValueError("custom topic must not contain MQTT wildcards")
        return _limit(t, _TOPIC_MAX, "custom topic")

    def log_report(self, kind, content, now, timestamp=None):
        """$log log_report (while the platform has log collection on)."""
        if kind not in LOG_TYPES:
            raise ValueError("log type must be one of " + ", ".join(LOG_TYPES))
        p = {"type": kind, "content": content}
        if timestamp is not None:
            p["timestamp"] = str(timestamp)
        return _event(self, "$log", "log_report", p, now)

    def sdk_info(self, now, version, device_ip=None):
        p = {"device_sdk_version": "MicroPython_v" + version}
        if self.sw_version:
            p["sw_version"] = self.sw_version
        if self.fw_version:
            p["fw_version"] = self.fw_version
        if device_ip:
            p["device_ip"] = device_ip
        return _event(self, "$sdk_info", "sdk_info_report", p, now)

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
                       "services": [_svc(self, k, v, now) for k, v in services.items()]})
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
        return [_event(self, "$sub_device_manager", "sub_device_update_status",
                       {"device_statuses": items[i:i + _BATCH]}, now)
                for i in range(0, len(items), _BATCH)]

    def sub_add(self, devices, now, event_id=None):
        """add_sub_device_request; devices: list of {node_id, product_id, ...} (<= 50)."""
        if not 0 < len(devices) <= _SUB_OPS:
            raise ValueError("1..50 children per add request")
        return _event(self, "$sub_device_manager", "add_sub_device_request",
                      {"devices": devices}, now, None, event_id)

    def sub_delete(self, device_ids, now, event_id=None):
        """delete_sub_device_request; a list of child device ids (<= 50)."""
        if not 0 < len(device_ids) <= _SUB_OPS:
            raise ValueError("1..50 children per delete request")
        return _event(self, "$sub_device_manager", "delete_sub_device_request",
                      {"devices": device_ids}, now, None, event_id)

    def sub_sync(self, version, now):
        """Ask for child changes since ``version`` (answered by add/delete notifies)."""
        return _event(self, "$sub_device_manager", "sub_device_sync_request",
                      {"version": version}, now)
