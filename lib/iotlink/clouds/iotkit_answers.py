"""iotkit: the answers to our uplinks other than a report's plain success
(refusals, event, register and config get answers), and the cloud's
deregister of a sub-device.  Imported by iotkit.Cloud.system() when one arrives."""

from .iotkit import _REG, _DEREG, _CFG_GET, CONFIG
from .. import log
from ..request import Request, EVENT


def system(c, req):
    """Device._system actions for a SYSTEM request the codec's fast path did
    not take: the cloud's deregister, or an answer to one of our uplinks,
    matched by method + id; for a failure or an answer without a usable id
    the oldest pending uplink of that method (a register answer first by the
    deviceName it echoes: old servers answered register with id "0")."""
    p = c._pending
    if req.name == "deregister":
        from .iotkit_gateway import deregistered
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
        from .iotkit_gateway import registered
        return registered(c, child)
    if method == _CFG_GET and isinstance(data, dict):
        return (("event", CONFIG, Request(CONFIG, "get", data, rid=hid)),)
    return ()
