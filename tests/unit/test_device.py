"""Device on the shim: real umqtt.simple 1.3.4 over a fake socket, a scripted
broker on the other end, and a stopped clock that only tests and waits move."""

import json

import pytest

import shim
from shim.net import SocketModule, FakeSocket, select as fake_select
from shim.ticks import ticks_ms, ticks_diff

from iotlink import umqtt_link, AuthError
from iotlink.device import Device

from . import mqttwire as w

PASSWORD = "pw-Secret-9931"
BASE = b"iotlink/dev1"


class Rig:
    def __init__(self, monkeypatch, clock):
        self.clock = clock
        self.broker = w.Broker()
        self.net = SocketModule(factory=self.broker.accept, hosts={"broker.test": "10.1.2.3"})
        monkeypatch.setattr(umqtt_link, "socket", self.net)
        monkeypatch.setattr(umqtt_link, "select", fake_select)
        self.events = []

    def device(self, cloud=None, session=None):
        c = {"type": "mqtt", "host": "broker.test", "client_id": "dev1", "username": "user1",
             "password": PASSWORD, "keepalive": 10}
        c.update(cloud or {})
        s = {"qos": 1}
        s.update(session or {})
        dev = Device({"cloud": c, "session": s})
        dev.on("status", lambda ev, detail: self.events.append((ev, ticks_ms())))
        return dev

    @property
    def session(self):
        return self.broker.session

    def downlink(self, topic, body, qos=1, pid=1):
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        self.session.send(w.publish(BASE + topic, body, qos=qos, pid=pid))

    def replies(self, session=None):
        s = session or self.session
        return [json.loads(p["payload"]) for p in s.published() if p["topic"] == BASE + b"/up/reply"]

    def reports(self, session=None):
        s = session or self.session
        return [json.loads(p["payload"]) for p in s.published() if p["topic"] == BASE + b"/up/report"]


@pytest.fixture
def rig(monkeypatch, fake_clock):
    return Rig(monkeypatch, fake_clock)


# ----- connect -----------------------------------------------------------------

def test_connect_packet_and_order(rig):
    dev = rig.device()
    assert dev.connect() is True and dev.connected
    s = rig.session
    assert rig.net.lookups == [("broker.test", 1883)]
    assert s.sock.connected_to == ("10.1.2.3", 1883)
    # cloud.timeout_ms default: each packet's deadline; the socket itself
    # polls (a blocking read could be held open byte by byte)
    assert dev._link.timeout_ms == 10000 and s.sock.timeout == 0
    assert [k for k, _, _ in s.packets] == [w.CONNECT, w.SUBSCRIBE, w.PUBLISH]
    c = s.connect
    assert (c["protocol"], c["level"], c["clean"], c["keepalive"]) == (b"MQTT", 4, True, 10)
    assert (c["client_id"], c["username"], c["password"]) == (b"dev1", b"user1", PASSWORD.encode())
    assert c["will"] == {"topic": BASE + b"/status", "message": b"offline", "qos": 1, "retain": True}
    assert c["rest"] == b""
    online = s.published()[0]
    assert (online["topic"], online["payload"], online["qos"], online["retain"]) == \
        (BASE + b"/status", b"online", 1, True)
    assert ("up", ticks_ms()) in rig.events


def test_connect_without_credentials(rig):
    dev = rig.device(cloud={"username": None, "password": None, "keepalive": 300})
    assert dev.connect()
    c = rig.session.connect
    assert c["flags"] & 0xC0 == 0 and c["username"] is None and c["password"] is None
    assert c["keepalive"] == 300


def test_connect_with_empty_password(rig):
    dev = rig.device(cloud={"password": ""})
    assert dev.connect()
    assert rig.session.connect["password"] == b""


def test_one_subscribe_with_long_topic(rig):
    base = "site/" + "x" * 150
    dev = rig.device(cloud={"base": base})
    assert dev.connect()
    raw = bytes(rig.session.sock.tx)
    pkts, used = w.split(raw)
    assert used == len(raw)                     # the whole stream parses: lengths are right
    subs = [body for first, body in pkts if first == 0x82]
    assert len(subs) == 1
    pid, filters = w.parse_subscribe(subs[0])
    assert filters == [((base + "/down/#").encode(), 1)]
    assert 1 <= pid <= 65535
    # the remaining length needs two bytes here
    i = raw.index(b"\x82")
    assert len(subs[0]) > 127 and raw[i + 1] & 0x80 and w.read_vbi(raw, i + 1) == (len(subs[0]), i + 3)


