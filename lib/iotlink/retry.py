"""What a link built on linkbase.LinkBase (the MQTT session, the 原子云
Session, the ATK driver) does when it fails or a connection attempt does:
backoff, the bookkeeping of a lost link, refusal texts.  Imported on the
first failure."""

import time
from . import log


def delay_ms(opts, attempts):
    """Wait before the next attempt: backoff_min_ms doubled per failed attempt,
    capped at backoff_max_ms, then 50-100 % of that so a fleet that lost its
    broker together does not come back together."""
    import random
    d = min(opts["backoff_min_ms"] << min(attempts, 16), opts["backoff_max_ms"])
    return d // 2 + random.getrandbits(16) * (d // 2) // 65535


def schedule(s, now, why=None):
    """Plan session ``s``'s next attempt (see delay_ms) from ``now`` (ticks
    ms); with ``why`` the plan goes on that warning line, so a lost link
    logs one line."""
    d = delay_ms(s.opts, s._attempts)
    s._attempts += 1
    s._next_try = time.ticks_add(now, d)
    if why:
        log.warn("%sretry in %d ms", why, d)
    else:
        log.info("retry in %d ms", d)


def failed(s, e, now):
    """A connect attempt of session ``s`` ended with ``e``: plan the next.
    Refused credentials wait auth_retry_ms: retrying soon cannot help."""
    from .errors import AuthError, ProtocolError
    if isinstance(e, AuthError):
        s.error = e
        s._next_try = time.ticks_add(now, s.opts["auth_retry_ms"])
        log.error("%s; next try in %d s", e, s.opts["auth_retry_ms"] // 1000)
        s._status("auth", e)
        return
    if isinstance(e, ProtocolError):
        s.error = e
    log.warn("connect failed: %s", log.err(e))
    schedule(s, now)


def lost(s, e, now, worked=False):
    """Session ``s`` lost its link (its transport already closed): put what
    was in flight back at the head of its outbox, count the loss, plan the
    reconnect and tell the status handler.  A link that ``worked`` (the peer
    answered after it was set up) or stayed up stable_ms gets a prompt first
    retry; only failed attempts escalate the backoff."""
    f = s._flight
    while f:
        if s._out.unget(f.pop()) is not None:
            s.stats["dropped"] += 1
            log.warn("outbox full (%d): oldest message dropped", s.opts["outbox"])
    from .errors import ProtocolError
    if isinstance(e, ProtocolError):
        s.error = e
    s.stats["link_errors"] += 1
    was = s.connected
    s.connected = False
    if was and (worked or time.ticks_diff(now, s._up_since) >= s.opts["stable_ms"]):
        s._attempts = 0
    why = log.err(e)
    schedule(s, now, "link lost: %s; " % why)
    if was:
        s._status("down", why)


def silence(now, rx):
    """The error for a link with nothing received since ``rx`` (ticks)."""
    return OSError("nothing received for %d s (1.5 x keepalive)" % (time.ticks_diff(now, rx) // 1000))


def no_ack(name, timeout_ms):
    """The error for an ack (PUBACK, SUBACK, ...) not read within timeout_ms."""
    return OSError("no %s within %d ms" % (name, timeout_ms))


def malformed_connack(e):
    """umqtt's own checks of the CONNACK failed with ``e`` (they differ by version)."""
    from .errors import ProtocolError
    return ProtocolError("malformed CONNACK (%s)" % type(e).__name__)


_CONNACK = (
    "the broker refused the MQTT protocol version",
    "client id rejected (format, or keepalive outside the cloud's range)",
    "server unavailable",
    "bad username or password: check the device credentials in config.json",
    "not authorised: the device is not allowed to connect (disabled, deleted or wrong product)",
)


def refusal(code, ep):
    """The exception for a CONNACK refusal: AuthError for 4 and 5 (retrying
    soon cannot help), OSError otherwise; the text says what to fix."""
    from .errors import AuthError
    msg = "%s:%d refused the connection (CONNACK %d): %s" % (
        ep["host"], ep["port"], code, _CONNACK[code - 1] if 0 < code < 6 else "unknown code")
    return AuthError(code, msg) if code in (4, 5) else OSError(msg)
