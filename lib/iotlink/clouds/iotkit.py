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

The platform answers every report; its plain success answer is read in place
(no JSON objects) and counted.  Optional parts are modules of their own:
iotkit_gateway.py (register / deregister sub-devices; add_child() and
remove_child() here use it), iotkit_config.py (config get),
iotkit_answers.py (every answer but a report's plain success, imported when
one arrives) and iotkit_errors.py (what is wrong with a malformed request).
"""

import json
from micropython import const
from .. import config, sign, log
from ..errors import ConfigError
from ..request import Request, COMMAND, SET, GET, SYSTEM
from . import dumps

CONFIG = "config"        # Request kind of thing.config.set and config/get answers
E_BAD = const(400)       # reply code: the request was malformed
E_FAILED = const(500)    # reply code: the handler failed or there is none
_PENDING = const(16)     # uplinks remembered for reply matching
_REG = "thing.lifetime.register"
_DEREG = "thing.lifetime.deregister"
_CFG_GET = "thing.config.get"
_POST = "thing.event.property.post"


def check_name(v, what, under=False):
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
        return check_name(v, "cloud." + key, True)
    except ValueError as e:
        msg = str(e)
        if "'_'" in msg:
            msg += " (the server splits the client id productKey_deviceName_model on '_')"
        raise ConfigError(msg.replace(" must", ": must", 1))


class Cloud:
    NAME = "iotkit"
    RECEIVE_ONLY = False
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
        self._post = self._base + b"s/event/property/post"
        self._acklen = len(self._post) + 6
        self._ok = Request(SYSTEM, "reply", None, "event/property/post")  # reused: see decode()
        self._kids = {}      # deviceName -> [productKey, topic base, registered]
        self._pending = []   # (id number, method, child deviceName or None)
        self._n = 0
        self.acks = 0        # uplinks the cloud confirmed (code 0)
        self.nacks = 0       # uplinks it refused

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        if self._pw is None:  # computed once: the pure MD5 is slow on boards
            # md5(product_secret + clientId) as 32 lowercase hex digits
            self._pw = sign.md5_hex(self._secret + self.client_id)
            log.secret(self._pw)
        return self.client_id, self.dn, self._pw

    def subscriptions(self):
        return self._subs

    def will(self):
        return None

    def on_connect(self, now):
        return ()

    # ----- uplinks ---------------------------------------------------------

    def up(self, topic, method, params, child=None):
        """(topic, payload) of a request up, remembered for its answer."""
        self._n += 1
        n = self._n
        p = self._pending
        if len(p) >= _PENDING:
            p.pop(0)
        p.append((n, method, child))
        return topic, '{"id":"%d","method":%s,"params":%s}' % (
            n, '"thing.event.property.post"' if method == _POST else dumps(method), dumps(params))

    def topic_base(self, target):
        """``/sys/{pk}/{dn}/`` of this device or of a registered sub-device."""
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
        return self.up(self._post if target is None else
                        self.topic_base(target) + b"s/event/property/post", _POST, props, target)

    def event(self, name, params, now, target=None):
        """thing.event.{name}"""
        check_name(name, "event name")
        if name == "property.post":
            raise ValueError("event name property.post is the property report")
        if params is not None and not isinstance(params, dict):
            raise TypeError("event params must be a dict")
        return self.up(self.topic_base(target) + b"s/event/" + name.encode(), "thing.event." + name,
                        params or {}, target)

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        # the answer to every report: a plain success is read in place and
        # handed on as one reused Request (no JSON objects, no topic split)
        if len(topic) == self._acklen and topic.endswith(b"/event/property/post_reply") and \
                topic.startswith(self._base):
            rid = _ok_id(payload)
            if rid >= 0:
                r = self._ok
                r.rid = rid
                return r
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
            body = ValueError  # not JSON: told apart from a JSON null
        if isinstance(body, dict):
            rid, params = body.get("id"), body.get("params")
            if isinstance(rid, int) and not isinstance(rid, bool):
                rid = "%d" % rid
            if (rid is None or isinstance(rid, str)) and body.get("method") == method:
                if req.kind == GET:
                    ok = params is None or isinstance(params, list) and \
                        all(isinstance(n, str) for n in params)
                else:
                    ok = isinstance(params, dict) or params is None
                    params = params or {}
                if ok:
                    req.rid, req.params = rid, params
                    return req
        from .iotkit_errors import malformed  # says what is wrong
        return malformed(req, body, method)

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
            base = self.topic_base(req.target)
        except ValueError:
            return None  # deregistered meanwhile: nobody to answer for
        return base + b"s/" + suffix.encode() + b"_reply", \
            answer(req.rid, "thing." + suffix.replace("/", ".") + "_reply", result, err,
                    E_BAD if req.error else E_FAILED)


    def system(self, req, now_ms):
        """Actions for Device._system: answers to our uplinks and the cloud's
        deregister of a sub-device (all but a report's plain success: in
        iotkit_answers)."""
        if req is self._ok:  # a plain success answer to a report
            p = self._pending
            for i in range(len(p)):
                if p[i][0] == req.rid and p[i][1] == _POST:
                    p.pop(i)
                    self.acks += 1
                    return ()
            log.debug("answer %s to no pending uplink", _POST)
            return ()
        from .iotkit_answers import system
        return system(self, req)

    def service_key(self, service):
        return service or ""


def answer(rid, method, result, err, code):
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
    from .iotkit_gateway import register
    dev.publish(*register(dev.cloud, product_key, device_name, model), qos=1)
    return dev.child(device_name)


def remove_child(dev, device_name):
    """Deregister a sub-device from the gateway side and stop its downlinks."""
    from .iotkit_gateway import child_filter, deregister
    c = dev.cloud
    f = child_filter(c, device_name)
    dev.publish(*deregister(c, device_name), qos=1)
    dev.unsubscribe(f)


def _ok_id(b):
    """The id (a number) of a plain success answer to a property post, read in
    place: ``{"id":"<n>","method":"thing.event.property.post_reply","code":0``
    (the id quoted or not, whitespace anywhere between tokens), then ``,`` or
    ``}``, and none of these keys again after that.  -1 for anything else,
    keys in another order included: the JSON path decides those."""
    i = _tok(b, 0, b'{"id":')
    n = len(b)
    if i < 0 or i >= n:
        return -1
    q = b[i] == 34
    i += q
    k = i
    out = 0
    while k < n and 48 <= b[k] <= 57 and k - i < 9:
        out = out * 10 + b[k] - 48
        k += 1
    if k == i or b[i] == 48 and k - i > 1:
        return -1
    if q:
        if k >= n or b[k] != 34:
            return -1
        k += 1
    k = _tok(b, k, b',"method":"thing.event.property.post_reply","code":0')
    if k < 0 or k >= n or b[k] != 44 and b[k] != 125:
        return -1
    for key in (b'"id"', b'"method"', b'"code"'):
        if b.find(key, k) >= 0:  # maybe the same key again, which JSON would read last
            return -1
    return out


def _tok(b, i, form):
    """The index in ``b`` after ``form`` read from ``i`` on (whitespace
    skipped before each byte and after the last); -1 when ``b`` does not go
    on with ``form``."""
    n = len(b)
    for k in range(len(form) + 1):
        while i < n and b[i] <= 32:
            i += 1
        if k == len(form):
            return i
        if i >= n or b[i] != form[k]:
            return -1
        i += 1
