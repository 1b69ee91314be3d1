"""Cloud codecs: pure protocol code, one module per cloud, loaded on demand.

Each module has a ``Cloud`` class built from the whole config dict.  It holds
the checked endpoint (``ep``) and prebuilt topics, and turns app calls into
(topic, payload) pairs and downlinks into ``Request`` objects.  No sockets, no
clock reads: ``now`` (Unix seconds) is passed in.
"""

import json
from ..errors import ConfigError

TYPES = ("mqtt", "iotda", "iotkit", "thingscloud", "sensecap")


def load(cfg):
    """The Cloud for cfg["cloud"]["type"]."""
    from .. import config
    c = config.section(cfg, "cloud")
    if not c:
        raise ConfigError("cloud: required (an object with at least \"type\")")
    kind = config.get(c, "type", str, choices=TYPES)
    mod = __import__("iotlink.clouds." + kind, None, None, ("Cloud",))
    return mod.Cloud(cfg)


def json_object(payload):
    """The JSON object a downlink carries (``{}`` for an empty payload);
    ValueError naming what is wrong otherwise."""
    try:
        body = json.loads(payload) if payload else {}
    except (ValueError, UnicodeError):
        raise ValueError("payload is not UTF-8 JSON")
    if not isinstance(body, dict):
        raise ValueError("payload must be a JSON object")
    return body
