"""Short log lines that never show a secret.

Every value registered with ``secret()`` is masked in every line, whatever
formatted it, so a password inside an exception text is still hidden.
"""

_LEVELS = ("debug", "info", "warn", "error")
level = 1
_secrets = []
sink = None  # callable(line) to redirect output (tests, a display)


def secret(value, replaces=None):
    """Mask ``value`` (str or bytes) in all later log lines (and error replies),
    in place of ``replaces``: a password derived anew every hour keeps the
    list short."""
    if isinstance(value, bytes):
        value = value.decode()
    if replaces in _secrets:
        _secrets.remove(replaces)
    if value and len(value) >= 3 and value not in _secrets:
        _secrets.append(value)
        # longest first: a short secret inside a long one must not unmask its rest
        _secrets.sort(key=len, reverse=True)


def mask(text):
    for s in _secrets:
        if s in text:
            text = text.replace(s, "***")
    return text


def set_level(name):
    global level
    level = _LEVELS.index(name)


def _emit(lvl, msg, args):
    if lvl < level:
        return
    try:
        text = msg % args if args else msg
    except Exception:
        text = msg
    line = "iotlink %s: %s" % (_LEVELS[lvl][0].upper(), mask(text))
    if sink:
        sink(line)
    else:
        print(line)


def debug(msg, *args):
    _emit(0, msg, args)


def info(msg, *args):
    _emit(1, msg, args)


def err(e):
    """An exception as a short log text ("OSError 110", "ValueError: bad id")."""
    a = e.args
    if isinstance(e, OSError) and a and isinstance(a[0], int):
        return "OSError %d: %s" % a[:2] if len(a) > 1 and isinstance(a[1], str) else "OSError %d" % a[0]
    # one line: mbedTLS texts come wrapped in newlines
    s = " ".join(str(e).split())
    return "%s: %s" % (type(e).__name__, s) if s else type(e).__name__


def short(topic):
    """A topic for a log line: text, at most 60 characters."""
    try:
        t = topic.decode()
    except Exception:
        t = repr(topic)
    return t if len(t) <= 60 else t[:57] + "..."


def warn(msg, *args):
    _emit(2, msg, args)


def error(msg, *args):
    _emit(3, msg, args)
