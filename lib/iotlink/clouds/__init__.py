"""Cloud codecs: pure protocol code, one module per cloud, loaded on demand.

Each module has a ``Cloud`` class built from the whole config dict.  It holds
the checked endpoint (``ep``) and prebuilt topics, and turns app calls into
(topic, payload) pairs and downlinks into ``Request`` objects.  No sockets, no
clock reads: ``now`` (Unix seconds) is passed in.
"""

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
