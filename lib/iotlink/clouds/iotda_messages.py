"""IoTDA messages: messages/up in the system format (what ``Device.event``
sends), raw messages, custom topics, and messages/down."""

import json
from micropython import const
from ..request import Request, MESSAGE
from . import dumps
from .iotda import check_size, target_of, MSG_MAX

_TOPIC_MAX = const(128)        # custom topic


def message(cloud, content, name=None, id=None, target=None):
    """messages/up in the system format (content: dict or str)."""
    body = {"content": content}
    if name is not None:
        body["name"] = name
    if id is not None:
        body["id"] = id
    if target is not None:
        body["object_device_id"] = target
    return cloud._sys + b"messages/up", check_size(dumps(body), MSG_MAX, "message")


def raw_message(cloud, data):
    """messages/up with any bytes (the platform does not parse them)."""
    return cloud._sys + b"messages/up", check_size(data, MSG_MAX, "message")


def user_topic(cloud, name):
    """``$oc/devices/{device_id}/user/{name}`` (custom topics, at most 128 bytes)."""
    t = cloud._sys[:-4] + b"user/" + (name.encode() if isinstance(name, str) else name)
    if b"+" in t or b"#" in t:
        raise ValueError("custom topic must not contain MQTT wildcards")
    return check_size(t, _TOPIC_MAX, "custom topic")


def decode(cloud, payload):
    """messages/down: system-format JSON -> dict; anything else stays raw bytes."""
    req = Request(MESSAGE, params=payload)
    if payload.lstrip()[:1] == b"{":
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeError):
            return req
        if isinstance(body, dict) and "content" in body:
            req.params = body
            n = body.get("name")
            req.name = n if isinstance(n, str) else None
            i = body.get("id")
            req.rid = i if isinstance(i, str) else None
            req.target = target_of(cloud, body)
    return req
