"""Faults while connecting and long outages: failed CONNECTs, a broker killed
and restarted under steady reporting, connections refused for a long time."""

import re
import time

import pytest

from .conftest import (Agent, write_config, assert_no_report_lost, command, wait_reply,
                      reports_made)
from iotlink_tools.console import Console


@pytest.mark.parametrize("fault,packet,direction,after", [
    ("reset", "CONNECT", "up", 0),      # RST as the CONNECT goes out
    ("cut", "CONNECT", "up", 0),        # closed as the CONNECT goes out
    ("stall", "CONNECT", "up", 1),      # accepted, half a CONNECT, never answered
    ("reset", "CONNACK", "down", 0),    # the broker said yes, the device never hears it
])
def test_failed_connects_retried_then_up_nothing_lost(proxy, watcher, tmp_path, fault, packet,
                                                       direction, after):
    trig = proxy.arm(fault, packet, direction, after=after, times=3)
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=800,
                               backoff_min_ms=100, backoff_max_ms=400), report_ms=200)
    agent.wait_line("STATUS up", timeout=15)
    assert len(trig.fired) == 3 and proxy.accepted == 4
    fails = [l for l in agent.lines if "connect failed" in l]
    assert len(fails) == 3, agent.lines
    if fault == "stall":
        assert all("110" in l or "ETIMEDOUT" in l or "timed out" in l for l in fails), fails
    queued = [l for l in agent.lines if l.startswith("REPORT") and l.endswith("queued")]
    assert queued, "reports made while connecting are queued"
    command(watcher, "c", 1)
    assert wait_reply(watcher, "c")[0]["data"] == {"pong": 1}
    stats = agent.finish(console=watcher)
    assert stats["connects"] == 1 and stats["dropped"] == 0
    assert_no_report_lost(watcher, agent)


def test_broker_killed_and_restarted_repeatedly_under_reporting(mosquitto, tmp_path):
    mosquitto.stop()
    mosquitto.extra = ("persistence true\npersistence_location %s/\n"
                       "autosave_on_changes true\nautosave_interval 1" % mosquitto.dir)
    mosquitto.start()
    # a persistent subscriber: what is published while it reconnects waits for it
    con = Console(mosquitto.port, client_id="fault-watcher", clean=False).subscribe(
        "iotlink/dev1/up/#", 1)
    agent = Agent(write_config(tmp_path, mosquitto.port, keepalive=5, timeout_ms=1000,
                               backoff_min_ms=100, backoff_max_ms=500, outbox=200), report_ms=100)
    agent.wait_line("REPORT 5")
    kills = 3
    for i in range(kills):
        mosquitto.kill()          # SIGKILL: no clean shutdown, sockets die with it
        time.sleep(0.8)
        mosquitto.start()
        agent.wait_line("STATUS up", timeout=10, count=2 + i)
        time.sleep(0.6)
    command(con, "k", 9)
    assert wait_reply(con, "k")[0]["data"] == {"pong": 9}
    stats = agent.finish(console=con)
    assert stats["reconnects"] == kills and stats["dropped"] == 0
    assert len([l for l in agent.lines if l.endswith("queued")]) >= kills, agent.lines
    assert_no_report_lost(con, agent, timeout=15)
    con.close()


def test_connections_refused_for_twenty_seconds_then_recovery(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=1000,
                               backoff_min_ms=100, backoff_max_ms=2000, outbox=200),
                  run_ms=60000, report_ms=250)
    agent.wait_line("REPORT 2")
    proxy.pause()     # nothing listens: every connect is refused by the kernel
    proxy.cut()
    agent.wait_line("STATUS down")
    time.sleep(20)
    t_up = time.monotonic()
    proxy.resume()
    agent.wait_line("STATUS up", timeout=10, count=2)
    recovered = time.monotonic() - t_up
    assert recovered <= 2.0 + 1.0, recovered   # within one backoff_max (+ slack)
    fails = [l for l in agent.lines if "connect failed" in l]
    # backed off: far fewer attempts than a tight loop, more than a give-up
    assert 8 <= len(fails) <= 40, len(fails)
    delays = [int(m.group(1)) for m in (re.search(r"retry in (\d+) ms", l) for l in agent.lines) if m]
    assert max(delays) <= 2000 and max(delays) >= 1000, delays
    command(watcher, "r", 4)
    assert wait_reply(watcher, "r")[0]["data"] == {"pong": 4}
    stats = agent.finish(console=watcher)
    assert stats["dropped"] == 0 and stats["reconnects"] == 1
    queued = [l for l in agent.lines if l.startswith("REPORT") and l.endswith("queued")]
    assert len(queued) >= 60, len(queued)
    assert_no_report_lost(watcher, agent, timeout=15)
    assert len(reports_made(agent)) > len(queued)
