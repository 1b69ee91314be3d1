"""A hostile broker (tests/fault/hostile.py) sends one malformed or endless
packet into an established session, or answers CONNECT with garbage.  The
device on the MicroPython unix port must: never block a poll() or report()
call past its bound, refuse what is malformed as a protocol error (never an
AssertionError or IndexError from umqtt), not run a handler for a packet it
refused, reconnect, and answer the next command."""

import json

import pytest

from iotlink_tools import upy

from .conftest import Agent, AGENT
from .hostile import HostileBroker

TIMEOUT_MS = 1000       # cloud.timeout_ms: the deadline of one packet
POLL_MS = 100
BOUND_MS = 3 * TIMEOUT_MS   # generous: poll_ms + one deadline is the promise
REFUSED_AT_ONCE = ("varint5", "topic_beyond", "qos2", "qos3", "pingresp_body",
                   "garbage_connack", "short_connack")


def write_config(tmp_path, port):
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": port, "client_id": "dev1",
                     "keepalive": 30, "timeout_ms": TIMEOUT_MS},
           "session": {"backoff_min_ms": 100, "backoff_max_ms": 500, "outbox": 64}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


class HostileAgent(Agent):
    def __init__(self, cfg_path, run_ms=90000, report_ms=50):
        upy.Follow.__init__(self, AGENT, args=(cfg_path, str(run_ms), str(report_ms), str(POLL_MS)))
        self.console = None

    def log(self):
        return [l for l in self.lines if l.startswith("iotlink ")]


@pytest.fixture
def broker():
    b = HostileBroker()
    yield b
    b.close()


@pytest.mark.parametrize("attack", ["drip", "endless_varint", "varint5", "topic_beyond", "qos2",
                                    "qos3", "pingresp_body", "garbage_connack", "short_connack",
                                    "length_200mb"])
def test_hostile_packet_bounded_refused_and_recovered(broker, tmp_path, attack):
    agent = HostileAgent(write_config(tmp_path, broker.port))
    broker.wait_session(1)
    agent.wait_line("STATUS up")
    broker.arm(attack)
    assert broker.attacked.wait(10), "the attack never went out"
    agent.wait_line("STATUS down", timeout=60)  # before any bound: figures first
    broker.wait_session(2, timeout=15)
    broker.command("after", 42)
    got = broker.wait_published(lambda t, p: t.endswith(b"/up/reply") and b'"after"' in p)
    assert got and json.loads(got[0][1])["data"] == {"pong": 42}, agent.lines
    broker.command("exit", 0, name=b"exit")
    try:
        stats = agent.finish(timeout=60)
    finally:
        print("\n".join(agent.lines[-40:]))
    worst = json.loads(agent.wait_line("WORST")[6:])
    print("%s: worst poll() %d ms, report() %d ms (deadline %d ms)"
          % (attack, worst["poll"], worst["report"], TIMEOUT_MS))
    assert worst["poll"] <= BOUND_MS and worst["report"] <= BOUND_MS, (worst, agent.lines)
    log = agent.log()
    assert not [l for l in log if "AssertionError" in l or "IndexError" in l], log
    # the handler never ran for a packet that was refused or never completed
    assert not [l for l in agent.lines if l.startswith("CMD ping") and '"n": 42' not in l], \
        agent.lines
    assert stats["reconnects"] >= 1 and stats["queued"] - stats["sent"] - stats["dropped"] >= 0
    if attack in REFUSED_AT_ONCE:
        # the first failure after the attack names it (a CONNACK attack
        # follows the broker closing the session that was up)
        lost = [l for l in log if "link lost" in l or "connect failed" in l]
        if "connack" in attack:
            lost = [l for l in lost if "connect failed" in l]
        assert lost and "ProtocolError" in lost[0], log
        assert "ProtocolError" in agent.wait_line("ERROR"), agent.lines
