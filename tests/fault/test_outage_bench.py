"""A short run of the outage benchmark (`iotlink bench outage`, the full one
is three minutes): QoS 1 reports at 20/s, the broker SIGKILLed twice.  Only
what must always hold is asserted: every report lost is counted in
stats["dropped"], and what arrives arrives in the order it was made."""

from iotlink_tools.bench import outage


def test_every_loss_counted_nothing_reordered():
    res = outage.run(outages=2, down_s=(2, 3), up_s=6, rate=20, seed=3, session={"outbox": 16})
    stats = res["stats"]
    assert res["made"] > 300 and res["in_order"] and not res["unknown"], res
    assert res["lost"] == stats["dropped"] > 0, res          # 16 is too small for 2-3 s at 20/s
    assert stats["queued"] == stats["sent"] + stats["dropped"], stats
    assert stats["reconnects"] == 2, stats
