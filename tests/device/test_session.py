"""The session layer on the real MicroPython unix port against a real mosquitto."""

import json
import time

from iotlink_tools.console import Console
from iotlink_tools.faultproxy import FaultProxy

from .agent_host import Agent, BASE, write_config


def replies(console):
    return [json.loads(p) for p in console.on(BASE + "/up/reply")]


def is_reply(rid):
    return lambda t, p: t == BASE + "/up/reply" and json.loads(p).get("id") == rid


def command_round_trip(console, agent):
    agent.wait_line("STATUS up")
    console.publish(BASE + "/down/command/ping", json.dumps({"id": "c1", "params": {"n": 7}}))
    _, p = console.wait(is_reply("c1"))
    assert json.loads(p) == {"id": "c1", "ok": True, "name": "ping", "data": {"pong": 7}}
    console.publish(BASE + "/down/command/fail", json.dumps({"id": "c2"}))
    _, p = console.wait(is_reply("c2"))
    assert json.loads(p) == {"id": "c2", "ok": False, "name": "fail",
                             "error": "ValueError: asked to fail"}


def test_command_round_trip_and_report_plain(mosquitto, tmp_path):
    con = Console(mosquitto.port).subscribe(BASE + "/#")
    agent = Agent(write_config(tmp_path, mosquitto.port), 4000, report_ms=500)
    command_round_trip(con, agent)
    con.wait(lambda t, p: t == BASE + "/up/report" and json.loads(p) == {"n": 2})
    stats = agent.finish()
    assert stats["replies"] == 2 and stats["handler_errors"] == 1
    reports = [json.loads(p) for p in con.on(BASE + "/up/report")]
    assert reports == [{"n": i} for i in range(len(reports))] and len(reports) >= 6
    assert con.on(BASE + "/status")[0] == b"online"
    con.close()


def test_command_round_trip_tls_verified(mosquitto, test_ca, tmp_path):
    con = Console(mosquitto.port).subscribe(BASE + "/#")
    cfg = write_config(tmp_path, mosquitto.tls_port, tls=True, ca=test_ca["ca"], host="localhost")
    agent = Agent(cfg, 3000)
    command_round_trip(con, agent)
    agent.finish()
    assert "New connection from 127.0.0.1:" in mosquitto.log()
    con.close()


def test_tls_refuses_unknown_ca_and_wrong_host(mosquitto, tmp_path, tmp_path_factory):
    from iotlink_tools import certs
    other = certs.make_ca(str(tmp_path_factory.mktemp("other_ca")))
    for host, ca in (("localhost", other["ca"]), ):
        cfg = write_config(tmp_path, mosquitto.tls_port, tls=True, ca=ca, host=host)
        agent = Agent(cfg, 1500)
        agent.finish()
        assert not [l for l in agent.lines if l.startswith("STATUS up")], agent.lines
        assert any("connect failed" in l for l in agent.lines), agent.lines


def test_bad_downlinks_do_not_stop_the_loop(mosquitto, tmp_path):
    con = Console(mosquitto.port).subscribe(BASE + "/up/#")
    agent = Agent(write_config(tmp_path, mosquitto.port), 5000)
    agent.wait_line("STATUS up")
    bad = [("command/x", b"{not json"), ("command/x", b"\xff\xfe\x00"), ("command/x", b"[1,2]"),
           ("command/x", b'{"id": {"a": 1}}'), ("command/x", b'{"id": "b5", "params": 3}'),
           ("set", b'{"id": "b6", "params": []}'), ("get", b'{"id": "b7", "params": "t"}'),
           ("nonsense/topic", b"{}"), ("command/text", b'{"id": "b8"}'), ("command/x", b"")]
    for sub, payload in bad:
        con.publish(BASE + "/down/" + sub, payload)
    con.publish(BASE + "/down/message", b"\x00" * 20000)  # over max_payload: drained
    con.publish(BASE + "/down/command/ping", json.dumps({"id": "ok", "params": {"n": 1}}))
    _, p = con.wait(is_reply("ok"))
    assert json.loads(p)["data"] == {"pong": 1}
    stats = agent.finish()
    errs = [r for r in replies(con) if not r["ok"]]
    # every malformed command/set/get got an error reply; the unknown topic and
    # the oversize message got none and were counted; an empty command body is valid
    assert len(errs) == 8, errs
    assert {"b5", "b6", "b7", "b8"} <= {r["id"] for r in errs}
    assert stats["bad_input"] == 9 and stats["dropped"] == 0
    assert not [l for l in agent.lines if l.startswith("MSG")]


def test_outage_reports_delivered_in_order_after_broker_restart(mosquitto, tmp_path):
    # A persistent subscriber so nothing published while it reconnects is lost
    mosquitto.stop()
    mosquitto.extra = "persistence true\npersistence_location %s/\nautosave_interval 1" % mosquitto.dir
    mosquitto.start()
    con = Console(mosquitto.port, client_id="watcher", clean=False).subscribe(BASE + "/up/report", 1)
    agent = Agent(write_config(tmp_path, mosquitto.port, keepalive=5), 12000, report_ms=200)
    agent.wait_line("REPORT 5")
    for outage in range(2):
        mosquitto.stop()
        time.sleep(2.0)  # reports made now are queued on the board
        mosquitto.start()
        agent.wait_line("STATUS up", timeout=10, count=2 + outage)
        time.sleep(1.5)
    stats = agent.finish()
    queued = [l for l in agent.lines if l.startswith("REPORT") and l.endswith("queued")]
    assert len(queued) >= 10, agent.lines
    last = max(int(l.split()[1]) for l in agent.lines if l.startswith("REPORT"))
    con.wait(lambda t, p: json.loads(p)["n"] == last, timeout=15)
    seen = [json.loads(p)["n"] for p in con.on(BASE + "/up/report")]
    # QoS 1 is at-least-once: a report in flight when the broker died may come twice,
    # but none is missing and the order of first arrivals is the order made
    first = list(dict.fromkeys(seen))
    assert first == list(range(last + 1)), seen
    assert stats["reconnects"] == 2 and stats["dropped"] == 0
    con.close()


def test_half_open_link_detected_and_replaced(mosquitto, tmp_path):
    proxy = FaultProxy(mosquitto.port)
    con = Console(mosquitto.port).subscribe(BASE + "/#")
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=2), 12000, report_ms=0)
    agent.wait_line("STATUS up")
    t0 = time.monotonic()
    proxy.blackhole()   # the link stays open and silent, as after a Wi-Fi loss
    agent.wait_line("STATUS down", timeout=8)
    detected = time.monotonic() - t0
    assert detected <= 2 * 1.5 + 1.0, detected   # stated bound: 1.5 x keepalive (+ poll slack)
    agent.wait_line("STATUS up", timeout=8, count=2)
    assert proxy.accepted == 2
    con.publish(BASE + "/down/command/ping", json.dumps({"id": "after", "params": {"n": 2}}))
    con.wait(is_reply("after"))
    stats = agent.finish()
    assert stats["reconnects"] == 1
    assert any("1.5 x keepalive" in l for l in agent.lines)
    proxy.close()
    con.close()
