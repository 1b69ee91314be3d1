"""ThingsCloud uplinks an app builds itself, and the answer to one: attribute
gets (the answer arrives as EVENT "attributes/get/response"), custom data
streams, command replies sent later (e.g. after a reboot for OTA).  Each
returns (topic, payload) for ``dev.publish(*...)``."""

from ..request import Request, EVENT
from . import dumps
from .thingscloud import ID, valid_ident, ack_body, topic_tail
from .thingscloud import topic_id as _level


def attributes_get(keys=None, id=ID):
    """Ask for the cloud's attribute values (all, or ``keys``); the answer
    arrives as EVENT "attributes/get/response" with rid = str(id)."""
    body = {} if not keys else {"keys": list(keys)}
    return b"attributes/get/" + _level(id), dumps(body)


def data(identifier, payload):
    """A custom data stream uplink: ``data/<identifier>``, bytes as they are."""
    if not valid_ident(identifier):
        raise ValueError("stream identifier: letters, digits, '_' or '-'")
    if isinstance(payload, str):
        payload = payload.encode()
    return b"data/" + identifier.encode(), payload


def command_reply(method, params, id, topic_id=None):
    """A command reply built by the app; ``topic_id``: the id level of the
    topic when it differs from ``id``."""
    body = {"method": method, "params": params or {}}
    if id is not None:
        body["id"] = id
    return b"command/reply/" + _level(topic_id if topic_id is not None else
                                      (id if id is not None else ID)), dumps(body)


def get_response(topic, payload):
    """attributes/get/response/<id>: EVENT with the attributes, an error when
    the result is not 1."""
    req = Request(EVENT, "attributes/get/response", rid=topic_tail(topic, 24))
    body = ack_body(payload)
    if not isinstance(body, dict):
        req.params, req.error = body, "payload is not UTF-8 JSON"
        return req
    a = body.get("attributes")
    req.params = a if isinstance(a, dict) else {}
    if body.get("result") not in (1, True):
        m = body.get("message")
        req.error = m if isinstance(m, str) and m else "result %s" % body.get("result")
    return req
