"""The less used parts of the ThingsCloud codec, loaded on first use: events,
attribute gets, custom data streams, app-built command replies and the
(provisional) gateway topics.  They are reached as methods of
``thingscloud.Cloud`` (``cloud.attributes_get(...)`` etc.); each takes the
Cloud first."""

from micropython import const
from .thingscloud import dumps, valid_ident, _id, _obj, _ack, _tail
from ..request import Request, COMMAND, SET, EVENT, SYSTEM

_ID = const(1000)  # as in thingscloud: the id the vendor SDKs use


def event_report(c, name, params=None, id=_ID):
    """``event/report/<id>`` {"method": name, "params": {...}}."""
    if not isinstance(name, str) or not name:
        raise ValueError("event name must be a non-empty string")
    return b"event/report/" + _id(id), dumps({"method": name, "params": params or {}})


def attributes_get(c, keys=None, id=_ID):
    """Ask for the cloud's attribute values (all, or ``keys``); the answer
    arrives as EVENT "attributes/get/response" with rid = str(id)."""
    body = {} if not keys else {"keys": list(keys)}
    return b"attributes/get/" + _id(id), dumps(body)


def data(c, identifier, payload):
    """A custom data stream uplink: ``data/<identifier>``, bytes as they are."""
    if not valid_ident(identifier):
        raise ValueError("stream identifier: letters, digits, '_' or '-'")
    if isinstance(payload, str):
        payload = payload.encode()
    return b"data/" + identifier.encode(), payload


def command_reply(c, method, params, id, topic_id=None):
    """A command reply built by the app (e.g. after a reboot for OTA)."""
    body = {"method": method, "params": params or {}}
    if id is not None:
        body["id"] = id
    return b"command/reply/" + _id(topic_id if topic_id is not None else
                                   (id if id is not None else _ID)), dumps(body)


def get_response(topic, payload):
    """attributes/get/response/<id>: EVENT with the attributes, an error when
    the result is not 1."""
    req = Request(EVENT, "attributes/get/response", rid=_tail(topic, 24))
    body = _ack(payload)
    if not isinstance(body, dict):
        req.params, req.error = body, "payload is not UTF-8 JSON"
        return req
    a = body.get("attributes")
    req.params = a if isinstance(a, dict) else {}
    if body.get("result") not in (1, True):
        m = body.get("message")
        req.error = m if isinstance(m, str) and m else "result %s" % body.get("result")
    return req


# gateway (provisional)

GATEWAY_SUBS = (b"gateway/attributes/push", b"gateway/command/send", b"gateway/attributes/response",
                b"gateway/attributes/get/response", b"gateway/event/response")

def gateway_report(c, children):
    """``gateway/attributes`` {address: {attr: value}, ...}."""
    for k, v in children.items():
        if not isinstance(k, str) or not isinstance(v, dict):
            raise TypeError("gateway report: {address: {attr: value}}")
    return b"gateway/attributes", dumps(children)


def gateway_connect(c, address):
    return b"gateway/connect", dumps({"device": address})


def gateway_disconnect(c, address):
    return b"gateway/disconnect", dumps({"device": address})


def gateway(c, topic, payload):
    """A downlink on gateway/...: see the thingscloud module's table."""
    rest = topic[8:]
    if rest == b"attributes/push":
        body = _obj(payload)
        kids = [(k, v) for k, v in body.items() if isinstance(v, dict)]
        return Request(SYSTEM, "gateway/attributes/push", kids)
    if rest == b"command/send":
        req = Request(COMMAND, rid=(None, None))
        try:
            body = _obj(payload)
        except ValueError as e:
            req.error = str(e)
            return req
        dev, cmd = body.get("device"), body.get("command")
        if isinstance(dev, str) and dev:
            req.target = dev
        else:
            req.error = "device must be a sub-device address"
            return req
        if not isinstance(cmd, dict):
            req.error = "command must be a JSON object"
            return req
        return c._command(req, None, cmd)
    if rest.endswith(b"/response"):
        body = _ack(payload)
        dev = body.get("device") if isinstance(body, dict) else None
        return Request(EVENT, topic.decode(), body, target=dev if isinstance(dev, str) else None)
    return None


def system(c, req, now_ms):
    """gateway/attributes/push: one SET per sub-device to the "set" handler."""
    return [("event", SET, Request(SET, params=v, target=k)) for k, v in req.params]
