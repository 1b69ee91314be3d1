# The session core (iotlink.session) without any I/O: time and packets fed in,
# actions read out.  Runs unchanged on CPython (tests/unit/test_session_core.py
# imports it) and on the MicroPython unix port (run as a script: one
# "PASS name" or "FAIL name: why" line per case).
import json
import time

from iotlink import session as core
from iotlink.errors import AuthError

BASE = b"iotlink/dev1"
T0 = 1000000


class Clock:
    """The driver's time sources, moved only by the case."""

    def __init__(self):
        self.t = T0
        self.unix_ms = 1757400000000
        self.set_to = None

    def ticks(self):
        return self.t

    def now(self):
        return self.unix_ms // 1000

    def now_ms(self):
        return self.unix_ms

    def set(self, ms):
        self.set_to = ms


def make(session=None, keepalive=10):
    s = {"qos": 1, "backoff_min_ms": 1000, "backoff_max_ms": 8000, "auth_retry_ms": 300000,
         "stable_ms": 60000}
    s.update(session or {})
    cfg = {"cloud": {"type": "mqtt", "host": "broker.test", "client_id": "dev1",
                     "keepalive": keepalive},
           "session": s}
    clk = Clock()
    sess = core.Session(cfg, clk.ticks, clk)
    events = []
    sess.on("status", lambda ev, detail: events.append(ev))
    return sess, clk, events


def up(sess, clk):
    sess.up(clk.t, "test")


def drain(sess):
    """What the outbox holds, oldest first, left in place."""
    items = []
    while len(sess._out):
        items.append(sess._out.pop())
    for it in items:
        sess._out.put(it)
    return items


def numbers(items):
    return [json.loads(it[1])["n"] for it in items]


def check_counts(sess):
    st = sess.stats
    assert st["queued"] - st["sent"] - st["dropped"] == sess.backlog(), st


def command(sess, rid, name=b"ping", params=None):
    body = {"id": rid, "params": params or {}}
    sess.received(BASE + b"/down/command/" + name, json.dumps(body).encode())


def replies(sess):
    out = []
    while True:
        it = sess.next_out()
        if it is None:
            break
        if it[0] == BASE + b"/up/reply":
            out.append(json.loads(it[1]))
        if it[2]:
            sess.puback(it[4])
        else:
            sess.written(it)
    return out


def windowed(window, reports, session=None):
    """A session that is up with ``window`` and reports 0..reports-1 queued."""
    sess, clk, events = make(session)
    up(sess, clk)
    sess.window = window
    for n in range(reports):
        sess.report({"n": n})
    return sess, clk, events


# ----- the cases -------------------------------------------------------------

def case_window_acks_out_of_order_outbox_order_kept():
    sess, clk, _ = windowed(3, 5)
    sent = [sess.next_out() for _ in range(3)]
    assert numbers(sent) == [0, 1, 2]
    assert sess.next_out() is None            # the window is full
    pids = [it[4] for it in sent]
    assert len(set(pids)) == 3 and 0 not in pids
    assert sess.puback(pids[1]) is True       # out of order
    assert sess.puback(pids[1]) is False      # not twice
    assert sess.puback(60000) is False        # not ours
    assert sess.stats["sent"] == 1
    check_counts(sess)
    assert numbers([sess.next_out()]) == [3]  # a slot came free
    assert sess.next_out() is None
    check_counts(sess)


def case_link_lost_puts_the_window_back_at_the_head_in_order():
    sess, clk, events = windowed(3, 5)
    a = sess.next_out()
    b = sess.next_out()
    c = sess.next_out()
    sess.puback(b[4])
    sess.lost(OSError("reset"), clk.t)
    assert not sess.connected and events[-1] == "down"
    assert sess.stats["link_errors"] == 1
    assert numbers(drain(sess)) == [0, 2, 3, 4]
    assert [it[4] for it in drain(sess)[:2]] == [a[4], c[4]]   # same ids again
    check_counts(sess)
    assert sess.stats["dropped"] == 0


def case_window_put_back_into_a_full_outbox_is_counted_dropped():
    sess, clk, _ = windowed(2, 3, {"outbox": 3})
    sess.next_out()
    sess.next_out()
    for n in range(3, 5):
        sess.report({"n": n})     # the outbox is full again: 2, 3, 4
    sess.lost(OSError("reset"), clk.t)
    # 1 goes back (dropping nothing: it is older than all), 0 finds it full
    assert numbers(drain(sess)) == [2, 3, 4]
    assert sess.stats["dropped"] == 2
    check_counts(sess)


