"""Huawei Cloud IoTDA (设备接入), MQTT device side.

Config (``cloud``): type "iotda", host (the instance's access address), device_id,
secret (or cert + key for X.509), sign_type 0|1 (default 0: timestamp not
checked, safe before the clock is set), service (the product model's service id
used when a report names none; default "default"), sw_version / fw_version
(sent as version_report after every connect), time_sync (true: ask for the
time after every connect), event_time (true: stamp reports), transport
"mqtt" | "https" (the HTTPS device API, see clouds/iotda_https.py), port 8883
(443 with https),
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
  bootstrap/down             Request(SYSTEM): EVENT "bootstrap" (see
                             iotda_bootstrap.bootstrapped())

For set and get, ``service`` is None when it is the configured default
service, so ``Device.state[""]`` (what ``report(props)`` without a service
fills) answers a property get.  ``target`` is the child device id on a
gateway, else None.

Application events (``Device.event``) go out as messages/up in the system
format ``{"name": name, "content": params}``; IoTDA events/up only carries the
platform's own ``$`` services.  A child's report (``Device.child(id)``) goes
out as a gateway sub-device report, its event as a message naming it.

This module holds what every session needs: connect, property reports, and
commands, property sets and gets (well-formed or not).  The optional parts are
modules of their own, imported by the app that uses them (they take the Cloud
first) or by this module inside the function that needs them:

  iotda_properties.py report_services() (several services in one report),
                      property get answers
  iotda_ota.py        OTA_* codes, version_report(), progress()
  iotda_events.py     events/up builder, what goes up at connect, events/down
                      (time sync, version queries, upgrade orders),
                      time_sync_request()
  iotda_messages.py   message(), raw_message(), user_topic(), messages/down
  iotda_shadow.py     shadow_get() and its answer
  iotda_gateway.py    sub_reports(), sub_status(), sub_add(), sub_delete(), sub_sync()
  iotda_logs.py       log_report(), sdk_info()
  iotda_bootstrap.py  IoTDP: bootstrapped(), group_derived(), bootstrap/down
"""

from micropython import const
from .. import config, sign, log
from ..clock import ymdh, compact
from ..request import Request, COMMAND, SET, GET, SYSTEM
from . import dumps, json_object

REPORT_MAX = const(65536)      # property report body (64 KB)
MSG_MAX = const(1048576)       # any publish (1 MB)
_ID_MAX = const(128)


def check_size(data, most, what):
    """``data`` unless it is over an IoTDA size limit (ValueError naming it)."""
    if len(data) > most:
        raise ValueError("%s of %d bytes is over the IoTDA limit of %d" % (what, len(data), most))
    return data


def password(secret, ts):
    """HMAC-SHA256(key=timestamp YYYYMMDDHH, msg=secret) as 64 lowercase hex."""
    return sign.hmac_sha256_hex(ts, secret)


def target_of(cloud, body):
    """The child a downlink is for (``object_device_id``), None for this device."""
    t = body.get("object_device_id")
    return t if isinstance(t, str) and t and t != cloud.device_id else None


def service_entry(cloud, service, props, now):
    """One entry of a report's "services" list."""
    if not isinstance(props, dict):
        raise TypeError("properties must be a dict")
    s = {"service_id": service or cloud.service, "properties": props}
    if cloud.stamp:
        s["event_time"] = compact(now)
    return s


def _is(topic, n, name):
    """``topic`` from byte ``n`` on is ``name``."""
    return len(topic) == n + len(name) and topic.endswith(name)


