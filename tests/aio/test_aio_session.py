"""iotlink.aio on the MicroPython unix port against a real mosquitto (and
the fault proxy, a hostile broker): command round trip, set/get, TLS, bad
downlinks, outage with every QoS 1 report in order, half-open link, refused
credentials, malformed packets.  The test bodies are the blocking Device's
(tests/device, tests/fault); conftest.py points them at the asyncio agents."""

import json

from iotlink_tools.console import Console

from ..device.agent_host import Agent, BASE, write_config
from ..device.test_session import (  # noqa: F401
    test_command_round_trip_and_report_plain, test_command_round_trip_tls_verified,
    test_tls_refuses_unknown_ca_and_wrong_host, test_bad_downlinks_do_not_stop_the_loop,
    test_outage_reports_delivered_in_order_after_broker_restart,
    test_half_open_link_detected_and_replaced, is_reply)
from ..device.test_auth import (  # noqa: F401
    test_bad_password_raises_auth_error_at_connect, test_auth_failure_during_poll_backs_off)
from ..fault.test_hostile_broker import (  # noqa: F401
    test_hostile_packet_bounded_refused_and_recovered, broker)


def test_slow_coroutine_handler_does_not_hold_other_downlinks(mosquitto, tmp_path):
    """A command whose handler awaits 3 s: a ping sent after it is answered
    first, reports keep flowing, and the slow one's reply comes when it returns."""
    con = Console(mosquitto.port).subscribe(BASE + "/up/#")
    agent = Agent(write_config(tmp_path, mosquitto.port), 6000, report_ms=200)
    agent.wait_line("STATUS up")
    con.publish(BASE + "/down/command/slow", json.dumps({"id": "s", "params": {"ms": 3000}}))
    agent.wait_line("SLOW")
    con.publish(BASE + "/down/command/ping", json.dumps({"id": "p", "params": {"n": 3}}))
    con.wait(is_reply("p"))
    con.wait(is_reply("s"), timeout=10)
    stats = agent.finish()
    order = [json.loads(p)["id"] for p in con.on(BASE + "/up/reply")]
    assert order == ["p", "s"], order
    reports = [json.loads(p)["n"] for p in con.on(BASE + "/up/report")]
    assert reports == list(range(len(reports))) and len(reports) >= 20, reports
    assert stats["replies"] == 2 and stats["dropped"] == 0
    con.close()


def test_set_and_get(mosquitto, tmp_path):
    """set reaches the handler and is answered; get is answered from the
    last reported values (the core's props), through the asyncio driver."""
    con = Console(mosquitto.port).subscribe(BASE + "/up/#")
    agent = Agent(write_config(tmp_path, mosquitto.port), 3000, report_ms=300)
    agent.wait_line("REPORT 1")
    con.publish(BASE + "/down/set", json.dumps({"id": "s1", "params": {"led": 1}}))
    _, p = con.wait(is_reply("s1"))
    assert json.loads(p)["ok"] is True
    con.publish(BASE + "/down/get", json.dumps({"id": "g1", "params": ["n"]}))
    _, p = con.wait(is_reply("g1"))
    got = json.loads(p)
    assert got["ok"] is True and isinstance(got["data"]["n"], int), got
    agent.finish()
    assert any(l.startswith('SET {"led": 1}') for l in agent.lines), agent.lines
    con.close()


def test_window_acknowledged_out_of_order(broker, tmp_path):
    """The broker holds the PUBACKs of reports until 4 are due and sends them newest first:
    the window of 4 takes them in any order, every report arrives once and
    in order, and the link is never given up for a missing PUBACK."""
    from ..fault.test_hostile_broker import HostileAgent, write_config as hostile_config
    broker.hold_acks = 4
    agent = HostileAgent(hostile_config(tmp_path, broker.port))
    broker.wait_session(1)
    agent.wait_line("STATUS up")
    assert broker.wait_published(lambda t, p: t.endswith(b"/up/report") and b'"n":40' in p, 20)
    broker.hold_acks = 0
    broker.release()
    broker.command("exit", 0, name=b"exit")
    stats = agent.finish(timeout=60)
    reports = [json.loads(p)["n"] for t, p in broker.published if t.endswith(b"/up/report")]
    assert reports == list(range(len(reports))), reports
    assert stats["reconnects"] == 0 and stats["link_errors"] == 0, agent.lines
    assert stats["sent"] == stats["queued"] and stats["dropped"] == 0, stats


def test_command_round_trip_with_the_streams_own_wait(mosquitto, tmp_path, monkeypatch):
    """The reader's wait for bytes without asyncio's I/O queue (the stream's
    own readinto, aio._core None): the same round trip and reports."""
    monkeypatch.setenv("AIO_STREAM_WAIT", "1")
    test_command_round_trip_and_report_plain(mosquitto, tmp_path)
