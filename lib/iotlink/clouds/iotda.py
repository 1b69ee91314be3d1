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

Only what every session needs lives here: connect, property reports, and
well-formed commands and property sets.  The rest loads on first use:
iotda_ev.py (what goes up at connect when configured, events/down with time
sync, version queries and upgrades, OTA progress, messages up, property get
answers) and iotda_more.py (gateway, logs, shadow, IoTDP helpers, config
errors, messages down and every malformed downlink with its error text).
Their methods and names are reached through this module and its Cloud as if
they were defined here.
"""

import json
from micropython import const
from .. import config, sign, log
from ..clock import ymdh, compact
from ..request import Request, COMMAND, SET, GET, SYSTEM

_REPORT_MAX = const(65536)     # property report body (64 KB)
_MSG_MAX = const(1048576)      # any publish (1 MB)
_ID_MAX = const(128)
_SEP = (",", ":")


def __getattr__(name):
    """Module names kept in the lazily loaded modules (password, bootstrapped,
    OTA_* codes, ...)."""
    if name[:1] == "_":  # never load anything for __path__ and the like
        raise AttributeError(name)
    from . import iotda_ev
    try:
        return getattr(iotda_ev, name)
    except AttributeError:
        from . import iotda_more
        return getattr(iotda_more, name)


def _svc(cloud, service, props, now):
    """One entry of a report's "services" list."""
    if not isinstance(props, dict):
        raise TypeError("properties must be a dict")
    s = {"service_id": service or cloud.service, "properties": props}
    if cloud.stamp:
        s["event_time"] = compact(now)
    return s


