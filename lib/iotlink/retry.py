"""Reconnect backoff shared by every session type."""


def delay_ms(opts, attempts):
    """Wait before the next attempt: backoff_min_ms doubled per failed attempt,
    capped at backoff_max_ms, then 50-100 % of that so a fleet that lost its
    broker together does not come back together."""
    import random
    d = min(opts["backoff_min_ms"] << min(attempts, 16), opts["backoff_max_ms"])
    return d // 2 + random.getrandbits(16) * (d // 2) // 65535
