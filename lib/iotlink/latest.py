"""The latest value per (source, name), bounded, with an age for each.

Vendor-neutral: a codec or an app puts readings in, the app asks for the last
value, its age and whether a source is still fresh.  Times are Unix
milliseconds passed in by the caller (``clock.now_ms()``); nothing here reads
a clock.

Each entry keeps the value, the time the source stamped on it (``ts``, may be
None) and the time it was received (``rx``).  The age of a reading is
``now - ts``; when ``ts`` is missing or lies more than ``skew_ms`` in the
future (the board clock is not set yet, or the source's clock is wrong) the
receive time is used instead, so an unsynchronised board still ages readings
correctly.  When the table is full, the entry received longest ago goes.
"""

from micropython import const

_SKEW_MS = const(60000)


class Latest:
    def __init__(self, size=16, skew_ms=_SKEW_MS):
        self.size = size
        self.skew_ms = skew_ms
        self._t = {}   # (source, name) -> [value, ts, rx]

    def __len__(self):
        return len(self._t)

    def put(self, source, name, value, ts, rx):
        """Store a reading; an older reading (by ``ts``) than the one kept is ignored.
        Returns True when stored."""
        if self.size <= 0:
            return False
        key = (source, name)
        e = self._t.get(key)
        if e is not None:
            if ts is not None and e[1] is not None and ts < e[1]:
                return False
            e[0] = value
            e[1] = ts
            e[2] = rx
            return True
        if len(self._t) >= self.size:
            old, oldest = None, 0
            for k, v in self._t.items():
                if old is None or v[2] < oldest:
                    old, oldest = k, v[2]
            del self._t[old]
        self._t[key] = [value, ts, rx]
        return True

    def value(self, source, name, default=None):
        e = self._t.get((source, name))
        return default if e is None else e[0]

    def get(self, source, name):
        """(value, ts, rx) or None."""
        e = self._t.get((source, name))
        return None if e is None else tuple(e)

    def age(self, source, name, now):
        """Milliseconds since the reading was taken (see the module text), or None."""
        e = self._t.get((source, name))
        return None if e is None else self._age(e, now)

    def _age(self, e, now):
        ts = e[1]
        if ts is None or ts - now > self.skew_ms:
            ts = e[2]
        return max(0, now - ts)

    def seen(self, source, now):
        """Age in ms of the freshest reading from ``source``, or None if none is kept."""
        best = None
        for k, e in self._t.items():
            if k[0] == source:
                a = self._age(e, now)
                if best is None or a < best:
                    best = a
        return best

    def fresh(self, source, now, max_age_ms):
        """True when ``source`` sent something within ``max_age_ms`` (online),
        False when its last reading is older (stale), None when nothing is kept."""
        a = self.seen(source, now)
        return None if a is None else a <= max_age_ms

    def sources(self):
        out = []
        for k in self._t:
            if k[0] not in out:
                out.append(k[0])
        return out

    def items(self):
        """[(source, name, value, ts)], in no particular order."""
        return [(k[0], k[1], e[0], e[1]) for k, e in self._t.items()]

    def clear(self):
        self._t.clear()
