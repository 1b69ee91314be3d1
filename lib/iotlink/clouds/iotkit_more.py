"""The less used parts of the iotkit codec, loaded on first use: the gateway
(sub-device register / deregister), the config get, and the answers to
uplinks other than a report's plain success (refusals, event and register
answers).  The gateway and config calls are reached as methods of
``iotkit.Cloud`` (``cloud.register(...)`` etc.); each function here takes the
Cloud first."""

from .iotkit import _check, _answer, _REG, _DEREG, _CFG_GET, CONFIG, E_BAD
from .. import log
from ..request import Request, EVENT, GET


def malformed(req, body, method):
    """``req`` with the error of a request downlink whose ``body`` (the JSON
    read, or ValueError when it was none) failed the codec's checks; the id
    is kept when it is usable, for the error reply."""
    if body is ValueError:
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
    elif req.kind == GET:
        req.error = "params must be a list of property names"
    else:
        req.error = "params must be a JSON object"
    return req


def system(c, req):
    """Device._system actions for a SYSTEM request the codec's fast path did
    not take: the cloud's deregister, or an answer to one of our uplinks,
    matched by method + id; for a failure or an answer without a usable id
    the oldest pending uplink of that method (a register answer first by the
    deviceName it echoes: old servers answered register with id "0")."""
    p = c._pending
    if req.name == "deregister":
        return deregistered(c, req)
    body = req.params
    if not isinstance(body, dict):
        c.nacks += 1
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
    hit = None
    if isinstance(rid, str):
        for i in range(len(p)):
            if p[i][1] == method and "%d" % p[i][0] == rid:
                hit = p.pop(i)
                break
    loose = not ok or not isinstance(rid, str)
    if hit is None and method == _REG and isinstance(data, dict):
        dn = data.get("deviceName")
        for i in range(len(p)):
            if p[i][1] == method and p[i][2] == dn:
                hit = p.pop(i)
                break
        loose = True
    if hit is None and loose:
        for i in range(len(p)):
            if p[i][1] == method:
                hit = p.pop(i)
                break
    if hit is None:
        log.debug("answer %s to no pending uplink", method)
        return ()
    child = hit[2]
    hid = "%d" % hit[0]
    if not ok:
        c.nacks += 1
        if method == _REG:
            c._kids.pop(child, None)
        log.warn("%s refused by the cloud: code %s", method, code)
        return (("event", EVENT, Request(EVENT, "error", {
            "method": method, "id": hid, "code": code, "data": data},
            target=child)),)
    c.acks += 1
    if method == _REG:
        return registered(c, child)
    if method == _CFG_GET and isinstance(data, dict):
        return (("event", CONFIG, Request(CONFIG, "get", data, rid=hid)),)
    return ()



def config_get(c):
    """Ask for the device's configuration (DOC; the answer goes to the
    "config" handler as Request(CONFIG, "get", params))."""
    return c._up(c._base + b"s/config/get", _CFG_GET, {})


def register(c, product_key, device_name, model):
    """thing.lifetime.register of a sub-device (reported later as
    ``target=device_name``).  Its ``/c/#`` is subscribed once the cloud
    says yes.  deviceName may hold '_' here: child topics split on '/'."""
    _check(product_key, "productKey")
    _check(device_name, "deviceName")
    _check(model, "model")
    if device_name == c.dn:
        raise ValueError("a gateway cannot register itself")
    base = ("/sys/%s/%s/" % (product_key, device_name)).encode()
    c._kids[device_name] = [product_key, base, False]
    return c._up(c._base + b"s/register", _REG, {
        "productKey": product_key, "deviceName": device_name, "model": model}, device_name)


def child_filter(c, device_name):
    """The topic filter a registered sub-device's downlinks arrive on."""
    return c._where(device_name) + b"c/#"


def deregister(c, device_name):
    """thing.lifetime.deregister from the gateway; forgets the sub-device
    (unsubscribe ``child_filter()`` too: see iotkit.remove_child())."""
    k = c._kids.pop(device_name, None)
    if k is None:
        raise ValueError("unknown sub-device %s" % device_name)
    return c._up(c._base + b"s/deregister", _DEREG,
                 {"productKey": k[0], "deviceName": device_name})


def children(c):
    """{deviceName: (productKey, registered)}"""
    return {dn: (k[0], k[2]) for dn, k in c._kids.items()}


def registered(c, child):
    """The cloud accepted a register: subscribe the child's downlinks."""
    k = c._kids.get(child)
    if k is None:
        return ()
    k[2] = True
    return (("subscribe", k[1] + b"c/#", 1),
            ("event", EVENT, Request(EVENT, "registered", {
                "productKey": k[0], "deviceName": child}, target=child)))


def deregistered(c, req):
    """The cloud's deregister of a sub-device: answer, unsubscribe, tell the app."""
    p = req.params
    topic = c._base + b"s/deregister_reply"
    err = req.error
    if err is None and not (isinstance(p, dict) and isinstance(p.get("deviceName"), str)):
        err = "params must name the deviceName"
    if err is not None:
        log.warn("bad deregister request: %s", err)
        return (("publish", topic, _answer(req.rid, _DEREG + "_reply", None, err, E_BAD)),)
    dn = p["deviceName"]
    k = c._kids.pop(dn, None)
    acts = [("publish", topic, _answer(req.rid, _DEREG + "_reply", None, None, 0))]
    pk = k[0] if k else p.get("productKey")
    if isinstance(pk, str):
        acts.append(("unsubscribe", ("/sys/%s/%s/c/#" % (pk, dn)).encode()))
    acts.append(("event", EVENT, Request(EVENT, "deregistered", p, target=dn)))
    return acts
