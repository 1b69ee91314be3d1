"""Cloud codecs: pure protocol code, one module per cloud, loaded on demand.

Each module has a ``Cloud`` class that keeps the one contract Device relies
on (written down in base.py) and is built from the whole config dict.  It
holds the checked endpoint (``ep``) and prebuilt topics, and turns app calls
into (topic, payload) pairs and downlinks into ``Request`` objects.  No sockets, no clock reads: ``now``
(Unix seconds) is passed in.  Optional parts of a cloud are modules named
``<cloud>_<part>.py``, imported by whoever uses them.
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


_SEP = (",", ":")


def dumps(obj):
    """Compact JSON, as every cloud wants it (no spaces)."""
    return json.dumps(obj, separators=_SEP)


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