def test_all_filters_in_one_subscribe(rig, monkeypatch):
    dev = rig.device()
    filters = ((b"a/b", 0), (b"long/" + b"y" * 300, 1), (b"c/+/d", 1))
    monkeypatch.setattr(dev.cloud, "subscriptions", lambda: filters)
    assert dev.connect()
    subs = rig.session.of(w.SUBSCRIBE)
    assert len(subs) == 1
    assert w.parse_subscribe(subs[0][1])[1] == list(filters)
    assert w.split(bytes(rig.session.sock.tx))[1] == len(rig.session.sock.tx)


def test_refused_subscription_fails_the_connect(rig):
    rig.broker.suback_codes = [0x80]
    dev = rig.device()
    assert dev.connect() is False
    assert not dev.connected and rig.session.sock.closed


def test_silent_broker_times_out_instead_of_hanging(rig):
    rig.broker.accept = lambda: FakeSocket()      # accepts TCP, never sends CONNACK
    rig.net.factory = rig.broker.accept
    dev = rig.device(cloud={"timeout_ms": 3000})
    t0 = ticks_ms()
    assert dev.connect() is False
    assert 3000 <= ticks_diff(ticks_ms(), t0) <= 3100
    assert rig.net.sockets[0].closed


# ----- downlinks and replies ---------------------------------------------------

def test_command_is_answered_on_the_reply_topic(rig):
    dev = rig.device()
    seen = []

    @dev.command
    def cmd(req):
        seen.append((req.name, req.params, req.rid))
        return {"done": req.name}

    dev.connect()
    rig.downlink(b"/down/command/reboot", {"id": "42", "params": {"delay": 5}}, pid=7)
    dev.poll(100)
    assert seen == [("reboot", {"delay": 5}, "42")]
    assert rig.replies() == [{"id": "42", "name": "reboot", "ok": True, "data": {"done": "reboot"}}]
    reply = [p for p in rig.session.published() if p["topic"] == BASE + b"/up/reply"][0]
    assert reply["qos"] == 1
    # the broker's QoS 1 PUBLISH was acknowledged with its own packet id
    assert w.puback(7)[2:] in [b[0:2] for _, b in rig.session.of(w.PUBACK)]
    assert dev.stats["received"] == 1 and dev.stats["replies"] == 1


def test_raising_handler_gets_an_error_reply_and_the_loop_goes_on(rig):
    dev = rig.device()
    calls = []

    @dev.command
    def cmd(req):
        calls.append(req.rid)
        if req.rid == "1":
            raise ValueError("boom")
        return {"n": req.rid}

    dev.connect()
    rig.downlink(b"/down/command/x", {"id": "1"}, pid=1)
    rig.downlink(b"/down/command/x", {"id": "2"}, pid=2)
    dev.poll(200)
    assert calls == ["1", "2"]
    r1, r2 = rig.replies()
    assert r1["id"] == "1" and r1["ok"] is False and "boom" in r1["error"]
    assert r2 == {"id": "2", "name": "x", "ok": True, "data": {"n": "2"}}
    assert dev.stats["handler_errors"] == 1 and dev.connected


def test_bad_request_gets_an_error_reply_without_the_handler(rig):
    dev = rig.device()
    dev.command(lambda req: pytest.fail("handler called for a bad request"))
    dev.connect()
    rig.downlink(b"/down/command/x", b'{"id": "9", "params": [1]}')
    dev.poll(100)
    assert rig.replies() == [{"id": "9", "name": "x", "ok": False, "error": "params must be a JSON object"}]
    assert dev.stats["bad_input"] == 1


def test_set_replies_and_reports_back_and_get_answers_from_state(rig):
    dev = rig.device()
    dev.on("set", lambda req: None)
    dev.connect()
    dev.report({"temp": 20, "led": False})
    rig.downlink(b"/down/set", {"id": "s", "params": {"led": True}}, pid=3)
    dev.poll(100)
    rig.downlink(b"/down/get", {"id": "g", "params": ["led", "temp", "nope"]}, pid=4)
    dev.poll(100)
    assert rig.replies() == [{"id": "s", "ok": True, "data": {}},
                             {"id": "g", "ok": True, "data": {"led": True, "temp": 20}}]
    assert rig.reports() == [{"temp": 20, "led": False}, {"led": True}]


