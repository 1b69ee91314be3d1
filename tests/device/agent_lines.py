# Runs on the MicroPython unix port: what every device agent script (blocking
# and asyncio; tests/device, tests/fault, tests/aio) prints and answers, so
# the host tests read the same lines from each.  Agents outside this folder
# put it on sys.path first.
import json
import time


def answer(req):
    """The command handler's answer: "fail" raises, "text" is no dict, the
    rest pong their n."""
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "fail":
        raise ValueError("asked to fail")
    if req.name == "text":
        return "not a dict"
    return {"pong": req.params.get("n")}


def exit_or_pong(req, stop):
    """The fault agents' command handler: "exit" calls stop() and ends the run."""
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "exit":
        stop()
        return {}
    return {"pong": req.params.get("n")}


def show_status(event, detail):
    print("STATUS", event)


def show(dev):
    """Print each set, message and status event."""
    dev.on("set", lambda req: print("SET", json.dumps(req.params)))
    dev.on("message", lambda req: print("MSG", len(req.params)))
    dev.on("status", show_status)


class Worst:
    """The longest duration seen per name; SLOW <name> <ms> past ``slow_ms``."""

    def __init__(self, slow_ms, *names):
        self.slow_ms = slow_ms
        self.ms = {n: 0 for n in names}

    def since(self, name, t):
        d = time.ticks_diff(time.ticks_ms(), t)
        if d > self.ms[name]:
            self.ms[name] = d
        if d > self.slow_ms:
            print("SLOW", name, d)


async def ticker(gap, ms=10):
    """Every ``ms``: the largest gap between wake-ups into gap[0]."""
    import asyncio
    last = time.ticks_ms()
    while True:
        await asyncio.sleep_ms(ms)
        now = time.ticks_ms()
        gap[0] = max(gap[0], time.ticks_diff(now, last))
        last = now