class Cloud:
    NAME = "iotda"
    RECEIVE_ONLY = False
    REPORT_AFTER_SET = False  # set answers have their own topic

    def __init__(self, cfg):
        c = cfg["cloud"]
        g = config.get
        # "https": the HTTPS device API (drivers/iotda_https.py) on port 443
        self.transport = config.transport(cfg)
        self.ep = config.endpoint(c, 443 if self.transport == "https" else 8883, True, 120,
                                  ka_lo=30, ka_hi=1200)
        self.device_id = did = g(c, "device_id", str)
        if not config.word(did, _ID_MAX):  # letters, digits, '_' and '-'
            raise config.ConfigError("cloud.device_id: 1..128 letters, digits, '_' or '-'")
        self.secret = g(c, "secret", str, None)
        self._pws = ()   # the HMAC passwords registered with log.secret
        self.scope = g(c, "scope_id", str, None)
        group = g(c, "group_secret", str, None)
        if group is not None:
            if self.scope is None:
                raise config.ConfigError("cloud.scope_id: required with cloud.group_secret")
            from .iotda_bootstrap import group_derived
            self.secret = group_derived(did, group)
        if self.secret is None and not self.ep["cert"]:
            raise config.ConfigError("cloud.secret: required (or cloud.cert + cloud.key for X.509)")
        self.sign_type = g(c, "sign_type", int, 0, lo=0, hi=1)
        self.service = g(c, "service", str, "default")
        self.sw_version = g(c, "sw_version", str, None)
        self.fw_version = g(c, "fw_version", str, None)
        self.time_sync = g(c, "time_sync", bool, False)
        self.stamp = g(c, "event_time", bool, False)
        self._sys = base_t = ("$oc/devices/" + did + "/sys/").encode()
        self._t_report = base_t + b"properties/report"  # built once: reports are the hot path
        self.bootstrap = g(c, "bootstrap", bool, False)
        self.keyword = g(c, "bootstrap_keyword", str, None)
        self._subs = ((base_t + b"bootstrap/down", 1),) if self.bootstrap else tuple(
            (base_t + t, 1) for t in b"commands/# properties/set/# properties/get/# "
                                     b"shadow/get/response/# messages/down events/down".split())

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        ts = ymdh(now)
        did = self.device_id
        scope = self.scope + "_" if self.scope else ""
        if self.secret is None:  # X.509
            if scope:
                return did + "_0_" + self.scope, did, None
            return "%s_0_%d_%s" % (did, self.sign_type, ts), did, None
        # the password is masked like the secret (with sign_type 0 it never
        # expires), and the previous hour's too
        pw = password(self.secret, ts)
        old = self._pws
        if pw not in old:
            log.secret(pw, old[0] if len(old) > 1 else None)
            self._pws = (old[-1], pw) if old else (pw,)
        return "%s_0_%s%d_%s" % (did, scope, self.sign_type, ts), did, pw

    def subscriptions(self):
        return self._subs

    def will(self):
        return None  # IoTDA supports no will message

    def on_connect(self, now):
        """The bootstrap question alone, or the version report and time sync
        request as configured."""
        if self.bootstrap or self.sw_version or self.fw_version or self.time_sync:
            from .iotda_events import on_connect
            return on_connect(self, now)
        return []

    # ----- uplinks ---------------------------------------------------------

    def report(self, props, service, now, target=None):
        """One service's properties (service None = the configured one); a
        child's as a gateway sub-device report."""
        if target is not None:
            from .iotda_gateway import sub_reports
            return sub_reports(self, ((target, {service or self.service: props}),), now)[0]
        body = '{"services":[%s]}' % dumps(service_entry(self, service, props, now))
        return self._t_report, check_size(body, REPORT_MAX, "property report")

    def event(self, name, params, now, target=None):
        """An application event, as a system-format message up."""
        from .iotda_messages import message
        return message(self, params if params is not None else {}, name, None, target)

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        base_t = self._sys
        n = len(base_t)
        if not topic.startswith(base_t):
            return None
        if topic.startswith(b"commands/request_id=", n):
            k, j = COMMAND, n + 20
        elif topic.startswith(b"properties/set/request_id=", n):
            k, j = SET, n + 26
        elif topic.startswith(b"properties/get/request_id=", n):
            k, j = GET, n + 26
        else:
            return self._decode_other(topic, n, payload)
        try:
            rid = topic[j:].decode()
        except UnicodeError:
            return None
        req = Request(k, rid=rid)
        try:
            body = json_object(payload)
        except ValueError as e:
            req.error = str(e)
            return req
        req.target = target_of(self, body)
        if k == COMMAND:
            name, svc, p = body.get("command_name"), body.get("service_id"), body.get("paras")
            if p is None:
                p = {}
            if name is not None and not isinstance(name, str) or svc is not None and not isinstance(svc, str):
                req.error = "command_name and service_id must be strings"
            elif not isinstance(p, dict):
                req.error = "paras must be a JSON object"
            req.name, req.params, req.service = name, p, svc
        elif k == SET:
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
        # the configured service is None to Device.state, so report(props) answers a get
        return None if not svc or svc == self.service else svc

    def _decode_other(self, topic, n, payload):
        """Every downlink but commands, sets and gets (the topic after its
        first ``n`` bytes): in the module for its part.  No slicing: an echo
        of our own reply comes with every command on a broker that echoes."""
        if _is(topic, n, b"events/down"):
            from .iotda_events import decode
            return decode(self, payload)
        if _is(topic, n, b"messages/down"):
            from .iotda_messages import decode
            return decode(self, payload)
        if _is(topic, n, b"bootstrap/down") and self.bootstrap:
            from .iotda_bootstrap import decode
            return decode(payload)
        if topic.startswith(b"shadow/get/response/request_id=", n):
            from .iotda_shadow import decode
            return decode(self, topic[n + 31:], payload)
        i = topic.find(b"/response/request_id=", n)
        if i > n:
            # our own reply coming back through a "commands/#"-style filter on
            # a broker that echoes (the real platform does not): nothing to do
            return Request(SYSTEM, "echo")
        return None

    def service_key(self, service):
        """The configured service and None are one service to Device.state."""
        return "" if not service or service == self.service else service

    def reply(self, req, result, err):
        k = req.kind
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
            from .iotda_properties import get_answer
            body = get_answer(self, req, result, err)
            t = b"properties/get/response/request_id="
        else:
            return None
        body = check_size(dumps(body), MSG_MAX, "reply")
        rid = req.rid
        return b"".join((self._sys, t, (rid if isinstance(rid, str) else str(rid)).encode())), body

    def system(self, req, now_ms):
        """Actions for Device._system: ("clock", ms), ("publish", t, p), ("event", kind, req)."""
        if req.name == "echo":  # our own reply back from a broker that echoes
            return []
        from .iotda_events import system
        return system(self, req, now_ms)