def test_command_without_handler_is_refused(rig):
    dev = rig.device()
    dev.connect()
    rig.downlink(b"/down/command/x", {"id": 5})
    dev.poll(100)
    (r,) = rig.replies()
    assert r["id"] == 5 and r["ok"] is False and "no command handler" in r["error"]


@pytest.mark.parametrize("big", ["payload", "topic"])
def test_oversize_downlink_is_drained_not_delivered(rig, big):
    dev = rig.device(session={"max_payload": 64})
    got = []
    dev.command(lambda req: got.append(req.rid) or {})
    dev.connect()
    if big == "payload":
        rig.downlink(b"/down/command/x", {"id": "big", "params": {"pad": "z" * 300}}, pid=11)
    else:
        rig.session.send(w.publish(BASE + b"/down/command/" + b"n" * 200, b'{"id": "big"}', qos=1, pid=11))
    rig.downlink(b"/down/command/x", {"id": "small"}, pid=12)
    dev.poll(200)
    assert got == ["small"]
    assert [r["id"] for r in rig.replies()] == ["small"]
    assert dev.stats["bad_input"] == 1 and dev.connected
    acked = [b for _, b in rig.session.of(w.PUBACK)]
    assert b"\x00\x0b" in acked and b"\x00\x0c" in acked
    assert not rig.session.sock.rx                  # everything was consumed


def test_packet_ids_wrap_from_65535_to_1(rig):
    dev = rig.device()
    dev.connect()
    before = len(rig.session.published())
    dev._pid = 65533
    for n in range(5):
        dev.report({"n": n})
    pids = [p["pid"] for p in rig.session.published()[before:]]
    want, p = [], 65533
    for _ in range(5):
        p = 1 if p == 65535 else p + 1
        want.append(p)
    assert pids == want == [65534, 65535, 1, 2, 3]
    assert all(1 <= p["pid"] <= 65535 for p in rig.session.published())
    assert rig.reports() == [{"n": n} for n in range(5)]


# ----- offline queue -----------------------------------------------------------

def test_reports_made_offline_are_sent_in_order_after_connect(rig):
    dev = rig.device()
    for n in range(5):
        dev.report({"n": n})
    assert dev.stats["queued"] == 5 and dev.stats["sent"] == 0
    dev.connect()
    pub = rig.session.published()
    assert pub[0]["topic"] == BASE + b"/status"        # online first
    assert rig.reports() == [{"n": n} for n in range(5)]
    assert dev.stats["sent"] == 5 and len(dev._out) == 0


def test_reports_during_an_outage_are_flushed_after_reconnect(rig):
    dev = rig.device(session={"backoff_min_ms": 100, "backoff_max_ms": 200})
    dev.connect()
    dev.report({"n": 0})
    rig.session.sock.hangup()                          # broker goes away
    dev.poll(20)
    assert not dev.connected and rig.events[-1][0] == "down"
    rig.broker.refuse = 3                              # and stays away for a while
    for n in range(1, 6):
        dev.report({"n": n})
        dev.poll(50)
    dev.poll(5000)
    assert dev.connected and len(rig.broker.sessions) == 2
    first, second = rig.broker.sessions
    assert rig.reports(first) == [{"n": 0}]
    assert rig.reports(second) == [{"n": n} for n in range(1, 6)]
    assert second.published()[0]["payload"] == b"online"
    assert dev.stats["reconnects"] == 1 and dev.stats["link_errors"] >= 1


def test_backlog_sent_whole_by_the_poll_that_reconnects(rig):
    # the clock stands still: a poll(0) that reconnects has one timeout_ms
    # for the backlog, as connect() has, instead of one message per poll
    dev = rig.device(session={"backoff_min_ms": 100, "backoff_max_ms": 100})
    dev.connect()
    rig.session.sock.hangup()
    dev.poll(20)
    assert not dev.connected
    for n in range(8):
        dev.report({"n": n})
    rig.clock.advance(200)                             # the retry is due
    dev.poll(0)
    assert dev.connected and len(rig.broker.sessions) == 2
    assert rig.reports(rig.broker.sessions[1]) == [{"n": n} for n in range(8)]
    assert dev.backlog() == 0 and dev.stats["sent"] == 8


def test_outbox_overflow_is_counted_and_keeps_the_newest(rig, logs):
    dev = rig.device(session={"outbox": 3})
    for n in range(7):
        dev.report({"n": n})
    assert dev.stats["dropped"] == 4
    assert any("outbox full" in line for line in logs)
    dev.connect()
    assert rig.reports() == [{"n": 4}, {"n": 5}, {"n": 6}]


