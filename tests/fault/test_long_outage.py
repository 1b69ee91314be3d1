"""The broker out of reach for minutes: first black-holed (connects accepted,
never answered), then refused.  With the backoff capped small the device
keeps trying at a steady pace, its heap and sockets stay flat, its outbox
keeps the newest reports, and on recovery it sends them and answers."""

import json
import time

from .conftest import REPORT, command, wait_reply, reports_made, reports_seen
from .outage import OutageAgent, at_cap, check_backoff, write_config

MIN_MS, MAX_MS = 100, 5000
TIMEOUT_MS = 1000    # a black-holed attempt ends after this
OUTBOX = 20
PHASE = 62           # s of each kind of outage: over two minutes in all
LATE_MS = 400
SLACK = 1.5
HEAP_SLACK = 256     # bytes: under one 32-byte GC block per attempt in the window


def test_outage_of_minutes_steady_retries_flat_heap_newest_reports_kept(proxy, watcher,
                                                                         tmp_path):
    agent = OutageAgent(write_config(tmp_path, proxy.port, timeout_ms=TIMEOUT_MS,
                                     backoff_min_ms=MIN_MS, backoff_max_ms=MAX_MS,
                                     outbox=OUTBOX, stable_ms=1000),
                        run_ms=PHASE * 2 * 1000 + 40000, report_ms=1000, heap_ms=4000)
    agent.wait_line("REPORT 2")
    agent.wait_line("STATUS up")

    # black hole: the TCP connect works, the CONNECT is never answered
    proxy.accept_mode = "blackhole"
    proxy.cut()
    agent.wait_line("STATUS down")
    acc0 = proxy.accepted
    time.sleep(OUTBOX + 10)
    fds = [agent.fds()]
    time.sleep(PHASE - OUTBOX - 10)
    # then nothing listens at all: every connect is refused
    proxy.pause()
    proxy.accept_mode = None
    black_holed = proxy.accepted - acc0
    time.sleep(PHASE)
    fds.append(agent.fds())
    t_fix = time.monotonic()
    proxy.resume()
    agent.wait_line("STATUS up", timeout=MAX_MS / 1000 + 10, count=2)
    recovered = time.monotonic() - t_fix
    assert recovered <= MAX_MS / 1000 + SLACK, recovered

    command(watcher, "late", 5)
    assert wait_reply(watcher, "late")[0]["data"] == {"pong": 5}
    stats = agent.finish(console=watcher)

    # pace: never earlier than planned, never past the cap, jittered
    check_backoff(agent, MIN_MS, MAX_MS, TIMEOUT_MS + LATE_MS)
    for planned, d, nxt, text in agent.retries():
        if text and "OSError 111" in text:
            assert nxt - planned <= d + LATE_MS, (d, nxt - planned)
    runs = agent.runs()
    assert len(runs) == 2, runs
    capped = at_cap(runs[1], MIN_MS, MAX_MS)
    assert len(capped) >= 10 and len(set(capped)) > len(capped) // 2, capped
    fails = [l for l in agent.lines if "connect failed" in l]
    hole = [l for l in fails if "OSError 110" in l]
    refused = [l for l in fails if "OSError 111" in l]
    assert len(hole) + len(refused) >= len(fails) - 1, fails   # one may race the switch
    assert abs(len(hole) - black_holed) <= 1, (len(hole), black_holed)
    ramp = 6                         # 100 ... 3200 ms before the cap
    per_try = MAX_MS / 1000 + TIMEOUT_MS / 1000 + LATE_MS / 1000
    assert PHASE / per_try - 1 <= len(hole) <= ramp + PHASE / (MAX_MS / 2000 + 1) + 1, len(hole)
    assert PHASE / per_try - 1 <= len(refused) <= PHASE / (MAX_MS / 2000) + 1, len(refused)
    assert agent.statuses() == ["up", "down", "up"], agent.statuses()

    # resources: the heap once the outbox is full, and open sockets, stay flat
    ev = agent.timed()
    t_lost = next(ms for ms, k, t in ev if k == "LOG" and "link lost" in t)
    t_back = [ms for ms, k, t in ev if k == "LOG" and "connected to" in t][1]
    heap = [b for ms, b in agent.heap() if t_lost + (OUTBOX + 5) * 1000 <= ms < t_back]
    assert len(heap) >= 20, agent.heap()
    assert max(heap) - min(heap) <= HEAP_SLACK, heap
    assert fds[1] <= fds[0] + 1, fds

    # the outbox: the newest OUTBOX reports made offline went out, in order,
    # after the ones sent before the outage; the older ones were dropped, counted
    made = reports_made(agent)
    up2 = [i for i, l in enumerate(agent.lines) if l.startswith("STATUS up")][1]
    before_up = [int(l.split()[1]) for l in agent.lines[:up2] if l.startswith("REPORT ")]
    last_offline = made.index(before_up[-1])
    end = time.monotonic() + 15
    while made[-1] not in reports_seen(watcher) and time.monotonic() < end:
        time.sleep(0.05)
    seen = list(dict.fromkeys(reports_seen(watcher)))
    k = 0
    while k < len(seen) and seen[k] == made[k]:
        k += 1
    kept = made[last_offline - OUTBOX + 1:]
    assert seen == made[:k] + kept, "made %s\nseen %s" % (made, seen)
    dropped = last_offline - OUTBOX + 1 - k
    assert dropped > 60 and stats["dropped"] == dropped, (dropped, stats)
    assert len([l for l in agent.lines if "outbox full (%d)" % OUTBOX in l]) == dropped
    assert all(json.loads(p)["n"] in made for p in watcher.on(REPORT))
