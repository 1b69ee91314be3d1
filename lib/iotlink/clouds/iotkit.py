"""iotkit (iotkit.cc, the OpenIita "iita" IoT platform), MQTT device side.

Config (``cloud``): type "iotkit", product_key, product_secret, device_name
(globally unique, e.g. the MAC), model (default "iotlink"); host "iotkit.cc",
port 1883, keepalive 30.  productKey, deviceName and model must not contain
``_``: the server splits the client id on it.

Login: clientId ``{pk}_{dn}_{model}``, username ``{dn}``, password lowercase hex
``md5(product_secret + clientId)``.  The device subscribes ``/sys/{pk}/{dn}/c/#``
after every CONNACK (the subscription is what puts it online).

Downlinks (``/sys/{pk}/{dn}/c/...``) become:

  service/property/set   Request(SET, params={name: value})
  service/property/get   Request(GET, params=[names])
  service/{name}         Request(COMMAND, name, params)
  config/set             Request(CONFIG "config", "set", params) -> @dev.on("config")
  deregister             handled here: answered, the sub-device unsubscribed
  ..._reply              answers to our uplinks, matched by method + id (never by
                         topic: the built-in broker answers on ``/s/..._reply``,
                         EMQX deployments on ``/c/..._reply``)

``target`` is the sub-device's deviceName for a child of this gateway.  A
refused uplink reaches ``@dev.on("event")`` as Request(EVENT, "error",
{"method", "id", "code", "data"}, target=child or None).
"""

import json
from micropython import const
from .. import config, sign, log
from ..errors import ConfigError
from ..request import Request, COMMAND, SET, GET, EVENT, SYSTEM

CONFIG = "config"        # Request kind of thing.config.set and config/get answers
E_BAD = const(400)       # reply code: the request was malformed
E_FAILED = const(500)    # reply code: the handler failed or there is none
_PENDING = const(16)     # uplinks remembered for reply matching
_REG = "thing.lifetime.register"
_DEREG = "thing.lifetime.deregister"
_CFG_GET = "thing.config.get"
_SEP = (",", ":")


def dumps(obj):
    return json.dumps(obj, separators=_SEP)


def _check(v, what, under=False):
    """A productKey / deviceName / model / event name: non-empty text that
    cannot break a topic (and, where ``under``, the clientId split)."""
    if not isinstance(v, str) or not v:
        raise ValueError("%s must be a non-empty string" % what)
    for ch in ("/+#_" if under else "/+#"):
        if ch in v:
            raise ValueError("%s must not contain '%s'" % (what, ch))
    return v


def _cfg(c, key, default=config.REQUIRED):
    v = config.get(c, key, str, default)
    try:
        return _check(v, "cloud." + key, True)
    except ValueError as e:
        msg = str(e)
        if "'_'" in msg:
            msg += " (the server splits the client id productKey_deviceName_model on '_')"
        raise ConfigError(msg.replace(" must", ": must", 1))


def password(product_secret, client_id):
    """md5(product_secret + client_id) as 32 lowercase hex digits."""
    return sign.md5_hex(product_secret + client_id)


