"""iotkit gateway: register and deregister sub-devices (``iotkit.add_child``
and ``remove_child`` use these), and what follows the cloud's answers."""

from .iotkit import check_name, answer, _REG, _DEREG, E_BAD
from .. import log
from ..request import Request, EVENT


def register(c, product_key, device_name, model):
    """thing.lifetime.register of a sub-device (reported later as
    ``target=device_name``).  Its ``/c/#`` is subscribed once the cloud
    says yes.  deviceName may hold '_' here: child topics split on '/'."""
    check_name(product_key, "productKey")
    check_name(device_name, "deviceName")
    check_name(model, "model")
    if device_name == c.dn:
        raise ValueError("a gateway cannot register itself")
    base = ("/sys/%s/%s/" % (product_key, device_name)).encode()
    c._kids[device_name] = [product_key, base, False]
    return c.up(c._base + b"s/register", _REG, {
        "productKey": product_key, "deviceName": device_name, "model": model}, device_name)


def child_filter(c, device_name):
    """The topic filter a registered sub-device's downlinks arrive on."""
    return c.topic_base(device_name) + b"c/#"


def deregister(c, device_name):
    """thing.lifetime.deregister from the gateway; forgets the sub-device
    (unsubscribe ``child_filter()`` too: see iotkit.remove_child())."""
    k = c._kids.pop(device_name, None)
    if k is None:
        raise ValueError("unknown sub-device %s" % device_name)
    return c.up(c._base + b"s/deregister", _DEREG,
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
        return (("publish", topic, answer(req.rid, _DEREG + "_reply", None, err, E_BAD)),)
    dn = p["deviceName"]
    k = c._kids.pop(dn, None)
    acts = [("publish", topic, answer(req.rid, _DEREG + "_reply", None, None, 0))]
    pk = k[0] if k else p.get("productKey")
    if isinstance(pk, str):
        acts.append(("unsubscribe", ("/sys/%s/%s/c/#" % (pk, dn)).encode()))
    acts.append(("event", EVENT, Request(EVENT, "deregistered", p, target=dn)))
    return acts
