"""ThingsCloud gateway (provisional: third-party sources only, see
docs/thingscloud.md): sub-device attribute reports (``Device.child(addr)``),
connect / disconnect, and the gateway/... downlinks."""

from ..request import Request, COMMAND, EVENT, SYSTEM
from . import dumps, json_object
from .thingscloud import ack_body

GATEWAY_SUBS = (b"gateway/attributes/push", b"gateway/command/send", b"gateway/attributes/response",
                b"gateway/attributes/get/response", b"gateway/event/response")


def report(children):
    """``gateway/attributes`` {address: {attr: value}, ...}."""
    for k, v in children.items():
        if not isinstance(k, str) or not isinstance(v, dict):
            raise TypeError("gateway report: {address: {attr: value}}")
    return b"gateway/attributes", dumps(children)


def connect(address):
    return b"gateway/connect", dumps({"device": address})


def disconnect(address):
    return b"gateway/disconnect", dumps({"device": address})


def decode(cloud, topic, payload):
    """A downlink on gateway/...: see the thingscloud module's table."""
    rest = topic[8:]
    if rest == b"attributes/push":
        body = json_object(payload)
        kids = [(k, v) for k, v in body.items() if isinstance(v, dict)]
        return Request(SYSTEM, "gateway/attributes/push", kids)
    if rest == b"command/send":
        req = Request(COMMAND, rid=(None, None))
        try:
            body = json_object(payload)
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
        return cloud.fill_command(req, None, cmd)
    if rest.endswith(b"/response"):
        body = ack_body(payload)
        dev = body.get("device") if isinstance(body, dict) else None
        return Request(EVENT, topic.decode(), body, target=dev if isinstance(dev, str) else None)
    return None
