"""IoTDP (device provisioning): the bootstrap question and its answer, and
the secret of a device in a registration group.  A session with
``bootstrap: true`` asks for its address only; the answer reaches the "event"
handler as EVENT "bootstrap", and ``bootstrapped(cfg, req.params)`` is the
config to connect with next."""

from .. import config, log, sign
from ..request import Request, EVENT, SYSTEM
from . import dumps, json_object


def group_derived(device_id, group_secret):
    """Registration-group device secret: hex HMAC-SHA256(key=device_id,
    msg=base64-decoded group secret).  Masked in logs from then on."""
    from binascii import a2b_base64
    try:
        raw = a2b_base64(group_secret)
    except ValueError:
        raise config.ConfigError("cloud.group_secret: not base64")
    s = sign.hmac_sha256_hex(device_id, raw)
    log.secret(s)
    return s


def request(cloud):
    """bootstrap/up, sent after every connect while bootstrap is on."""
    body = dumps({"baseStrategyKeyword": cloud.keyword}) if cloud.keyword else ""
    return cloud._sys + b"bootstrap/up", body.encode(), 1, False


def decode(payload):
    return Request(SYSTEM, "bootstrap", json_object(payload))


def system(req):
    """The answer goes to the "event" handler; its secret is masked in logs."""
    ds = req.params.get("deviceSecret")
    if isinstance(ds, str):
        log.secret(ds)
    return [("event", EVENT, Request(EVENT, "bootstrap", req.params))]


def bootstrapped(cfg, params):
    """The config to use after a bootstrap answer (the EVENT "bootstrap"
    params): host and port from ``address``, ``deviceSecret`` if given,
    bootstrap off.  Raises ValueError on a failure answer."""
    addr = params.get("address")
    if not isinstance(addr, str) or not addr:
        raise ValueError("bootstrap failed: %s" % params.get("errorCode", "no address"))
    host, _, port = addr.rpartition(":")
    c = dict(cfg["cloud"])
    if host and port.isdigit():
        c["host"], c["port"] = host, int(port)
    else:
        c["host"] = addr
    c["bootstrap"] = False
    ds = params.get("deviceSecret")
    if isinstance(ds, str) and ds:
        c["secret"] = ds
        c.pop("group_secret", None)
        c.pop("scope_id", None)
    out = dict(cfg)
    out["cloud"] = c
    return out
