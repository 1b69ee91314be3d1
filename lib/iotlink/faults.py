"""What the MQTT session does with what goes wrong that a healthy session
never sees: a malformed or unknown downlink, a handler that raises or returns
the wrong type, a reply the codec cannot encode, an oversized downlink, a
message that cannot be queued or is dropped from a full outbox, a refused
subscription.  Imported on first use, so a session that meets none of it
keeps neither these functions nor their texts on the heap."""

from . import log
from .request import SET

_err = log.err
short = log.short


def not_a_dict():
    from .errors import ConfigError
    return ConfigError("config: must be a dict or a path to config.json")


def cannot_report(cloud, props):
    """The exception for a report the session refuses before encoding it."""
    if cloud.RECEIVE_ONLY:
        return NotImplementedError("%s: receive-only, nothing can be reported" % cloud.NAME)
    return TypeError("report() takes a dict of property values")


def unsendable(topic, payload, qos):
    """The exception for a message that can never be sent (checked when it is
    queued, so it cannot sit at the head of the outbox)."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return TypeError("payload must be bytes or str, not %s" % type(payload).__name__)
    if qos not in (0, 1):
        return ValueError("qos must be 0 or 1")
    return ValueError("topic must be non-empty bytes or str")


def dropped(s):
    """The outbox was full: its oldest message is gone, counted."""
    s.stats["dropped"] += 1
    log.warn("outbox full (%d): oldest message dropped", s.opts["outbox"])


def refused(topic):
    return OSError("subscription refused: %s" % topic.decode())


def oversized(s, n):
    s.stats["bad_input"] += 1
    log.warn("downlink of %d bytes over session.max_payload dropped", n)


def unhandled(s, topic, e):
    """A downlink whose handling raised outside any handler (a codec bug)."""
    s.stats["bad_input"] += 1
    log.error("downlink on %s not handled: %s", short(topic), _err(e))


def bad_downlink(s, topic, req):
    """``req``: None (a topic the codec does not know), the exception decode()
    raised, or a Request the codec marked malformed (answered with its error)."""
    s.stats["bad_input"] += 1
    if req is None:
        log.warn("unknown topic %s ignored", short(topic))
    elif isinstance(req, Exception):
        log.warn("bad downlink on %s: %s", short(topic), _err(req))
    else:
        log.warn("bad %s request: %s", req.kind, req.error)
        s._reply(req, None, req.error)


def no_loop(s, req, awaitable):
    """A coroutine handler on a driver without an event loop: an error reply."""
    awaitable.close()
    s.finish(req, None, TypeError("%s handler is a coroutine: needs the asyncio driver" % req.kind))


def handler_failed(s, req, result, exc):
    """A handler raised ``exc`` or returned what its kind cannot answer with:
    counted, logged, answered with an error reply."""
    kind = req.kind
    if exc is not None:
        why = _err(exc)
        log.warn("%s handler raised %s", kind, why)
    elif kind == SET:
        why = "set handler returned %s" % type(result).__name__
        log.warn(why)
    else:
        why = "handler returned %s, not a dict" % type(result).__name__
        log.warn("%s %s", kind, why)
    s.stats["handler_errors"] += 1
    s._reply(req, None, why)


def unencodable(s, req, err, e):
    """The codec raised ``e`` encoding a reply: the error reply instead (none
    when that was the error reply already)."""
    log.warn("cannot encode reply: %s", _err(e))
    return s.cloud.reply(req, None, "reply not encodable") if err is None else None