def test_unacknowledged_publish_times_out_and_is_sent_again(rig):
    dev = rig.device(cloud={"timeout_ms": 2000}, session={"backoff_min_ms": 100, "backoff_max_ms": 100})
    dev.connect()
    rig.broker.ack_publish = False
    t0 = ticks_ms()
    dev.report({"n": 1})                               # waits for a PUBACK that never comes
    assert not dev.connected
    assert 2000 <= ticks_diff(ticks_ms(), t0) <= 2100
    rig.broker.ack_publish = True
    dev.poll(1000)
    assert dev.connected
    assert rig.reports(rig.broker.sessions[0]) == [{"n": 1}]
    assert rig.reports(rig.broker.sessions[1]) == [{"n": 1}]  # at least once
    assert len(dev._out) == 0


# ----- keepalive -----------------------------------------------------------------

def pings(session):
    return len(session.of(w.PINGREQ))


def test_pingreq_when_idle(rig):
    dev = rig.device()                                 # keepalive 10 s
    dev.connect()
    dev.poll(4900)
    assert pings(rig.session) == 0
    dev.poll(200)
    assert pings(rig.session) == 1
    assert bytes(rig.session.sock.tx).endswith(b"\xc0\x00")
    dev.poll(60000)                                    # PINGRESPs keep it alive
    assert dev.connected and 12 <= pings(rig.session) <= 14
    assert dev.stats["link_errors"] == 0


def test_link_declared_dead_after_one_and_a_half_keepalives_of_silence(rig):
    rig.broker.answer_ping = False
    dev = rig.device()
    dev.connect()
    t0 = ticks_ms()                                    # last byte received (the PUBACK)
    dev.poll(14990)
    assert dev.connected and pings(rig.session) >= 1
    dev.poll(100)
    assert not dev.connected
    down = [t for ev, t in rig.events if ev == "down"]
    assert len(down) == 1
    assert 15000 <= ticks_diff(down[0], t0) <= 15020
    assert rig.session.sock.closed and dev.stats["link_errors"] == 1


def test_traffic_without_pingresp_still_counts_as_alive(rig):
    rig.broker.answer_ping = False
    dev = rig.device()
    dev.command(lambda req: {})
    dev.connect()
    for i in range(10):                                # a command every 4 s for 40 s
        dev.poll(4000)
        rig.downlink(b"/down/command/tick", {"id": i}, pid=i + 1)
    dev.poll(100)
    assert dev.connected and len(rig.replies()) == 10


# ----- retries -------------------------------------------------------------------

def test_backoff_grows_and_is_capped(rig):
    rig.broker.refuse = 100
    dev = rig.device(session={"backoff_min_ms": 100, "backoff_max_ms": 1000})
    assert dev.connect() is False
    for i in range(9):
        assert rig.broker.attempts == i + 1
        delay = ticks_diff(dev._next_try, ticks_ms())
        cap = min(100 * 2 ** i, 1000)
        assert cap // 2 <= delay <= cap, (i, delay)
        dev.poll(delay - 1)                           # nothing before it is due
        assert rig.broker.attempts == i + 1
        rig.clock.advance(1)
        dev.poll(0)
    assert not dev.connected


def test_backoff_restarts_after_a_stable_connection(rig):
    dev = rig.device(session={"backoff_min_ms": 100, "backoff_max_ms": 5000, "stable_ms": 1000})
    rig.broker.refuse = 5
    dev.connect()
    dev.poll(20000)
    assert dev.connected and dev._attempts == 5           # one per refusal
    dev.poll(2000)                                     # stable now
    rig.session.sock.hangup()
    dev.poll(1)
    assert not dev.connected
    assert ticks_diff(dev._next_try, ticks_ms()) <= 100


@pytest.mark.parametrize("code,words", [(4, "bad username or password"), (5, "not authorised")])
def test_refused_credentials(rig, code, words):
    rig.broker.connack = [code]
    dev = rig.device(session={"auth_retry_ms": 300000})
    with pytest.raises(AuthError) as e:
        dev.connect()
    assert e.value.code == code and words in str(e.value)
    assert PASSWORD not in str(e.value)
    assert not dev.connected and rig.session.sock.closed
    dev.poll(250000)                                  # about four minutes of polling
    assert rig.broker.attempts <= 2                   # no tight retry
    assert isinstance(dev.error, AuthError) and dev.error.code == code
    assert "auth" in [ev for ev, _ in rig.events]
    n = rig.broker.attempts
    dev.poll(310000)
    assert rig.broker.attempts == n + 1               # one more try after auth_retry_ms


