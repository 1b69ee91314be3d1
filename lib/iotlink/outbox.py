"""Bounded store-and-forward queue for messages made while offline.

A fixed ring of slots: no allocation per message beyond the message itself.
When full, the oldest entry is dropped (newest data is worth more to a
dashboard) and counted by the caller.
"""


class Outbox:
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
