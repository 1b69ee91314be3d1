"""Load and check config.json.  Every error names the field it is about.

Values of string fields are never quoted in errors: they may be secrets.
"""

import json
from .errors import ConfigError

REQUIRED = object()
_SECRET_WORDS = ("password", "secret", "key", "token")


def load(path="config.json"):
    """Read a JSON config file into a dict (validation happens in connect())."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("%s: file not found" % path)
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ConfigError("%s: not valid JSON" % path)
    if not isinstance(cfg, dict):
        raise ConfigError("%s: the top level must be a JSON object" % path)
    return cfg


def _type_name(t):
    # one string rather than six: this runs only to word an error
    for i, k in enumerate((int, bool, str, dict, list, float)):
        if t is k:
            return "an integer|true or false|a string|an object|a list|a number".split("|")[i]
    return getattr(t, "__name__", "a value")


def get(section, key, kind, default=REQUIRED, where="cloud", lo=None, hi=None,
        choices=None, nonempty=True):
    """Fetch ``section[key]`` checked against ``kind``; errors say ``where.key``."""
    name = where + "." + key if where else key
    if not isinstance(section, dict):
        raise ConfigError("%s: must be an object" % where)
    v = section.get(key, None)
    if v is None:
        if default is REQUIRED:
            raise ConfigError("%s: required (%s)" % (name, _type_name(kind)))
        return default
    ok = isinstance(v, kind)
    if kind is int and isinstance(v, bool):
        ok = False
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        ok, v = True, float(v)
    if not ok:
        raise ConfigError("%s: must be %s, not %s" % (name, _type_name(kind), _type_name(type(v))))
    if kind is str and nonempty and not v:
        raise ConfigError("%s: must not be empty" % name)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError("%s: %s is outside %s..%s" % (name, v, lo, hi))
    if choices is not None and v not in choices:
        shown = "" if _secret(key) else "%r " % (v,)
        raise ConfigError("%s: %snot one of %s" % (name, shown, ", ".join(choices)))
    if kind is str and _secret(key):
        from . import log
        log.secret(v)
    return v


def word(s, max_len=128, extra="_-"):
    """True when ``s`` is 1..max_len letters, digits or characters in ``extra``
    (the id rule most clouds share)."""
    if not isinstance(s, str) or not 0 < len(s) <= max_len:
        return False
    for ch in s:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch in extra):
            return False
    return True


def _secret(key):
    for w in _SECRET_WORDS:
        if w in key:
            return True
    return False


def file(section, key, where="cloud"):
    """An optional certificate/key file field: the path, checked now so a
    missing or wrong file is named at start, not as an OSError at connect.
    Relative paths are relative to the working directory (the board's root)."""
    path = get(section, key, str, None, where)
    if path is None:
        return None
    name = where + "." + key
    try:
        with open(path, "rb") as f:
            ok = _pem_or_der(f)
    except OSError:
        raise ConfigError("%s: %s: file not found or not readable" % (name, path))
    if not ok:
        raise ConfigError("%s: %s: not a PEM or DER file" % (name, path))
    return path


def _pem_or_der(f):
    """DER starts with a SEQUENCE (0x30); PEM has a "-----BEGIN" line, which
    bundles (openssl, certifi) put after comment lines: look through it all
    in small reads."""
    buf = f.read(256)
    if buf[:1] == b"\x30":
        return True
    while buf:
        if b"-----BEGIN" in buf:
            return True
        more = f.read(256)
        buf = buf[-9:] + more if more else b""
    return False


def transport(cfg):
    """``cloud.transport``: "mqtt" (default) or "https" (IoTDA's HTTPS device
    API, the only cloud that has one)."""
    c = section(cfg, "cloud")
    t = get(c, "transport", str, "mqtt", choices=("mqtt", "https"))
    if t == "https" and c.get("type") != "iotda":
        raise ConfigError("cloud.transport: https is only available with cloud.type iotda")
    return t


def section(cfg, key, where=""):
    """A sub-object (``{}`` when absent)."""
    return get(cfg, key, dict, {}, where)


def endpoint(c, port, tls, keepalive, ka_lo=1, ka_hi=65535, host=REQUIRED):
    """The connection options every MQTT cloud shares, checked; a dict for Device.

    host, port, tls (bool), ca (path), verify (bool), cert/key (client
    certificate paths), keepalive (s), timeout_ms (socket timeout).
    """
    ep = {}
    ep["host"] = get(c, "host", str, host)
    ep["tls"] = get(c, "tls", bool, tls)
    ep["port"] = get(c, "port", int, port if ep["tls"] == tls else (8883 if ep["tls"] else 1883), lo=1, hi=65535)
    ep["ca"] = file(c, "ca")
    ep["verify"] = get(c, "verify", bool, True)
    if get(c, "cert", str, None) and not get(c, "key", str, None):
        raise ConfigError("cloud.key: required with cloud.cert (client certificate key file)")
    ep["cert"] = file(c, "cert")
    ep["key"] = file(c, "key") if ep["cert"] else None
    if ep["tls"] and ep["verify"] and not ep["ca"]:
        raise ConfigError("cloud.ca: required with tls (CA certificate file to verify the server; "
                          "set cloud.verify false only for testing)")
    ep["keepalive"] = get(c, "keepalive", int, keepalive, lo=ka_lo, hi=ka_hi)
    ep["timeout_ms"] = get(c, "timeout_ms", int, 10000, lo=100, hi=120000)
    return ep


# name default lowest highest; one string costs a fraction of a table of tuples
_SESSION = ("outbox 32 1 1000 inbox 16 1 100 max_payload 8192 64 1048576 "
            "backoff_min_ms 1000 10 600000 backoff_max_ms 30000 10 3600000 "
            "stable_ms 60000 0 3600000 auth_retry_ms 300000 100 86400000 "
            "qos 1 0 1 report_min_ms 0 0 3600000")


def session(cfg):
    """Session-layer options (outbox size, backoff, limits) from cfg["session"]."""
    s = section(cfg, "session")
    out = {}
    f = _SESSION.split()
    for i in range(0, len(f), 4):
        n = f[i]
        out[n] = get(s, n, int, int(f[i + 1]), "session", lo=int(f[i + 2]), hi=int(f[i + 3]))
    if out["backoff_max_ms"] < out["backoff_min_ms"]:
        raise ConfigError("session.backoff_max_ms: must not be below session.backoff_min_ms")
    return out
