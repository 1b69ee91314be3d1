"""Fault-injection tests: the library on the MicroPython unix port, a real
mosquitto, and the fault proxy between them."""

import json
import os
import time


import pytest

from ..device import agent_host  # noqa: E402
from ..device.agent_host import BASE  # noqa: E402,F401
from iotlink_tools.console import Console  # noqa: E402
from iotlink_tools.faultproxy import FaultProxy  # noqa: E402
from iotlink_tools import upy  # noqa: E402

AGENT = os.path.join(os.path.dirname(__file__), "agent_fault.py")

REPORT = BASE + "/up/report"
REPLY = BASE + "/up/reply"
DOWN = BASE + "/down/"


def write_config(tmp_path, port, keepalive=2, timeout_ms=1500, backoff_min_ms=100,
                 backoff_max_ms=500, outbox=64, **cloud):
    c = {"type": "mqtt", "host": "127.0.0.1", "port": port, "client_id": "dev1",
         "keepalive": keepalive, "timeout_ms": timeout_ms}
    c.update(cloud)
    cfg = {"cloud": c, "session": {"backoff_min_ms": backoff_min_ms,
                                   "backoff_max_ms": backoff_max_ms, "outbox": outbox}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


class Agent(agent_host.Agent):
    """agent_fault.py on the unix port; ``finish()`` sends "exit" first."""

    def __init__(self, cfg_path, run_ms=30000, report_ms=0):
        upy.Follow.__init__(self, AGENT, args=(cfg_path, str(run_ms), str(report_ms)))
        self.console = None

    def finish(self, timeout=30, console=None):
        if console is not None and self.p.poll() is None:
            console.publish(DOWN + "command/exit", json.dumps({"id": "exit"}))
        return super().finish(timeout)


@pytest.fixture
def proxy(mosquitto):
    p = FaultProxy(mosquitto.port)
    yield p
    p.close()


@pytest.fixture
def watcher(mosquitto):
    con = Console(mosquitto.port).subscribe(BASE + "/up/#")
    yield con
    con.close()


def reports_seen(con):
    return [json.loads(p)["n"] for p in con.on(REPORT)]


def reports_made(agent):
    return [int(l.split()[1]) for l in agent.lines if l.startswith("REPORT ")]


def assert_no_report_lost(con, agent, timeout=10):
    """Every report the agent made arrived; first arrivals in the order made
    (QoS 1 is at least once: duplicates are allowed)."""
    made = reports_made(agent)
    assert made, agent.lines
    last = made[-1]
    end = time.monotonic() + timeout
    while last not in reports_seen(con) and time.monotonic() < end:
        time.sleep(0.05)
    seen = reports_seen(con)
    first = list(dict.fromkeys(seen))
    assert first == made, "made %s\nseen %s" % (made, seen)
    return seen


def command(con, rid, n, name="ping"):
    con.publish(DOWN + "command/" + name, json.dumps({"id": rid, "params": {"n": n}}))


def replies_to(con, rid):
    return [r for r in (json.loads(p) for p in con.on(REPLY)) if r.get("id") == rid]


def wait_reply(con, rid, timeout=10):
    con.wait(lambda t, p: t == REPLY and json.loads(p).get("id") == rid, timeout=timeout)
    return replies_to(con, rid)


def handler_runs(agent, n):
    """How many times the command handler ran for params {"n": n}."""
    return sum(1 for l in agent.lines if l.startswith("CMD ") and json.loads(l.split(" ", 2)[2]) == {"n": n})


def status_times(agent):
    return [l for l in agent.lines if l.startswith("STATUS")]