def case_qos0_is_sent_once_written():
    sess, clk, _ = make()
    up(sess, clk)
    sess.publish(b"raw/t", b"x", qos=0)
    it = sess.next_out()
    assert it[2] == 0 and it[4] == 0
    assert sess.stats["sent"] == 0 and sess.backlog() == 1
    assert sess.puback(0) is False            # a QoS 0 message has no ack
    sess.written(it)
    assert sess.stats["sent"] == 1 and sess.backlog() == 0
    sess.report({"n": 1})                     # QoS 1: written is not sent
    it = sess.next_out()
    sess.written(it)
    assert sess.stats["sent"] == 1 and sess.backlog() == 1
    assert sess.puback(it[4]) and sess.stats["sent"] == 2
    check_counts(sess)


def case_packet_ids_wrap_and_skip_zero():
    sess, clk, _ = make()
    sess._pid = 65534
    assert [sess.next_pid() for _ in range(3)] == [65535, 1, 2]


def case_keepalive_pings_when_quiet_and_declares_silence_dead():
    sess, clk, _ = make(keepalive=10)
    up(sess, clk)
    rx = tx = clk.t
    wait = sess.keepalive(clk.t, rx, tx)
    assert 20 <= wait <= 5000, wait
    clk.t += 5000                             # half the keepalive, nothing in or out
    assert sess.keepalive(clk.t, rx, tx) == core.PING
    sess.pinged(clk.t)
    tx = clk.t
    wait = sess.keepalive(clk.t, rx, tx)
    assert wait > 0, wait
    clk.t += 9999                             # 14.999 s without a byte in
    assert sess.keepalive(clk.t, rx, tx) != core.DEAD
    clk.t += 1
    assert sess.keepalive(clk.t, rx, tx) == core.DEAD
    assert "15 s" in str(sess.silence(clk.t, rx))


def case_keepalive_traffic_both_ways_needs_no_ping():
    sess, clk, _ = make(keepalive=10)
    up(sess, clk)
    for _ in range(10):
        clk.t += 3000
        assert sess.keepalive(clk.t, clk.t - 10, clk.t - 10) > 0


def case_backoff_grows_per_failed_attempt_and_is_prompt_after_a_working_link():
    sess, clk, events = make()
    assert sess.connect_in(clk.t) == 0
    waits = []
    for _ in range(5):
        sess.failed(OSError("refused"), clk.t)
        waits.append(sess.connect_in(clk.t))
        assert sess.connect_in(clk.t + waits[-1]) == 0
    for i, w in enumerate(waits):
        hi = min(1000 << i, 8000)
        assert hi // 2 <= w <= hi, (i, w)
    up(sess, clk)
    assert sess.stats["connects"] == 1 and sess.stats["reconnects"] == 0
    clk.t += 10
    sess.lost(OSError("reset"), clk.t, True)
    assert sess.connect_in(clk.t) <= 1000     # the link worked: attempts start over
    up(sess, clk)
    assert sess.stats["reconnects"] == 1 and events.count("up") == 2


def case_refused_credentials_wait_auth_retry_ms():
    sess, clk, events = make()
    sess.failed(AuthError(5, "not authorised"), clk.t)
    assert sess.connect_in(clk.t) == 300000 and events == ["auth"]
    assert isinstance(sess.error, AuthError)
    up(sess, clk)
    assert sess.error is None


def case_login_is_fresh_bytes():
    sess, clk, _ = make()
    cid, user, pw, will = sess.login()
    assert cid == b"dev1" and user is None and pw is None
    assert will[0] == BASE + b"/status"
    assert [f[0] for f in sess.filters()] == [BASE + b"/down/#"]
    assert sess.greeting()[0][:2] == (BASE + b"/status", b"online")


def case_command_dispatched_and_answered():
    sess, clk, _ = make()
    sess.command(lambda req: {"pong": req.params.get("n")})
    command(sess, "c1", params={"n": 4})
    assert sess.stats["received"] == 1 and sess.backlog() == 0   # not run inside the read
    sess.dispatch()
    assert replies(sess) == [{"id": "c1", "name": "ping", "ok": True, "data": {"pong": 4}}]
    check_counts(sess)


def case_coroutine_handler_is_handed_to_the_driver_and_finished():
    sess, clk, _ = make()

    def slow(req):
        yield 100          # what an asyncio driver would await
        return {"late": True}

    sess.command(slow)
    command(sess, "c2")
    topic, msg = sess._in.pop(0)
    p = sess.handle(topic, msg)
    assert p is not None and p[0].rid == "c2"
    assert sess.backlog() == 0                # nothing answered yet
    assert next(p[1]) == 100
    sess.finish(p[0], {"late": True}, None)
    assert replies(sess) == [{"id": "c2", "name": "ping", "ok": True, "data": {"late": True}}]
    command(sess, "c3")
    topic, msg = sess._in.pop(0)
    p = sess.handle(topic, msg)
    sess.finish(p[0], None, ValueError("sensor gone"))
    r = replies(sess)
    assert r[0]["ok"] is False and "sensor gone" in r[0]["error"], r
    assert sess.stats["handler_errors"] == 1


