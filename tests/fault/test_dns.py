"""A broker configured by NAME, and name resolution failing for a long time
(Wi-Fi up, DNS server unreachable) before it works again; a name that moves
to a new address.  The device resolves through a stand-in for the board's
getaddrinfo (see agent_outage.py): it fails the way MicroPython fails, with
OSError and a negative lwIP code, while the test says so."""

import time

from iotlink_tools.faultproxy import FaultProxy

from .conftest import assert_no_report_lost, command, wait_reply
from .outage import NAME, OutageAgent, Resolver, at_cap, check_backoff, write_config

MIN_MS, MAX_MS = 100, 2000   # session backoff
LATE_MS = 400    # an attempt may start this late: 20 ms polls, a busy 2-core machine
SLACK = 1.0      # s: process scheduling and line transport on top of a bound


def test_dns_failing_for_long_then_recovering(proxy, watcher, tmp_path):
    dns = Resolver(tmp_path)
    dns.answer("fail -202")          # the ESP32's EAI_FAIL: no answer at boot
    agent = OutageAgent(write_config(tmp_path, proxy.port, host=NAME, backoff_min_ms=MIN_MS,
                                     backoff_max_ms=MAX_MS, stable_ms=1000),
                        run_ms=60000, report_ms=250, resolver=dns)
    time.sleep(3)
    assert proxy.accepted == 0 and agent.statuses() == []
    t_fix = time.monotonic()
    dns.answer("127.0.0.1")
    agent.wait_line("STATUS up")
    assert time.monotonic() - t_fix <= MAX_MS / 1000 + SLACK
    assert len([a for _, _, a in agent.lookups() if a == -202]) >= 4, agent.lookups()
    assert all(h == NAME for _, h, _ in agent.lookups())
    time.sleep(1.5)                  # up for longer than session.stable_ms

    # the access point restarts: the link drops, connects are refused, and the
    # DNS server stays unreachable (lwIP's "name not known") for a while after
    dns.answer("fail -2")
    proxy.pause()
    proxy.cut()
    agent.wait_line("STATUS down")
    t_out = time.monotonic()
    time.sleep(3)
    fds = [agent.fds()]
    time.sleep(9)
    fds.append(agent.fds())          # each failed lookup closed its socket
    proxy.resume()                   # the broker is back, the name still not
    time.sleep(3)
    n_fail = len([a for _, _, a in agent.lookups() if a == -2])
    t_fix = time.monotonic()
    dns.answer("127.0.0.1")
    agent.wait_line("STATUS up", count=2)
    recovered = time.monotonic() - t_fix
    outage = t_fix - t_out
    assert recovered <= MAX_MS / 1000 + SLACK, recovered

    command(watcher, "d", 7)
    assert wait_reply(watcher, "d")[0]["data"] == {"pong": 7}
    stats = agent.finish(console=watcher)

    # one lookup per attempt once the cached address failed, spaced by the backoff
    check_backoff(agent, MIN_MS, MAX_MS, LATE_MS)
    runs = agent.runs()
    assert len(runs) == 2, runs      # boot, then the one link loss
    capped = at_cap(runs[1], MIN_MS, MAX_MS)
    assert len(capped) >= 5 and len(set(capped)) > len(capped) // 2, runs[1]   # jittered
    # no tight loop and no give-up: between one attempt per cap and per half cap
    ramp = 5                         # 100, 200, 400, 800, 1600 ms before the cap
    assert outage / (MAX_MS / 1000) - 1 <= n_fail <= ramp + outage / (MAX_MS / 2000) + 1, n_fail
    fails = [l for l in agent.lines if "connect failed" in l]
    assert any("OSError -202" in l for l in fails) and any("OSError -2" in l for l in fails)
    assert any("OSError 111" in l for l in fails)   # the cached address, refused, first
    assert fds[1] <= fds[0] + 1, fds
    # the application heard of the outage once, not once per failed attempt
    assert agent.statuses() == ["up", "down", "up"], agent.statuses()
    assert stats["connects"] == 2 and stats["reconnects"] == 1 and stats["dropped"] == 0
    queued = [l for l in agent.lines if l.startswith("REPORT") and l.endswith("queued")]
    assert len(queued) >= 50, len(queued)
    assert_no_report_lost(watcher, agent, timeout=15)


def test_cached_address_across_link_drops_moved_address_after_failed_connect(
        mosquitto, proxy, watcher, tmp_path):
    dns = Resolver(tmp_path)
    dns.answer("127.0.0.1")
    agent = OutageAgent(write_config(tmp_path, proxy.port, host=NAME, backoff_min_ms=MIN_MS,
                                     backoff_max_ms=MAX_MS, stable_ms=1000),
                        run_ms=40000, report_ms=200, resolver=dns)
    agent.wait_line("STATUS up")
    assert [a for _, _, a in agent.lookups()] == ["127.0.0.1"]
    # plain link drops, DNS now failing: the address found before is used
    dns.answer("fail -202")
    for i in range(2):
        time.sleep(0.5)
        proxy.cut()
        agent.wait_line("STATUS up", timeout=10, count=2 + i)
    assert [a for _, _, a in agent.lookups()] == ["127.0.0.1"], agent.lookups()
    assert proxy.accepted == 3

    # the broker moves: the name now points at another address, the old one refuses
    moved = FaultProxy(mosquitto.port, listen_host="127.0.0.2", listen_port=proxy.port)
    try:
        dns.answer("127.0.0.2")
        time.sleep(0.5)
        proxy.pause()
        proxy.cut()
        agent.wait_line("STATUS up", timeout=10, count=4)
        command(watcher, "m", 3)
        assert wait_reply(watcher, "m")[0]["data"] == {"pong": 3}
        stats = agent.finish(console=watcher)
    finally:
        moved.close()
    # the first attempt went to the cached address and was refused; only that
    # failure sent the device back to the resolver, which gave the new address
    assert [a for _, _, a in agent.lookups()] == ["127.0.0.1", "127.0.0.2"], agent.lookups()
    fails = [l for l in agent.lines if "connect failed" in l]
    assert len(fails) == 1 and "OSError 111" in fails[0], fails
    ev = agent.timed()
    t_fail = next(ms for ms, k, t in ev if k == "LOG" and "connect failed" in t)
    t_dns2 = [ms for ms, k, t in ev if k == "DNS"][1]
    assert t_fail <= t_dns2
    assert moved.accepted == 1 and proxy.accepted == 3
    assert agent.statuses() == ["up", "down", "up", "down", "up", "down", "up"]
    assert stats["reconnects"] == 3 and stats["dropped"] == 0
    assert_no_report_lost(watcher, agent)