def test_credentials_accepted_again_clear_the_error(rig):
    rig.broker.connack = [5, 5, 0]
    dev = rig.device(session={"auth_retry_ms": 1000})
    with pytest.raises(AuthError):
        dev.connect()
    dev.poll(5000)
    assert dev.connected and dev.error is None


def test_disconnect_sends_disconnect(rig):
    dev = rig.device()
    dev.connect()
    dev.disconnect()
    assert not dev.connected
    assert bytes(rig.session.sock.tx).endswith(b"\xe0\x00") and rig.session.sock.closed


# ----- refused credentials and unsendable messages ---------------------------------

def test_auth_refused_by_connect_is_not_retried_at_once(rig):
    rig.broker.connack = [5]
    dev = rig.device(session={"auth_retry_ms": 300000})
    with pytest.raises(AuthError):
        dev.connect()
    dev.poll(1000)
    assert rig.broker.attempts == 1


@pytest.mark.parametrize("payload,qos", [({"a": 1}, 0), (12, 1), (b"x", 2)])
def test_unsendable_publish_does_not_poison_the_session(rig, payload, qos):
    dev = rig.device(session={"backoff_min_ms": 100, "backoff_max_ms": 1000})
    dev.connect()
    try:
        dev.publish("app/raw", payload, qos=qos)
    except (TypeError, ValueError):
        pass                                           # refusing it up front is fine
    dev.report({"n": 1})
    dev.poll(30000)
    assert dev.stats["link_errors"] == 0 and dev.stats["connects"] == 1
    assert {"n": 1} in rig.reports()


# ----- stray packets keep the stream in step ---------------------------------------

def test_stray_acks_are_read_whole_and_the_stream_stays_in_step(rig):
    dev = rig.device()
    got = []
    dev.command(lambda req: got.append(req.params) or {"ok": 1})
    assert dev.connect()
    # a late PUBACK, an UNSUBACK nobody asked for and a SUBACK for another packet id
    rig.session.send(w.puback(4242) + w.frame(0xB0, b"\x01\x02") + w.suback(999, [1]))
    rig.downlink(b"/down/command/ping", {"id": "s1", "params": {"n": 1}})
    dev.poll(500)
    assert got == [{"n": 1}]
    assert [r["id"] for r in rig.replies()] == ["s1"]
    assert dev.stats["link_errors"] == 0 and dev.connected


def test_puback_for_another_packet_id_does_not_end_the_wait(rig):
    dev = rig.device()
    assert dev.connect()
    rig.broker.ack_publish = False
    rig.session.send(w.puback(7))           # not ours: the next publish must keep waiting
    dev.report({"a": 1})
    assert dev.stats["link_errors"] == 1     # no PUBACK of its own within timeout_ms
    assert len(dev._out) == 1                # the report is kept for the next connection


def test_receive_only_cloud_refuses_reports_before_touching_state(rig, monkeypatch):
    dev = rig.device(session={"report_min_ms": 5000})
    monkeypatch.setattr(dev.cloud, "RECEIVE_ONLY", True, raising=False)
    for call in (lambda: dev.report({"a": 1}), lambda: dev.report({"a": 2}),
                 lambda: dev.event("e", {})):
        with pytest.raises(NotImplementedError):
            call()
    assert dev.state == {} and not dev._pending and len(dev._out) == 0


IOTDA = {"type": "iotda", "device_id": "gw1", "secret": "gw-Secret-5521", "keepalive": 60,
         "tls": False, "port": 1883}
SYS = b"$oc/devices/gw1/sys/"


def _published(rig, topic):
    return [json.loads(p["payload"]) for p in rig.session.published() if p["topic"] == topic]


