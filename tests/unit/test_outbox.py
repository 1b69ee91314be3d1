"""linkbase.Outbox: a bounded FIFO that drops its oldest entry when full."""

from collections import deque

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, invariant, initialize

from iotlink.linkbase import Outbox


def test_fifo_order():
    o = Outbox(4)
    for i in range(3):
        assert o.put(i) is None
    assert len(o) == 3
    assert [o.pop() for _ in range(3)] == [0, 1, 2]
    assert len(o) == 0 and o.pop() is None and o.peek() is None


def test_overflow_drops_and_returns_the_oldest():
    o = Outbox(3)
    for i in range(3):
        o.put(i)
    assert o.put(3) == 0
    assert o.put(4) == 1
    assert len(o) == 3
    assert [o.pop() for _ in range(3)] == [2, 3, 4]


def test_peek_does_not_remove():
    o = Outbox(2)
    o.put("a")
    o.put("b")
    assert o.peek() == "a" and o.peek() == "a" and len(o) == 2
    assert o.pop() == "a" and o.peek() == "b"


def test_size_one():
    o = Outbox(1)
    assert o.put("a") is None
    assert o.put("b") == "a"
    assert o.pop() == "b" and o.pop() is None


def test_unget_puts_back_at_the_head():
    o = Outbox(3)
    for i in range(3):
        o.put(i)
    a = o.pop()
    b = o.pop()
    assert o.unget(b) is None and o.unget(a) is None
    assert o.unget("x") == "x"                     # full: the put-back item is dropped
    assert [o.pop() for _ in range(3)] == [0, 1, 2]


def test_wraps_around_the_ring_many_times():
    o = Outbox(3)
    want = deque(maxlen=3)
    for i in range(50):
        o.put(i)
        want.append(i)
        if i % 4 == 0:
            assert o.pop() == want.popleft()
    assert [o.pop() for _ in range(len(o))] == list(want)


class OutboxVsDeque(RuleBasedStateMachine):
    @initialize(size=st.integers(1, 6))
    def make(self, size):
        self.size = size
        self.box = Outbox(size)
        self.model = deque()
        self.n = 0

    @rule()
    def put(self):
        self.n += 1
        item = ("msg", self.n)
        want = self.model.popleft() if len(self.model) == self.size else None
        self.model.append(item)
        assert self.box.put(item) == want

    @rule()
    def pop(self):
        want = self.model.popleft() if self.model else None
        assert self.box.pop() == want

    @rule()
    def pop_and_put_back(self):
        # a message whose delivery was cut off goes back to the head
        item = self.box.pop()
        if item is None:
            return
        self.model.popleft()
        self.model.appendleft(item)
        assert self.box.unget(item) is None

    @rule()
    def put_back_into_a_full_box(self):
        if len(self.model) == self.size:
            item = ("old", self.n)
            assert self.box.unget(item) is item   # the oldest of all: it is the one dropped

    @rule()
    def peek(self):
        assert self.box.peek() == (self.model[0] if self.model else None)

    @invariant()
    def same_length(self):
        if hasattr(self, "box"):
            assert len(self.box) == len(self.model)


OutboxVsDeque.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestOutboxModel = OutboxVsDeque.TestCase
