"""Faults on an established link, triggered by the MQTT packet passing at the
time: the device notices within its stated bound, reconnects with backoff,
subscribes again, loses no queued QoS 1 report and answers commands once."""

import time

import pytest

from .conftest import (Agent, write_config, assert_no_report_lost, command, wait_reply,
                      replies_to, handler_runs)

KA = 2            # keepalive, s: silence bound 1.5 x KA
TIMEOUT_MS = 1500  # session timeout: a stalled read or a missing PUBACK
SLACK = 1.2        # s: poll granularity, process scheduling, log line transport


def detected_after(agent, trig, count=1):
    assert trig.wait(10), "the fault never fired:\n" + "\n".join(agent.lines)
    agent.wait_line("STATUS down", timeout=10, count=count)
    return time.monotonic() - trig.fired[0]


def after_fault_command_answered(con, agent, n, count=2):
    agent.wait_line("STATUS up", timeout=10, count=count)
    command(con, "after-%d" % n, n)
    assert wait_reply(con, "after-%d" % n)[0]["data"] == {"pong": n}


def test_silence_mid_session_detected_within_one_and_a_half_keepalive(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=KA, timeout_ms=5000), report_ms=0)
    agent.wait_line("STATUS up")
    time.sleep(0.3)
    # the next PINGREQ vanishes and so does everything after it: a half-open link
    trig = proxy.arm("blackhole", "PINGREQ", "up")
    dt = detected_after(agent, trig)
    # the ping is sent at KA/2 of quiet, the verdict comes at 1.5 x KA of quiet
    assert dt <= 1.5 * KA + SLACK, dt
    after_fault_command_answered(watcher, agent, 1)
    assert any("1.5 x keepalive" in l for l in agent.lines)
    assert agent.finish(console=watcher)["reconnects"] == 1


def test_stall_mid_downlink_detected_within_timeout(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=TIMEOUT_MS),
                  report_ms=250)
    agent.wait_line("REPORT 2")
    # the command's PUBLISH reaches the device as one byte, then nothing
    trig = proxy.arm("stall", "PUBLISH", "down", after=1)
    command(watcher, "lost", 10)
    dt = detected_after(agent, trig)
    assert dt <= TIMEOUT_MS / 1000 + SLACK, dt
    after_fault_command_answered(watcher, agent, 11)
    stats = agent.finish(console=watcher)
    # the stalled command never reached the handler: no reply, and the sender
    # (here the test, on a platform its request timeout) is the one told
    assert handler_runs(agent, 10) == 0 and not replies_to(watcher, "lost")
    assert stats["reconnects"] == 1 and stats["dropped"] == 0
    assert_no_report_lost(watcher, agent)


@pytest.mark.parametrize("fault,after", [("stall", 3), ("reset", 0), ("cut", 0)])
def test_qos1_report_interrupted_is_sent_again(proxy, watcher, tmp_path, fault, after):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=TIMEOUT_MS),
                  report_ms=150)
    agent.wait_line("REPORT 3")
    trig = proxy.arm(fault, "PUBLISH", "up", after=after)
    dt = detected_after(agent, trig)
    if fault == "stall":   # the PUBACK never comes
        assert dt <= TIMEOUT_MS / 1000 + SLACK, dt
        assert any("no PUBACK within" in l for l in agent.lines), agent.lines
    else:
        assert dt <= SLACK, dt
    after_fault_command_answered(watcher, agent, 1)
    stats = agent.finish(console=watcher)
    assert stats["reconnects"] == 1 and stats["dropped"] == 0
    assert_no_report_lost(watcher, agent)


def test_puback_lost_gives_a_duplicate_not_a_loss(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=TIMEOUT_MS),
                  report_ms=150)
    agent.wait_line("REPORT 3")
    # the broker has the report; the device never hears so and must send it again
    trig = proxy.arm("reset", "PUBACK", "down", skip=1)
    detected_after(agent, trig)
    after_fault_command_answered(watcher, agent, 1)
    agent.finish(console=watcher)
    seen = assert_no_report_lost(watcher, agent)
    assert len(seen) > len(set(seen)), "the report whose PUBACK was lost should come twice"


@pytest.mark.parametrize("fault,after", [("stall", 2), ("reset", 0)])
def test_reply_interrupted_goes_out_after_reconnect_handler_ran_once(proxy, watcher, tmp_path,
                                                                     fault, after):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=TIMEOUT_MS))
    agent.wait_line("STATUS up")
    time.sleep(0.2)   # the "online" status publish has gone
    trig = proxy.arm(fault, "PUBLISH", "up", after=after)   # the reply
    command(watcher, "c1", 5)
    detected_after(agent, trig)
    agent.wait_line("STATUS up", timeout=10, count=2)
    got = wait_reply(watcher, "c1")
    assert got[0] == {"id": "c1", "ok": True, "name": "ping", "data": {"pong": 5}}
    agent.finish(console=watcher)
    assert handler_runs(agent, 5) == 1, agent.lines
    assert len(replies_to(watcher, "c1")) >= 1


def test_reset_during_downlink_command_is_not_run_and_the_next_is(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=30, timeout_ms=TIMEOUT_MS),
                  report_ms=200)
    agent.wait_line("REPORT 2")
    trig = proxy.arm("reset", "PUBLISH", "down")
    command(watcher, "gone", 20)
    dt = detected_after(agent, trig)
    assert dt <= SLACK, dt
    after_fault_command_answered(watcher, agent, 21)
    stats = agent.finish(console=watcher)
    assert handler_runs(agent, 20) == 0 and not replies_to(watcher, "gone")
    assert handler_runs(agent, 21) == 1
    assert stats["reconnects"] == 1
    assert_no_report_lost(watcher, agent)


def test_slow_link_is_slow_not_dead(proxy, watcher, tmp_path):
    agent = Agent(write_config(tmp_path, proxy.port, keepalive=KA, timeout_ms=TIMEOUT_MS),
                  report_ms=300)
    agent.wait_line("STATUS up")
    # every byte, both ways, 5 ms apart: a QoS 1 report and its PUBACK take ~0.2 s
    proxy.slow(delay=0.005, chunk=1)
    agent.wait_line("REPORT 4")
    command(watcher, "slow", 3)
    assert wait_reply(watcher, "slow")[0]["data"] == {"pong": 3}
    stats = agent.finish(console=watcher)
    assert stats["link_errors"] == 0 and stats["reconnects"] == 0, agent.lines
    assert_no_report_lost(watcher, agent)