class Cloud:
    REPORT_AFTER_SET = False
    RECEIVE_ONLY = False  # asked on every report: answered here, not by __getattr__

    def __init__(self, cfg):
        c = cfg["cloud"]
        g = config.get
        self.ep = config.endpoint(c, 8883, True, 120, ka_lo=30, ka_hi=1200)
        self.device_id = did = g(c, "device_id", str)
        self.secret = g(c, "secret", str, None)
        self._pws = ()   # the HMAC passwords registered with log.secret
        self.scope = g(c, "scope_id", str, None)
        if not config.word(did, _ID_MAX) or c.get("group_secret") is not None or \
                self.secret is None and not self.ep["cert"]:
            from .iotda_more import setup
            setup(self, c)  # the id rule, registration groups, missing secret
        self.sign_type = g(c, "sign_type", int, 0, lo=0, hi=1)
        self.service = g(c, "service", str, "default")
        self.sw_version = g(c, "sw_version", str, None)
        self.fw_version = g(c, "fw_version", str, None)
        self.time_sync = g(c, "time_sync", bool, False)
        self.stamp = g(c, "event_time", bool, False)
        self._sys = base = ("$oc/devices/" + did + "/sys/").encode()
        self._t_report = base + b"properties/report"  # built once: reports are the hot path
        self.bootstrap = g(c, "bootstrap", bool, False)
        self.keyword = g(c, "bootstrap_keyword", str, None)
        self._subs = ((base + b"bootstrap/down", 1),) if self.bootstrap else tuple(
            (base + t, 1) for t in b"commands/# properties/set/# properties/get/# "
                                   b"shadow/get/response/# messages/down events/down".split())

    def __getattr__(self, name):
        # the rarely used methods: installed on the class from iotda_ev or
        # iotda_more on first use ("_x" and "X" names never load anything)
        if name < "a":
            raise AttributeError(name)
        from . import iotda_ev
        f = getattr(iotda_ev.Ev, name, None)
        if f is None:
            from . import iotda_more
            f = getattr(iotda_more.More, name)
        setattr(Cloud, name, f)
        return getattr(self, name)

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        ts = ymdh(now)
        did = self.device_id
        scope = self.scope + "_" if self.scope else ""
        if self.secret is None:  # X.509
            if scope:
                return did + "_0_" + self.scope, did, None
            return "%s_0_%d_%s" % (did, self.sign_type, ts), did, None
        # password: HMAC-SHA256(key=timestamp YYYYMMDDHH, msg=secret) in hex;
        # masked like the secret (with sign_type 0 it never expires), the
        # previous hour's too
        pw = sign.hmac_sha256_hex(ts, self.secret)
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
        # nothing by default; version report, time sync and bootstrap: iotda_ev
        if self.bootstrap or self.sw_version or self.fw_version or self.time_sync:
            from .iotda_ev import on_connect
            return on_connect(self, now)
        return []

    # ----- uplinks ---------------------------------------------------------

    def report(self, props, service, now):
        """One service's properties (service None = the configured one)."""
        body = '{"services":[%s]}' % json.dumps(_svc(self, service, props, now), separators=_SEP)
        if len(body) > _REPORT_MAX:
            from .iotda_ev import _limit
            _limit(body, _REPORT_MAX, "property report")
        return self._t_report, body

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        # well-formed commands, sets and gets here, with no slicing of the
        # topic; events/down in iotda_ev, everything else (other topics,
        # malformed input and its error texts) in iotda_more
        base = self._sys
        n = len(base)
        k = None
        if topic.startswith(base):
            if topic.startswith(b"commands/request_id=", n):
                k, j = COMMAND, n + 20
            elif topic.startswith(b"properties/set/request_id=", n):
                k, j = SET, n + 26
            elif topic.startswith(b"properties/get/request_id=", n):
                k, j = GET, n + 26
            else:
                i = topic.find(b"request_id=", n)
                if i > n and topic[i - 1] == 47:  # "/"
                    w = topic[n:i - 1]
                    if w.endswith(b"/response") and w != b"shadow/get/response":
                        # our own reply coming back through a "commands/#"-style
                        # filter on a broker that echoes (the real platform
                        # does not): nothing to do
                        return Request(SYSTEM, "echo")
        if k:
            try:
                body = json.loads(payload) if payload else {}
                rid = topic[j:].decode()
            except Exception:
                body = None
            if isinstance(body, dict):
                t = body.get("object_device_id")
                if not isinstance(t, str) or t == self.device_id or not t:
                    t = None
                svc = body.get("service_id")
                if k == COMMAND:
                    name, p = body.get("command_name"), body.get("paras")
                    if p is None:
                        p = {}
                    if (name is None or isinstance(name, str)) and \
                            (svc is None or isinstance(svc, str)) and isinstance(p, dict):
                        return Request(k, name, p, svc, t, rid)
                else:
                    p = None
                    if k == SET:
                        ss = body.get("services")
                        ss = ss[0] if isinstance(ss, list) and len(ss) == 1 else None
                        p = ss.get("properties") if isinstance(ss, dict) else None
                        svc = ss.get("service_id") if isinstance(p, dict) else 0
                    if svc is None and k == GET or isinstance(svc, str):
                        return Request(k, None, p, "*" if k == GET and not svc else
                                       None if not svc or svc == self.service else svc, t, rid)
        from .iotda_ev import decode
        return decode(self, topic, payload)

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
            from .iotda_ev import get_reply
            body = get_reply(self, req, result, err)
            t = b"properties/get/response/request_id="
        else:
            return None
        body = json.dumps(body, separators=_SEP)
        if len(body) > _MSG_MAX:
            from .iotda_ev import _limit
            _limit(body, _MSG_MAX, "reply")
        rid = req.rid
        return b"".join((self._sys, t, (rid if isinstance(rid, str) else str(rid)).encode())), body

    def system(self, req, now_ms):
        """Actions for Device._system: ("clock", ms), ("publish", t, p), ("event", kind, req)."""
        if req.name == "echo":  # our own reply back from a broker that echoes
            return []
        from .iotda_ev import system
        return system(self, req, now_ms)