def test_child_values_are_kept_apart_from_the_gateways(rig):
    # the real IoTDA codec: a child's report goes out as a gateway sub-device report
    dev = rig.device(IOTDA)
    assert dev.connect()
    dev.report({"t": 1})
    dev.child("kid").report({"t": 2})
    dev.child("kid").event("opened", {"door": 1})
    assert dev.state == {"": {"t": 1}} and dev.children == {"kid": {"": {"t": 2}}}
    assert _published(rig, SYS + b"properties/report") == [
        {"services": [{"service_id": "default", "properties": {"t": 1}}]}]
    assert _published(rig, SYS + b"gateway/sub_devices/properties/report") == [
        {"devices": [{"device_id": "kid", "services": [{"service_id": "default", "properties": {"t": 2}}]}]}]
    assert _published(rig, SYS + b"messages/up") == [
        {"content": {"door": 1}, "name": "opened", "object_device_id": "kid"}]
    from iotlink.request import Request, GET, SET
    from iotlink.props import values, answer_set
    assert values(dev, Request(GET, params=["t"], target="kid")) == {"t": 2}
    assert values(dev, Request(GET, params=["t"])) == {"t": 1}
    assert values(dev, Request(GET, params=None, target="other")) == {}
    answer_set(dev, Request(SET, params={"t": 5}, target="kid", rid="1"))
    assert dev.children["kid"][""]["t"] == 5 and dev.state[""]["t"] == 1


def test_child_of_a_cloud_without_sub_devices_is_refused_by_name(rig):
    dev = rig.device()
    assert dev.connect()
    for call in (lambda: dev.child("kid").report({"t": 2}), lambda: dev.child("kid").event("e", {})):
        with pytest.raises(NotImplementedError, match="^mqtt: no sub-devices$"):
            call()
    assert dev.children == {} and len(dev._out) == 0


def test_a_refused_report_leaves_the_state_untouched(rig):
    dev = rig.device(IOTDA)
    assert dev.connect()
    dev.report({"t": 1})
    with pytest.raises(ValueError, match="over the IoTDA limit"):
        dev.report({"t": 2, "blob": "x" * 70000})
    assert dev.state == {"": {"t": 1}}
    # a property get answers with what was sent, not with what was refused
    rig.session.send(w.publish(SYS + b"properties/get/request_id=g1", b'{"service_id":"default"}',
                               qos=1, pid=5))
    dev.poll(100)
    (answer,) = _published(rig, SYS + b"properties/get/response/request_id=g1")
    assert answer == {"services": [{"service_id": "default", "properties": {"t": 1}}]}


def test_a_set_handler_returning_the_wrong_type_is_a_handler_error(rig):
    dev = rig.device()
    dev.on("set", lambda req: "done")
    dev.connect()
    rig.downlink(b"/down/set", {"id": "s", "params": {"led": True}}, pid=3)
    dev.poll(100)
    assert rig.replies() == [{"id": "s", "ok": False, "error": "set handler returned str"}]
    assert dev.stats["handler_errors"] == 1 and dev.state == {} and dev.connected


def test_a_full_inbox_answers_busy_instead_of_dropping_silently(rig):
    dev = rig.device(session={"inbox": 2})
    ran = []
    dev.command(lambda req: ran.append(req.rid) or {"ok": 1})
    assert dev.connect()
    for i in range(5):   # all arrive before the loop runs a handler
        rig.downlink(b"/down/command/ping", {"id": "f%d" % i}, pid=10 + i)
    for _ in range(5):
        dev._link.packet(dev._on_msg)
    dev.poll(500)
    assert ran == ["f0", "f1"]
    replies = {r["id"]: r for r in rig.replies()}
    assert set(replies) == {"f0", "f1", "f2", "f3", "f4"}          # every sender is answered
    assert all(not replies[i]["ok"] and "busy" in replies[i]["error"] for i in ("f2", "f3", "f4"))
    assert dev.stats["inbox_dropped"] == 3 and dev.stats["dropped"] == 0


# ----- hostile packets, backoff, accounting, secrets ---------------------------

