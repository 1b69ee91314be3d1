"""Host side of agent_outage.py: start it, steer its resolver, read its
timed lines (attempts, backoff delays, status events, heap samples)."""

import json
import os
import re

from iotlink_tools import upy

from .conftest import Agent

AGENT = os.path.join(os.path.dirname(__file__), "agent_outage.py")
NAME = "broker.iotlink.test"   # never resolvable by the machine's own DNS
EARLY_MS = 30


def write_config(tmp_path, port, host="127.0.0.1", keepalive=30, timeout_ms=1000, **session):
    s = {"backoff_min_ms": 100, "backoff_max_ms": 2000, "outbox": 200}
    s.update(session)
    cfg = {"cloud": {"type": "mqtt", "host": host, "port": port, "client_id": "dev1",
                     "keepalive": keepalive, "timeout_ms": timeout_ms},
           "session": s}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


class Resolver:
    """The control file of the device's resolver stand-in."""

    def __init__(self, tmp_path):
        self.path = str(tmp_path / "dns.txt")

    def answer(self, text):
        """An IPv4 address, or "fail <errno>"; replaced atomically."""
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)


class OutageAgent(Agent):
    """agent_outage.py on the unix port (``finish(console=...)`` sends "exit")."""

    def __init__(self, cfg_path, run_ms=60000, report_ms=0, resolver=None, heap_ms=0):
        upy.Follow.__init__(self, AGENT, args=(cfg_path, str(run_ms), str(report_ms),
                                        resolver.path if resolver else "-", str(heap_ms)))
        self.console = None

    def timed(self):
        """(ms, kind, text) of every timed line, in order: kind is "LOG", "DNS",
        "STATUS" or "HEAP"."""
        out = []
        for l in list(self.lines):
            parts = l.split(" ", 2)
            if parts[0] in ("LOG", "DNS", "HEAP") and len(parts) == 3:
                out.append((int(parts[1]), parts[0], parts[2]))
            elif parts[0] == "STATUS" and len(parts) == 3:
                out.append((int(parts[2]), "STATUS", parts[1]))
        return out

    def statuses(self):
        return [t for _, k, t in self.timed() if k == "STATUS"]

    def lookups(self):
        """(ms, host, answer) of every name lookup: answer is an address or an errno."""
        out = []
        for ms, k, t in self.timed():
            if k == "DNS":
                f = t.split()
                out.append((ms, f[0], f[3] if f[2] == "->" else int(f[3])))
        return out

    def retries(self):
        """Every planned reconnect: (ms it was planned, delay ms, ms of the next
        attempt's first trace, that trace's text), the last two None when there
        was no next attempt.  Traces: a name lookup, "connect failed" (at once
        when refused, after timeout_ms when black-holed), "connected to"."""
        ev = self.timed()
        out = []
        for i, (ms, k, t) in enumerate(ev):
            m = re.search(r"retry in (\d+) ms", t) if k == "LOG" else None
            if m:
                nxt = next((e for e in ev[i + 1:] if _attempt_trace(e)), (None, None, None))
                out.append((ms, int(m.group(1)), nxt[0], nxt[2]))
        return out

    def runs(self):
        """The planned delays split into backoff runs: a run starts at boot and
        after every "link lost" (the session was up long enough to reset the
        backoff: session.stable_ms is set low in these tests)."""
        runs = [[]]
        for ms, k, t in self.timed():
            if k != "LOG":
                continue
            if "link lost" in t:
                runs.append([])
            m = re.search(r"retry in (\d+) ms", t)
            if m:
                runs[-1].append(int(m.group(1)))
        return runs

    def heap(self):
        return [(ms, int(t)) for ms, k, t in self.timed() if k == "HEAP"]

    def fds(self):
        """Open file descriptors of the device process (sockets included)."""
        return len(os.listdir("/proc/%d/fd" % self.p.pid))


def at_cap(run, lo_ms, hi_ms):
    """The delays of a backoff run planned once the doubling reached the cap."""
    return [d for k, d in enumerate(run) if lo_ms << k >= hi_ms]


def _attempt_trace(e):
    return e[1] == "DNS" or (e[1] == "LOG" and ("connect failed" in e[2]
                                                or "connected to" in e[2]))


def check_backoff(agent, lo_ms, hi_ms, late_ms):
    """Every planned delay follows the documented backoff (lo_ms doubled per
    failed attempt, capped at hi_ms, then 50-100 % of that) and the next
    attempt came no earlier than planned and at most ``late_ms`` after.  The
    "retry in" line is stamped when it is printed, a moment after the plan was
    made: the attempt may seem up to ``EARLY_MS`` early."""
    for run in agent.runs():
        for k, d in enumerate(run):
            cap = min(lo_ms << k, hi_ms)
            assert cap // 2 <= d <= cap, (k, d, run)
    for planned, d, nxt, _ in agent.retries():
        if nxt is None:
            continue
        assert d - EARLY_MS <= nxt - planned <= d + late_ms, (planned, d, nxt - planned)
