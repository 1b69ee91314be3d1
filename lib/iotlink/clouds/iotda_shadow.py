"""IoTDA device shadow: ask for it; the answer arrives at the "event" handler
as EVENT "shadow" (params: the platform's shadow list)."""

from ..request import Request, SYSTEM
from . import dumps, json_object
from .iotda import target_of


def shadow_get(cloud, rid, service=None, target=None):
    """The request for the device shadow (of one service, of a child)."""
    body = {}
    if service:
        body["service_id"] = service
    if target:
        body["object_device_id"] = target
    return cloud._sys + b"shadow/get/request_id=" + str(rid).encode(), dumps(body)


def decode(cloud, rid, payload):
    """shadow/get/response/request_id=<rid>."""
    try:
        rid = rid.decode()
    except UnicodeError:
        return None
    body = json_object(payload)
    sh = body.get("shadow")
    return Request(SYSTEM, "shadow", sh if isinstance(sh, list) else [],
                   target=target_of(cloud, body), rid=rid)
