"""A bounded soak on the unix port (about a minute): QoS 1 reports as fast as
they are acknowledged, so packet ids wrap; commands every half second; the
broker restarted twice; heap, outbox and inbox sampled once a second."""

import json

from iotlink_tools import soak


def test_soak_one_minute(tmp_path):
    s = soak.Soak(seconds=60, restart_every=20, warmup_s=10, heap_bound=2048,
                  workdir=str(tmp_path))
    result = s.run()
    print(soak.report(result))
    assert not result["failures"], soak.report(result)
    assert result["restarts"] == 2 and result["reconnects"] == 2, soak.report(result)
    assert result["commands"] >= 40 and result["answered"] == result["commands"]
    # the point of the rate: packet ids went past 65535 and wrapped, and the
    # session carried on (a wrap to 0 would have been refused by the broker)
    assert result["qos1_publishes"] < 65535 or result["pid_wraps"] >= 1, result
    assert result["heap"]["growth"] <= 2048


def _soak_with(lines, samples):
    s = soak.Soak(seconds=60, warmup_s=0, heap_bound=1000)
    s.lines = lines
    s.samples = samples
    return s


def _samples(heaps, outbox=0):
    return [{"t": i * 1000, "heap": h, "outbox": outbox if i > len(heaps) // 2 else 0, "inbox": 0,
             "pid": 1 + (i * 30000) % 65535, "connected": True, "made": i} for i, h in enumerate(heaps)]


def test_verdict_catches_loss_growth_duplicates_of_handlers_and_queues():
    stats = {"dropped": 0, "sent": 10, "replies": 1, "reconnects": 0}
    ok = _soak_with(["CMD s1"], _samples([5000] * 12))._verdict(
        4, stats, [0, 1, 1, 2, 3, 4], {"s1": [{}]}, {"s1": 1}, 0, 60)
    assert ok["failures"] == [] and ok["duplicates"] == 1
    bad = _soak_with(["CMD s1", "CMD s1"], _samples([5000] * 6 + [9000] * 6, outbox=9))._verdict(
        5, dict(stats, dropped=2), [0, 2, 1, 3, 4], {}, {"s1": 1, "s2": 2}, 0, 60)
    text = json.dumps(bad["failures"])
    for what in ("reports missing", "dropped 2", "unanswered", "more than once", "heap grew",
                 "queues grow"):
        assert what in text, (what, bad["failures"])
    order = _soak_with([], _samples([5000] * 12))._verdict(2, stats, [0, 2, 1], {}, {}, 0, 60)
    assert order["failures"] == ["reports arrived out of order"]
