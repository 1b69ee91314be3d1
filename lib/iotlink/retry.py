"""What a Device does when a connection attempt fails: backoff, refusal texts."""


def delay_ms(opts, attempts):
    """Wait before the next attempt: backoff_min_ms doubled per failed attempt,
    capped at backoff_max_ms, then 50-100 % of that so a fleet that lost its
    broker together does not come back together."""
    import random
    d = min(opts["backoff_min_ms"] << min(attempts, 16), opts["backoff_max_ms"])
    return d // 2 + random.getrandbits(16) * (d // 2) // 65535


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
