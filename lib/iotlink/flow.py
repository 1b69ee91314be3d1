"""Flow control for a Device, loaded on first use: report coalescing
(``session.report_min_ms``) and the answer to a downlink that finds the inbox
full."""

import time
from . import log
from .request import SYSTEM


def coalesce(dev, key, props, now):
    """Keep a report back when the last one went out less than report_min_ms
    ago (or one is already waiting): it is merged and sent later by send_coalesced().
    True when held; ``key`` is (service key, target, qos)."""
    pending = dev._pending
    if pending is None:
        pending = dev._pending = {}
    pend = pending.get(key)
    if pend is not None:
        pend.update(props)
        return True
    last = dev._last_report   # None: no report sent yet, this one goes now
    if last is not None and time.ticks_diff(now, last) < dev.opts["report_min_ms"]:
        pending[key] = dict(props)
        dev.stats["coalesced"] += 1
        return True
    dev._last_report = now
    return False


def send_coalesced(dev, now):
    """Send the merged reports once report_min_ms has passed; return the ms
    until they are due (0 once sent)."""
    last = dev._last_report
    left = 0 if last is None else dev.opts["report_min_ms"] - time.ticks_diff(now, last)
    if left > 0:
        return left
    dev._last_report = now
    pending, dev._pending = dev._pending, {}
    for (service, target, qos), props in pending.items():
        topic, payload = dev.cloud.report(props, service or None, dev.clock.now(), target)
        dev.publish(topic, payload, dev.opts["qos"] if qos is None else qos)
    return 0


def refuse_busy(dev, topic, msg):
    """Inbox full (a flood, or downlinks arriving during a QoS 1 wait): the
    request is not run, but a request that expects an answer gets the cloud's
    error reply, so the sender is told instead of timing out.  Runs inside
    umqtt's callback, so the reply is only queued."""
    n = dev.stats["inbox_dropped"] = dev.stats["inbox_dropped"] + 1
    if not n & (n - 1):
        # 1st, 2nd, 4th, 8th...: a flood gets a few lines, not one per message
        log.warn("inbox full: downlink on %s refused (%d so far)", log.short(topic), n)
    try:
        req = dev.cloud.decode(topic, msg)
        out = dev.cloud.reply(req, None, "device busy: too many requests at once") \
            if req is not None and req.kind != SYSTEM else None
    except Exception:
        out = None
    if out is not None:
        p = out[1]
        dev._put(out[0], p.encode() if isinstance(p, str) else p, dev.opts["qos"], False)
        dev.stats["replies"] += 1
