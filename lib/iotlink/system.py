"""Library-internal downlinks (time sync, version queries, ...): the codec's
``system(req, now_ms)`` returns actions and the Device carries them out here:
("clock", unix_ms), ("publish", topic, payload), ("subscribe", topic[, qos]),
("unsubscribe", topic) or ("event", handler kind, value) to call an app handler."""

from . import log


def run(dev, req):
    for act in dev.cloud.system(req, dev.clock.now_ms()) or ():
        op = act[0]
        if op == "clock":
            dev.clock.set(act[1])
            log.info("clock set from the cloud")
        elif op == "publish":
            dev.publish(act[1], act[2], dev.opts["qos"])
        elif op == "subscribe":
            dev.subscribe(act[1], act[2] if len(act) > 2 else 1)
        elif op == "unsubscribe":
            dev.unsubscribe(act[1])
        elif op == "event":
            fn = dev._handlers.get(act[1])
            if fn:
                try:
                    fn(act[2])
                except Exception as e:
                    dev.stats["handler_errors"] += 1
                    log.warn("%s handler raised %s", act[1], log.err(e))
