"""What every long-lived link shares: the MQTT session core
(``session.Session``), the 原子云 WebSocket session (``apis.alientek.Session``)
and the ATK module driver (``drivers.atk.ATK``) each build on ``LinkBase``.

It holds the handlers and the status events, the stats, the connect backoff
(``connect_in``, ``failed``), the bookkeeping of a link that comes up
(``up``) or is lost (``lost``), the keepalive decision, and the ``Outbox``
each of them keeps what is sent while offline in.  No I/O, no clock
of its own: ``now`` (ticks ms) is passed in.  The failure paths are in
retry.py, imported on the first failure.

A subclass sets ``opts`` (backoff_min_ms, backoff_max_ms, stable_ms,
auth_retry_ms) and ``keepalive_ms`` before it uses them.
"""

import time
from micropython import const

from . import log
from .errors import AuthError

PING = const(0)     # keepalive(): a ping is due now
DEAD = const(-1)    # keepalive(): nothing received for 1.5 x keepalive


class LinkBase:
    # Defaults of what only a failure sets: an instance's attribute table is
    # sized by what it holds, so these cost no slot until then.
    _flight = ()    # messages written and not yet acknowledged (see session)
    error = None    # last AuthError or ProtocolError, for the app to show
    _attempts = 0   # failed attempts since the last link that worked (retry.py)

    def __init__(self, now, stats):
        """``stats``: the link's counters, with at least connects, reconnects
        and link_errors."""
        self.connected = False
        self._handlers = {}
        self.stats = stats
        self._next_try = now
        self._up_since = 0
        self._last_ping = 0

    def on(self, kind, fn=None):
        """Register ``fn(request)`` for a request kind or ``fn(event, detail)``
        for "status" ("up", "down", "auth").  Usable as a decorator:
        ``@link.on("status")``."""
        if fn is None:
            return lambda f: self.on(kind, f)
        self._handlers[kind] = fn
        return fn

    def connect_in(self, now):
        """ms until the next connect attempt is due: 0 when due now."""
        d = time.ticks_diff(self._next_try, now)
        return d if d > 0 else 0

    def up(self, now, where=""):
        """The link is set up: count it, tell the status handler."""
        self.connected = True
        if isinstance(self.error, AuthError):
            self.error = None   # a ProtocolError stays for the app to see
        self._up_since = self._last_ping = now
        st = self.stats
        if st["connects"]:
            st["reconnects"] += 1
        st["connects"] += 1
        log.info("connected to %s", where)
        self._status("up", None)

    def failed(self, e, now):
        """A connect attempt ended with ``e``: plan the next one (retry.failed)."""
        from .retry import failed
        failed(self, e, now)

    def lost(self, e, now, worked=False):
        """The link failed (the caller closed it): what was in flight goes back
        to the head of the outbox, in order, the loss is counted and the
        reconnect planned (retry.lost).  ``worked``: the peer sent something
        after the link was set up."""
        from .retry import lost
        lost(self, e, now, worked)

    def keepalive(self, now, rx, tx):
        """Given the ticks of the link's last byte in (rx) and out (tx): PING
        when a ping is due now (then call pinged()), DEAD after 1.5 x
        keepalive_ms of silence, else the ms until the next check."""
        ka = self.keepalive_ms
        quiet = time.ticks_diff(now, rx)
        if quiet >= ka + ka // 2:
            return DEAD
        half = ka // 2
        tx_quiet = time.ticks_diff(now, tx)
        since_ping = time.ticks_diff(now, self._last_ping)
        if since_ping >= half and (quiet >= half or tx_quiet >= half):
            return PING
        due = max(half - since_ping, half - max(quiet, tx_quiet))
        return max(20, min(due, ka + ka // 2 - quiet))

    def pinged(self, now):
        self._last_ping = now

    def silence(self, now, rx):
        """The error for a DEAD link (retry.silence)."""
        from .retry import silence
        return silence(now, rx)

    def _status(self, event, detail):
        fn = self._handlers.get("status")
        if fn:
            try:
                fn(event, detail)
            except Exception as e:
                log.warn("status handler raised %s", log.err(e))


class Outbox:
    """Bounded store-and-forward queue for messages made while offline: a
    fixed ring of slots, no allocation per message beyond the message itself.
    When full, the oldest entry is dropped (newest data is worth more to a
    dashboard) and returned for the caller to count."""

    def __init__(self, size):
        self._slots = [None] * size
        self._head = 0
        self._n = 0

    def __len__(self):
        return self._n

    def put(self, item):
        """Append; return the oldest item if it had to be dropped, else None."""
        size = len(self._slots)
        dropped = None
        if self._n == size:
            dropped = self._slots[self._head]
            self._head = (self._head + 1) % size
            self._n -= 1
        self._slots[(self._head + self._n) % size] = item
        self._n += 1
        return dropped

    def peek(self):
        return self._slots[self._head] if self._n else None

    def pop(self):
        if not self._n:
            return None
        item = self._slots[self._head]
        self._slots[self._head] = None
        self._head = (self._head + 1) % len(self._slots)
        self._n -= 1
        return item

    def unget(self, item):
        """Put ``item`` back at the head (its delivery was cut off).  Full, it
        is the oldest of all and is returned as the one dropped, else None."""
        size = len(self._slots)
        if self._n == size:
            return item
        self._head = (self._head - 1) % size
        self._slots[self._head] = item
        self._n += 1
        return None