class Cloud:
    REPORT_AFTER_SET = True

    def __init__(self, cfg):
        c = cfg["cloud"]
        self.ep = config.endpoint(c, 1883, False, 30, ka_lo=5, ka_hi=3600, host="iotkit.cc")
        self.pk = _cfg(c, "product_key")
        self.dn = _cfg(c, "device_name")
        self.model = _cfg(c, "model", "iotlink")
        self._secret = config.get(c, "product_secret", str)
        self.client_id = self.pk + "_" + self.dn + "_" + self.model
        self._pw = None
        self._pkb = self.pk.encode()
        self._dnb = self.dn.encode()
        self._base = b"/sys/" + self._pkb + b"/" + self._dnb + b"/"
        self._subs = ((self._base + b"c/#", 1),)
        self._kids = {}      # deviceName -> [productKey, topic base, registered]
        self._pending = []   # [id, method, child deviceName or None]
        self._n = 0
        self.acks = 0        # uplinks the cloud confirmed (code 0)
        self.nacks = 0       # uplinks it refused

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        if self._pw is None:  # computed once: the pure MD5 is slow on boards
            self._pw = password(self._secret, self.client_id)
            log.secret(self._pw)
        return self.client_id, self.dn, self._pw

    def subscriptions(self):
        return self._subs

    def will(self):
        return None

    def on_connect(self, now):
        return ()

    # ----- uplinks ---------------------------------------------------------

    def _up(self, base, suffix, method, params, child=None):
        self._n += 1
        rid = "%d" % self._n
        p = self._pending
        if len(p) >= _PENDING:
            p.pop(0)
        p.append([rid, method, child])
        body = {"id": rid, "method": method, "params": params}
        return base + b"s/" + suffix, dumps(body)

    def _where(self, target):
        if target is None:
            return self._base
        k = self._kids.get(target)
        if k is None:
            raise ValueError("unknown sub-device %s: register it first" % target)
        return k[1]

    def report(self, props, service, now, target=None):
        """thing.event.property.post (iotkit has no services: ``service`` is ignored)."""
        if not isinstance(props, dict):
            raise TypeError("properties must be a dict")
        return self._up(self._where(target), b"event/property/post",
                        "thing.event.property.post", props, target)

    def event(self, name, params, now, target=None):
        """thing.event.{name}"""
        _check(name, "event name")
        if name == "property.post":
            raise ValueError("event name property.post is the property report")
        if params is not None and not isinstance(params, dict):
            raise TypeError("event params must be a dict")
        return self._up(self._where(target), b"event/" + name.encode(), "thing.event." + name,
                        params or {}, target)

    def config_get(self):
        """Ask for the device's configuration (DOC; the answer goes to the
        "config" handler as Request(CONFIG, "get", params))."""
        return self._up(self._base, b"config/get", _CFG_GET, {})

    # ----- gateway ---------------------------------------------------------

    def register(self, product_key, device_name, model):
        """thing.lifetime.register of a sub-device (reported later as
        ``target=device_name``).  Its ``/c/#`` is subscribed once the cloud
        says yes.  deviceName may hold '_' here: child topics split on '/'."""
        _check(product_key, "productKey")
        _check(device_name, "deviceName")
        _check(model, "model")
        if device_name == self.dn:
            raise ValueError("a gateway cannot register itself")
        base = ("/sys/%s/%s/" % (product_key, device_name)).encode()
        self._kids[device_name] = [product_key, base, False]
        return self._up(self._base, b"register", _REG, {
            "productKey": product_key, "deviceName": device_name, "model": model}, device_name)

    def child_filter(self, device_name):
        """The topic filter a registered sub-device's downlinks arrive on."""
        return self._where(device_name) + b"c/#"

    def deregister(self, device_name):
        """thing.lifetime.deregister from the gateway; forgets the sub-device
        (unsubscribe ``child_filter()`` too: see remove_child())."""
        k = self._kids.pop(device_name, None)
        if k is None:
            raise ValueError("unknown sub-device %s" % device_name)
        return self._up(self._base, b"deregister", _DEREG,
                        {"productKey": k[0], "deviceName": device_name})

    def children(self):
        """{deviceName: (productKey, registered)}"""
        return {dn: (k[0], k[2]) for dn, k in self._kids.items()}

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        if not topic.startswith(b"/sys/"):
            return None
        p = topic.split(b"/", 5)  # "", "sys", pk, dn, c|s, rest
        if len(p) < 6:
            return None
        target = None
        if p[2] != self._pkb or p[3] != self._dnb:
            try:
                target = p[3].decode()
                k = self._kids.get(target)
                if k is None or k[0] != p[2].decode():
                    return None
            except UnicodeError:
                return None
        rest = p[5]
        if rest.endswith(b"_reply"):
            try:
                body = json.loads(payload)
            except (ValueError, UnicodeError):
                body = None
            return Request(SYSTEM, "reply", body, rest[:-6].decode(), target)
        if p[4] != b"c":
            return None
        if rest == b"service/property/set":
            req = Request(SET)
        elif rest == b"service/property/get":
            req = Request(GET)
        elif rest == b"config/set":
            req = Request(CONFIG, "set")
        elif rest == b"deregister" and target is None:
            req = Request(SYSTEM, "deregister")
        elif rest.startswith(b"service/") and len(rest) > 8 and b"/" not in rest[8:]:
            try:
                req = Request(COMMAND, rest[8:].decode())
            except UnicodeError:
                return None
        else:
            return None
        req.target = target
        method = _DEREG if req.kind == SYSTEM else "thing." + rest.decode().replace("/", ".")
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeError):
            req.error = "payload is not UTF-8 JSON"
            return req
        if not isinstance(body, dict):
            req.error = "payload must be a JSON object"
            return req
        rid = body.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = "%d" % rid
        if isinstance(rid, str):
            req.rid = rid
        elif rid is not None:
            req.error = "id must be a string"
            return req
        m = body.get("method")
        if m is None:
            req.error = "method missing"
        elif m != method:
            req.error = "method does not match the topic"
        else:
            params = body.get("params")
            if req.kind == GET:
                if params is not None and not (isinstance(params, list) and
                                               all(isinstance(n, str) for n in params)):
                    req.error = "params must be a list of property names"
            elif params is None:
                params = {}
            elif not isinstance(params, dict):
                req.error = "params must be a JSON object"
            if req.error is None:
                req.params = params
        return req

    def reply(self, req, result, err):
        k = req.kind
        if k == COMMAND:
            suffix = "service/" + req.name
        elif k == SET:
            suffix = "service/property/set"
        elif k == GET:
            suffix = "service/property/get"
        elif k == CONFIG:
            suffix = "config/set"
        else:
            return None
        try:
            base = self._where(req.target)
        except ValueError:
            return None  # deregistered meanwhile: nobody to answer for
        return base + b"s/" + suffix.encode() + b"_reply", \
            _answer(req.rid, "thing." + suffix.replace("/", ".") + "_reply", result, err,
                    E_BAD if req.error else E_FAILED)

    def system(self, req, now_ms):
        """Actions for Device._system: answers to our uplinks and the cloud's
        deregister of a sub-device."""
        if req.name == "deregister":
            return self._deregistered(req)
        body = req.params
        if not isinstance(body, dict):
            self.nacks += 1
            log.warn("unreadable answer on %s_reply", req.service)
            return ()
        m, rid, code = body.get("method"), body.get("id"), body.get("code")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = "%d" % rid
        if isinstance(m, str) and m.endswith("_reply") and m != "null_reply":
            method = m[:-6]
            ok = code == 0 or code is None
        else:  # the failure form {"id": null, "method": "null_reply", ...}: method from the topic
            s = req.service
            method = _REG if s == "register" else _DEREG if s == "deregister" else \
                "thing." + s.replace("/", ".")
            ok = False
        if isinstance(code, bool) or not isinstance(code, (int, type(None))):
            ok = False
        data = body.get("data")
        hit = self._match(method, rid, data, not ok or not isinstance(rid, str))
        if hit is None:
            log.debug("answer %s to no pending uplink", method)
            return ()
        child = hit[2]
        if not ok:
            self.nacks += 1
            if method == _REG:
                self._kids.pop(child, None)
            log.warn("%s refused by the cloud: code %s", method, code)
            return (("event", EVENT, Request(EVENT, "error", {
                "method": method, "id": hit[0], "code": code, "data": data},
                target=child)),)
        self.acks += 1
        if method == _REG:
            k = self._kids.get(child)
            if k is None:
                return ()
            k[2] = True
            return (("subscribe", k[1] + b"c/#", 1),
                    ("event", EVENT, Request(EVENT, "registered", {
                        "productKey": k[0], "deviceName": child}, target=child)))
        if method == _CFG_GET and isinstance(data, dict):
            return (("event", CONFIG, Request(CONFIG, "get", data, rid=hit[0])),)
        return ()

    def _match(self, method, rid, data, loose):
        """The pending uplink an answer belongs to: by method + id; for a
        failure or an answer without a usable id the oldest of that method
        (a register answer first by the deviceName it echoes)."""
        p = self._pending
        for i in range(len(p)):
            if p[i][0] == rid and p[i][1] == method:
                return p.pop(i)
        if method == _REG and isinstance(data, dict):
            dn = data.get("deviceName")
            for i in range(len(p)):
                if p[i][1] == method and p[i][2] == dn:
                    return p.pop(i)
            loose = True  # old servers answered register with id "0"
        if loose:
            for i in range(len(p)):
                if p[i][1] == method:
                    return p.pop(i)
        return None

    def _deregistered(self, req):
        p = req.params
        topic = self._base + b"s/deregister_reply"
        err = req.error
        if err is None and not (isinstance(p, dict) and isinstance(p.get("deviceName"), str)):
            err = "params must name the deviceName"
        if err is not None:
            log.warn("bad deregister request: %s", err)
            return (("publish", topic, _answer(req.rid, _DEREG + "_reply", None, err, E_BAD)),)
        dn = p["deviceName"]
        k = self._kids.pop(dn, None)
        acts = [("publish", topic, _answer(req.rid, _DEREG + "_reply", None, None, 0))]
        pk = k[0] if k else p.get("productKey")
        if isinstance(pk, str):
            acts.append(("unsubscribe", ("/sys/%s/%s/c/#" % (pk, dn)).encode()))
        acts.append(("event", EVENT, Request(EVENT, "deregistered", p, target=dn)))
        return acts


def _answer(rid, method, result, err, code):
    """A device reply; the result goes under ``data`` (DOC) and ``params``
    (what the server code reads)."""
    if err is None:
        data = result if isinstance(result, dict) else {}
        code = 0
    else:
        data = {"error": err}
    return dumps({"id": rid, "method": method, "code": code, "data": data, "params": data})


def add_child(dev, product_key, device_name, model):
    """Register a sub-device through the gateway session ``dev`` and return its
    handle (``.report()``, ``.event()``); its downlinks reach the handlers with
    ``req.target == device_name`` once the cloud has accepted it."""
    dev.publish(*dev.cloud.register(product_key, device_name, model), qos=1)
    return dev.child(device_name)


def remove_child(dev, device_name):
    """Deregister a sub-device from the gateway side and stop its downlinks."""
    c = dev.cloud
    f = c.child_filter(device_name)
    dev.publish(*c.deregister(device_name), qos=1)
    dev.unsubscribe(f)