HOSTILE = {
    "5-byte remaining length": b"\x30\x80\x80\x80\x80\x01",
    "topic length beyond the packet": b"\x30\x06\x01\x2c" + b"abcd",
    "QoS 3": w.publish(BASE + b"/down/command/ping", b'{"id":"h"}', qos=1, pid=3)[:1].replace(
        b"\x32", b"\x36") + w.publish(BASE + b"/down/command/ping", b'{"id":"h"}', qos=1, pid=3)[1:],
    "QoS 2": w.publish(BASE + b"/down/command/ping", b'{"id":"h"}', qos=2, pid=3),
    "PINGRESP with a body": b"\xd0\x01\x00",
    "PUBACK of 3 bytes": b"\x40\x03\x00\x01\x00",
    "CONNACK after connect": b"\x20\x02\x00\x00",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_packet_is_a_protocol_error_at_once(rig, logs, name):
    dev = rig.device(cloud={"timeout_ms": 5000}, session={"backoff_min_ms": 100})
    ran = []
    dev.command(lambda req: ran.append(req.rid) or {})
    assert dev.connect()
    rig.session.send(HOSTILE[name])
    t0 = ticks_ms()
    dev.poll(0)
    assert ticks_diff(ticks_ms(), t0) < 50            # not a timeout: seen and refused
    assert not dev.connected and ran == [] and not rig.replies()
    lost = [l for l in logs if "link lost" in l]
    assert len(lost) == 1 and "ProtocolError" in lost[0], logs
    assert type(dev.error).__name__ == "ProtocolError"
    dev.poll(1000)
    assert dev.connected and len(rig.broker.sessions) == 2


@pytest.mark.parametrize("cut", [1, 2, 5])
def test_a_packet_not_complete_within_the_deadline_ends_the_link(rig, cut):
    dev = rig.device(cloud={"timeout_ms": 3000})
    dev.command(lambda req: {})
    assert dev.connect()
    pkt = w.publish(BASE + b"/down/command/ping", b'{"id":"t"}', qos=1, pid=4)
    rig.session.send(pkt[:cut])                        # the rest never comes
    t0 = ticks_ms()
    dev.poll(100)
    took = ticks_diff(ticks_ms(), t0)
    assert not dev.connected and 3000 <= took <= 100 + 3000 + 20, took


def retry_delays(logs):
    import re
    return [int(m.group(1)) for m in (re.search(r"retry in (\d+) ms", l) for l in logs) if m]


def test_a_link_that_worked_is_retried_promptly_failed_attempts_escalate(rig, logs):
    dev = rig.device(session={"backoff_min_ms": 1000, "backoff_max_ms": 30000, "stable_ms": 60000})
    rig.broker.refuse = 4                              # four failed attempts: 1, 2, 4, 8 s
    dev.connect()
    dev.poll(40000)
    assert dev.connected
    assert [min(1000 << k, 30000) // 2 <= d <= min(1000 << k, 30000)
            for k, d in enumerate(retry_delays(logs))] == [True] * 4
    dev.report({"n": 1})                               # PUBACK: the broker is serving us
    rig.session.sock.hangup()
    dev.poll(0)
    d = retry_delays(logs)[-1]
    assert 500 <= d <= 1000, d                         # prompt, jittered
    dev.poll(2000)
    assert dev.connected
    # up, but the broker drops it before answering anything: escalates
    rig.session.sock.hangup()
    dev.poll(0)
    assert 1000 <= retry_delays(logs)[-1] <= 2000, retry_delays(logs)


def test_counters_add_up_under_a_flood(rig):
    dev = rig.device(session={"inbox": 2, "outbox": 5, "backoff_min_ms": 100,
                              "backoff_max_ms": 100})
    dev.command(lambda req: {"ok": 1})
    assert dev.connect()
    st = dev.stats

    def held():
        assert st["queued"] - st["sent"] - st["dropped"] == len(dev._out), st

    for i in range(40):                                # far more than the inbox takes
        rig.downlink(b"/down/command/ping", {"id": "f%d" % i}, pid=10 + i)
    rig.broker.ack_publish = False                     # and the busy replies cannot go out
    for _ in range(40):
        dev._link.packet(dev._on_msg)
        held()
    assert st["inbox_dropped"] == 38 and st["dropped"] > 0
    for n in range(10):
        dev.report({"n": n})
        held()
    rig.broker.ack_publish = True
    for _ in range(20):
        dev.poll(300)
        held()
    assert dev.connected and len(dev._out) == 0
    assert st["queued"] == st["sent"] + st["dropped"], st


def test_handler_error_text_is_masked_in_the_reply_as_in_the_log(rig, logs):
    dev = rig.device()

    @dev.command
    def boom(req):
        raise ValueError("cannot log in with " + PASSWORD)

    assert dev.connect()
    rig.downlink(b"/down/command/x", {"id": "m1"})
    dev.poll(200)
    reply = rig.replies()[-1]
    assert reply["id"] == "m1" and not reply["ok"]
    assert PASSWORD not in reply["error"] and "***" in reply["error"], reply
    assert not [l for l in logs if PASSWORD in l] and any("***" in l for l in logs)
