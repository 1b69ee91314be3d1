"""The outage benchmark: a device reporting QoS 1 at a steady rate while its
broker is SIGKILLed and restarted several times.  Prints, per outage, how long
the device was offline against how long the broker was down, and how many
reports were lost with the session's default outbox (each one counted in
stats["dropped"]), and checks nothing arrived out of order.

    iotlink bench outage [--outages 5] [--rate 20] [--minutes 3] [--seed 1]
"""

import json
import os
import random
import shutil
import tempfile
import time

from .. import upy
from ..broker import Mosquitto
from ..console import Console

SCRIPT = os.path.join(os.path.dirname(__file__), "scenario_outage.py")
TOPIC = "iotlink/bench-outage/up/report"


class _Device(upy.Follow):
    def __init__(self, cfg, rate, run_ms):
        self.up_at = []            # host monotonic time of every "STATUS up"
        super().__init__(SCRIPT, args=(cfg, str(rate), str(run_ms)))

    def on_line(self, line):
        if line.startswith("STATUS up"):
            self.up_at.append(time.monotonic())

    def wait_up(self, count, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.up_at) < count and time.monotonic() < end:
                self.cv.wait(0.1)
            return len(self.up_at) >= count


def run(outages=5, down_s=(3, 10), up_s=30, rate=20, seed=1, session=None, log=print):
    """Run the benchmark; return its figures (a dict).  ``down_s`` is the range
    the broker's downtime is drawn from, ``up_s`` how long it stays up between
    outages; ``session`` adds session options (none: the defaults)."""
    rnd = random.Random(seed)
    work = tempfile.mkdtemp(prefix="iotlink-outage-")
    broker = Mosquitto(workdir=work, extra="persistence true\npersistence_location %s/\n"
                       "autosave_on_changes true\nautosave_interval 1" % work).start()
    con = dev = None
    try:
        # a persistent subscriber: what arrives while it reconnects waits for it
        con = Console(broker.port, client_id="outage-watcher", clean=False).subscribe(TOPIC, 1)
        cfg = os.path.join(work, "config.json")
        with open(cfg, "w") as f:
            json.dump({"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": broker.port,
                                 "client_id": "bench-outage"}, "session": session or {}}, f)
        run_ms = int((outages * (up_s + down_s[1]) + up_s + 120) * 1000)
        dev = _Device(cfg, rate, run_ms)
        if not dev.wait_up(1, 20):
            raise RuntimeError("device did not connect:\n" + "\n".join(dev.lines[-20:]))
        rows = []
        for i in range(outages):
            time.sleep(up_s)
            down = rnd.uniform(*down_s)
            t_kill = time.monotonic()
            broker.kill()
            time.sleep(down)
            broker.start()
            t_start = time.monotonic()
            dev.wait_up(i + 2, 120)
            t_up = dev.up_at[i + 1] if len(dev.up_at) > i + 1 else float("nan")
            rows.append((t_start - t_kill, t_up - t_kill))
            log("outage %d: broker down %5.1f s, device offline %5.1f s (x%.2f)"
                % (i + 1, rows[-1][0], rows[-1][1], rows[-1][1] / rows[-1][0]))
        time.sleep(up_s)
        open(cfg + ".stop", "w").close()
        dev.p.wait(90)
        stats = [json.loads(l[6:]) for l in dev.lines if l.startswith("STATS ")]
        if not stats:
            raise RuntimeError("device did not finish:\n" + "\n".join(dev.lines[-20:]))
        made = [int(l.split()[1]) for l in dev.lines if l.startswith("REPORT ")]
        end = time.monotonic() + 20
        while made and made[-1] not in _seen(con) and time.monotonic() < end:
            time.sleep(0.1)
        seen = _seen(con)
        first = list(dict.fromkeys(seen))
    finally:
        if dev is not None and dev.p.poll() is None:
            dev.p.kill()
        if con is not None:
            con.close()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    down_total = sum(r[0] for r in rows)
    off_total = sum(r[1] for r in rows)
    res = {"outages": rows, "downtime_s": down_total, "offline_s": off_total,
           "ratio": off_total / down_total, "made": len(made), "arrived": len(first),
           "lost": len(made) - len(first), "stats": stats[-1],
           "in_order": first == sorted(first), "unknown": sorted(set(first) - set(made))}
    log("broker down %.1f s in all, device offline %.1f s: offline/downtime %.2f"
        % (down_total, off_total, res["ratio"]))
    log("%d reports made at %d/s, %d arrived, %d lost; stats: dropped %d, queued %d, sent %d; "
        "in order: %s" % (res["made"], rate, res["arrived"], res["lost"], stats[-1]["dropped"],
                          stats[-1]["queued"], stats[-1]["sent"], res["in_order"]))
    return res


def _seen(con):
    return [json.loads(p)["n"] for p in con.on(TOPIC)]


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="iotlink bench outage")
    ap.add_argument("--outages", type=int, default=5)
    ap.add_argument("--rate", type=int, default=20, help="QoS 1 reports per second")
    ap.add_argument("--minutes", type=float, default=3, help="length of the whole run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--outbox", type=int, help="session.outbox (default: the library's)")
    ns = ap.parse_args(argv or [])
    # outages spread evenly: up for the rest of each slot after a 3-10 s outage
    up_s = max(5.0, ns.minutes * 60 / (ns.outages + 1) - 6.5)
    res = run(ns.outages, (3, 10), up_s, ns.rate, ns.seed,
              {"outbox": ns.outbox} if ns.outbox else None)
    ok = res["in_order"] and not res["unknown"] and res["lost"] == res["stats"]["dropped"]
    print("every loss counted and nothing reordered: %s" % ("yes" if ok else "NO"))
    return 0 if ok else 1