def case_coroutine_handler_without_an_event_loop_gets_an_error_reply():
    sess, clk, _ = make()

    def slow(req):
        yield 1

    sess.command(slow)
    command(sess, "c4")
    sess.dispatch()
    r = replies(sess)
    assert len(r) == 1 and r[0]["ok"] is False and "asyncio" in r[0]["error"], r


def case_bad_results_and_unknown_kinds_answered():
    sess, clk, _ = make()
    sess.command(lambda req: "text")
    command(sess, "c5")
    sess.received(BASE + b"/down/set", b'{"id": "s1", "params": {"led": 1}}')
    sess.received(BASE + b"/down/command/x", b"{not json")
    sess.dispatch()
    r = replies(sess)
    assert r[0]["ok"] is False and "not a dict" in r[0]["error"], r
    assert r[1]["ok"] is False and "no set handler" in r[1]["error"], r
    assert sess.stats["bad_input"] >= 1 and sess.stats["handler_errors"] == 1


def case_full_inbox_refuses_with_a_busy_reply():
    sess, clk, _ = make({"inbox": 2})
    sess.command(lambda req: {})
    for i in range(4):
        command(sess, "b%d" % i)
    assert len(sess._in) == 2 and sess.stats["inbox_dropped"] == 2
    busy = replies(sess)
    assert [b["id"] for b in busy] == ["b2", "b3"] and "busy" in busy[0]["error"], busy
    sess.dispatch()
    assert [b["id"] for b in replies(sess)] == ["b0", "b1"]
    check_counts(sess)


def case_oversized_downlink_counted_not_queued():
    sess, clk, _ = make()
    sess.received(b"", b"", 9000)
    assert sess.stats["bad_input"] == 1 and sess.stats["received"] == 0 and not sess._in


def case_subscriptions_pending_while_up_and_kept_for_reconnects():
    sess, clk, _ = make()
    woken = []
    sess._wake = lambda: woken.append(1)
    sess.subscribe("extra/t", 0)
    assert sess.next_sub() is None and not woken   # offline: only remembered
    up(sess, clk)
    sess.subscribe(b"more/t")
    assert sess.next_sub() == ((b"more/t", 1),) and woken
    sess.unsubscribe("extra/t")
    assert sess.next_sub() == ((b"extra/t", None),)
    assert sess.next_sub() is None
    assert [f[0] for f in sess.filters()][1:] == [b"more/t"]
    sess.subscribe(b"third")
    sess.lost(OSError("x"), clk.t)
    assert b"third" in [f[0] for f in sess.filters()]
    assert sess.next_sub() is None            # the reconnect subscribed it with filters()
    try:
        sess.suback(((b"a", 1), (b"b", 1)), b"\x01\x80")
        raise AssertionError("a refused filter passed")
    except OSError as e:
        assert "b" in str(e)


def case_reports_coalesced_within_report_min_ms():
    sess, clk, _ = make({"report_min_ms": 1000})
    sess.report({"n": 0})
    sess.report({"n": 1, "a": 1})
    sess.report({"n": 2})
    assert numbers(drain(sess)) == [0] and sess.stats["coalesced"] == 1
    wait = sess.coalesced(clk.t)
    assert 0 < wait <= 1000
    clk.t += wait
    assert sess.coalesced(clk.t) == 0
    items = drain(sess)
    assert [json.loads(it[1]) for it in items][1] == {"n": 2, "a": 1}
    assert sess.coalesced(clk.t) == 60000     # nothing pending
    check_counts(sess)


def case_time_sync_goes_through_the_given_clock():
    sess, clk, _ = make()
    from iotlink.request import Request, SYSTEM
    sess.cloud.system = lambda req, now_ms: (("clock", now_ms + 5),)
    sess.cloud.decode = lambda topic, payload: Request(SYSTEM, "time")
    sess.received(b"x", b"y")
    sess.dispatch()
    assert clk.set_to == clk.unix_ms + 5


def main():
    names = sorted(n for n in globals() if n.startswith("case_"))
    for n in names:
        try:
            globals()[n]()
            print("PASS", n)
        except Exception as e:
            print("FAIL %s: %s %s" % (n, type(e).__name__, e))


if __name__ == "__main__":
    main()
