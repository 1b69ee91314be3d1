"""Soak: a long steady session on the MicroPython unix port against a real
mosquitto, sized to find what only shows after hours on a board.

The device reports QoS 1 as fast as the link allows (or at ``--rate``), so
packet ids pass 65535 and wrap within a minute or two; the host sends it
commands every half second and restarts the broker now and then.  The device
prints its heap (``gc.mem_alloc()`` after ``gc.collect()``), outbox and inbox
lengths and packet id once a second.  The run fails when:

* any report is missing at the watcher (QoS 1: duplicates are allowed, first
  arrivals must come in the order made);
* a command sent while the device was up got no reply, or its handler ran
  more than once;
* the heap after warm-up grows by more than ``--heap-bound`` bytes (median of
  the last samples against the median of the first ones after warm-up);
* the outbox or inbox grows while connected;
* a QoS 1 report was dropped by the library (outbox overflow).

Usage: ``python -m iotlink_tools.soak --minutes 30`` (``iotlink soak`` where
the CLI has the subcommand).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

from . import upy
from .broker import Mosquitto

BASE = "iotlink/soak1"

DEVICE = r"""
import sys, gc, json, time
import iotlink
from iotlink.device import Device
# the session's parts that load on first use (the first broker restart loads
# retry; a full inbox, flow): imported up front, so that a one-time import
# after warm-up is not read as heap growth
import iotlink.retry, iotlink.flow
cfg = json.loads(open(sys.argv[1]).read())
run_ms, sample_ms, rate = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dev = Device(cfg)
half = dev.opts["outbox"] // 2


@dev.command
def cmd(req):
    print("CMD", req.rid)
    return {"n": req.params.get("n")}


@dev.on("status")
def status(ev, detail):
    print("STATUS", ev)


dev.connect()
n = 0
t0 = time.ticks_ms()
next_sample = t0
while True:
    now = time.ticks_ms()
    el = time.ticks_diff(now, t0)
    if el >= run_ms:
        break
    due = rate == 0 or n < el * rate // 1000
    if due and (dev.connected or len(dev._out) < half):
        dev.report({"n": n})
        n += 1
    dev.poll(0 if dev.connected else 5)
    if time.ticks_diff(now, next_sample) >= 0:
        gc.collect()
        print("SAMPLE", el, gc.mem_alloc(), len(dev._out), len(dev._in), dev._pid if dev._client else -1,
              1 if dev.connected else 0, n)
        next_sample = time.ticks_add(next_sample, sample_ms)
t1 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 15000:
    dev.poll(50)
dev.poll(300)
print("END", n - 1, json.dumps(dev.stats))
"""


class _Watcher:
    """A persistent subscriber (clean session off) collecting report numbers
    and command replies; it survives broker restarts with its queue."""

    def __init__(self, port):
        import paho.mqtt.client as paho
        self.reports = []
        self.replies = {}
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="soak-watcher",
                             clean_session=False)
        self.c.max_inflight_messages_set(200)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.up.clear()
        self.c.on_message = self._on_message
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        if not self.up.wait(10):
            raise RuntimeError("soak watcher could not connect")
        time.sleep(0.3)

    def _on_connect(self, c, ud, flags, rc, props=None):
        c.subscribe(BASE + "/up/#", 1)
        self.up.set()

    def _on_message(self, c, ud, msg):
        if msg.topic.endswith("/up/report"):
            n = json.loads(msg.payload)["n"]
            with self.lock:
                self.reports.append(n)
        elif msg.topic.endswith("/up/reply"):
            r = json.loads(msg.payload)
            with self.lock:
                self.replies.setdefault(r.get("id"), []).append(r)

    def publish(self, topic, payload):
        return self.c.publish(topic, payload, 1)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _trend(samples):
    """Least-squares slope of heap over time, bytes per minute."""
    if len(samples) < 3:
        return 0.0
    xs = [s["t"] / 60000 for s in samples]
    ys = [s["heap"] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


class Soak:
    """One soak run.  ``run()`` returns a result dict; ``result["failures"]``
    is empty when the run passed."""

    def __init__(self, seconds=60, restart_every=20, rate=0, heap_bound=2048, warmup_s=10,
                 command_every=0.5, workdir=None, log=None, keepalive=10):
        self.seconds = seconds
        self.restart_every = restart_every
        self.rate = rate
        self.heap_bound = heap_bound
        self.warmup_s = warmup_s
        self.command_every = command_every
        self.keepalive = keepalive
        self.workdir = workdir or tempfile.mkdtemp(prefix="iotlink-soak-")
        self.log = log or (lambda s: None)
        self.lines = []
        self.samples = []
        self._up = threading.Event()
        self._cond = threading.Condition()

    # ----- the device ------------------------------------------------------

    def _read(self, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                self.lines.append(line)
                if line.startswith("SAMPLE "):
                    w = line.split()
                    self.samples.append({"t": int(w[1]), "heap": int(w[2]), "outbox": int(w[3]),
                                         "inbox": int(w[4]), "pid": int(w[5]),
                                         "connected": w[6] == "1", "made": int(w[7])})
                elif line == "STATUS up":
                    self._up.set()
                elif line == "STATUS down":
                    self._up.clear()
                self._cond.notify_all()

    def _wait_up(self, timeout=15):
        return self._up.wait(timeout)

    # ----- the run ---------------------------------------------------------

    def run(self):
        b = Mosquitto(extra="persistence true\npersistence_location %s/\n"
                            "max_queued_messages 0\nmax_inflight_messages 0" % self.workdir,
                      workdir=self.workdir)
        b.start()
        watcher = _Watcher(b.port)
        cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": b.port, "client_id": "soak1",
                         "keepalive": self.keepalive, "timeout_ms": 3000},
               "session": {"backoff_min_ms": 100, "backoff_max_ms": 1000, "outbox": 200,
                           "stable_ms": 1000}}
        cfg_path = os.path.join(self.workdir, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        script = os.path.join(self.workdir, "soak_device.py")
        with open(script, "w") as f:
            f.write(DEVICE)
        proc = upy.start(script, args=(cfg_path, str(int(self.seconds * 1000)), "1000", str(self.rate)),
                         cwd=self.workdir)
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()
        sent = {}        # command id -> n, only commands sent while the device was up
        restarts = 0
        t0 = time.monotonic()
        try:
            if not self._wait_up():
                raise RuntimeError("device never connected:\n" + "\n".join(self.lines[-20:]))
            next_restart = t0 + self.restart_every if self.restart_every else None
            next_cmd = time.monotonic() + 1
            k = 0
            while proc.poll() is None and time.monotonic() - t0 < self.seconds - 1:
                now = time.monotonic()
                if next_restart and now >= next_restart and now - t0 < self.seconds - 5:
                    self.log("restarting the broker (%d)" % (restarts + 1))
                    # cleared before the stop: a device back within the restart
                    # itself must not have its "up" wiped afterwards
                    self._up.clear()
                    b.stop()
                    time.sleep(0.5)
                    b.start()
                    restarts += 1
                    if not self._wait_up():
                        self.log("the device is not back 15 s after a broker restart")
                    time.sleep(0.5)      # the device has subscribed again
                    next_restart = t0 + (restarts + 1) * self.restart_every
                    next_cmd = time.monotonic() + 0.5
                elif now >= next_cmd and self._up.is_set() and watcher.up.is_set() and \
                        not (next_restart and next_restart - now < 1.0):
                    # (no command in the last second before a restart: it could go with it)
                    k += 1
                    rid = "s%d" % k
                    # queued with paho, not waited for: the host's own load must not
                    # thin out the commands the device is tested with
                    watcher.c.publish(BASE + "/down/command/ping",
                                      json.dumps({"id": rid, "params": {"n": k}}), 1)
                    sent[rid] = k
                    next_cmd = now + self.command_every
                time.sleep(0.05)
            proc.wait(self.seconds + 60)
            time.sleep(0.2)
            end = [l for l in self.lines if l.startswith("END ")]
            if not end:
                raise RuntimeError("device did not finish:\n" + "\n".join(self.lines[-30:]))
            last = int(end[-1].split()[1])
            stats = json.loads(end[-1].split(" ", 2)[2])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with watcher.lock:
                    if last < 0 or last in watcher.reports:
                        break
                time.sleep(0.1)
            time.sleep(0.5)
            with watcher.lock:
                reports = list(watcher.reports)
                replies = dict(watcher.replies)
        finally:
            if proc.poll() is None:
                proc.kill()
            watcher.close()
            b.stop()
        return self._verdict(last, stats, reports, replies, sent, restarts, time.monotonic() - t0)

    def _verdict(self, last, stats, reports, replies, sent, restarts, elapsed):
        fails = []
        first = list(dict.fromkeys(reports))
        missing = sorted(set(range(last + 1)) - set(first))
        if missing:
            fails.append("%d reports missing (first: %s)" % (len(missing), missing[:10]))
        elif first != list(range(last + 1)):
            fails.append("reports arrived out of order")
        if stats.get("dropped"):
            fails.append("the library dropped %d queued messages" % stats["dropped"])
        if stats.get("inbox_dropped"):
            fails.append("the library refused %d downlinks (inbox full)" % stats["inbox_dropped"])
        runs = {}
        for l in self.lines:
            if l.startswith("CMD "):
                runs[l[4:]] = runs.get(l[4:], 0) + 1
        unanswered = [rid for rid in sent if not replies.get(rid)]
        if unanswered:
            fails.append("%d commands unanswered: %s" % (len(unanswered), unanswered[:10]))
        twice = [rid for rid in sent if runs.get(rid, 0) > 1]
        if twice:
            fails.append("command handler ran more than once for %s" % twice[:10])
        # heap after warm-up
        post = [s for s in self.samples if s["t"] >= self.warmup_s * 1000]
        heap = {}
        if len(post) >= 6:
            head = statistics.median(s["heap"] for s in post[:5])
            tail = statistics.median(s["heap"] for s in post[-5:])
            heap = {"min": min(s["heap"] for s in post), "max": max(s["heap"] for s in post),
                    "first": int(head), "last": int(tail), "growth": int(tail - head),
                    "trend_per_min": round(_trend(post), 1)}
            if tail - head > self.heap_bound:
                fails.append("heap grew %d bytes after warm-up (bound %d)" % (tail - head, self.heap_bound))
            up = [s for s in post if s["connected"]]
            if len(up) >= 6:
                q0 = max(s["outbox"] for s in up[:len(up) // 2])
                q1 = max(s["outbox"] for s in up[len(up) // 2:])
                i0 = max(s["inbox"] for s in up[:len(up) // 2])
                i1 = max(s["inbox"] for s in up[len(up) // 2:])
                heap["outbox_max"], heap["inbox_max"] = max(q0, q1), max(i0, i1)
                if q1 > q0 + 2 or i1 > i0 + 2:
                    fails.append("queues grow while connected: outbox %d -> %d, inbox %d -> %d"
                                 % (q0, q1, i0, i1))
        else:
            fails.append("too few heap samples after warm-up (%d)" % len(post))
        pids = [s["pid"] for s in self.samples if s["pid"] > 0]
        wraps = sum(1 for a, b in zip(pids, pids[1:]) if b < a)
        total_pids = stats.get("sent", 0) + stats.get("replies", 0)
        return {"failures": fails, "seconds": round(elapsed, 1), "reports": last + 1,
                "received": len(reports), "duplicates": len(reports) - len(first),
                "rate": round((last + 1) / max(self.seconds, 1), 1),
                "commands": len(sent), "answered": len(sent) - len(unanswered),
                "restarts": restarts, "reconnects": stats.get("reconnects"),
                "pid_wraps": wraps, "qos1_publishes": total_pids,
                "heap": heap, "stats": stats}


def report(result):
    h = result["heap"]
    lines = ["soak: %(seconds)s s, %(reports)d reports (%(rate)s/s), %(received)d received "
             "(%(duplicates)d duplicates), %(answered)d/%(commands)d commands answered, "
             "%(restarts)d broker restarts (%(reconnects)s reconnects), packet ids wrapped "
             "%(pid_wraps)d times" % result]
    if h:
        lines.append("heap after warm-up: min %(min)d max %(max)d first %(first)d last %(last)d "
                     "growth %(growth)d bytes, trend %(trend_per_min)s bytes/min" % h)
        if "outbox_max" in h:
            lines.append("while connected: outbox at most %(outbox_max)d, inbox at most %(inbox_max)d" % h)
    lines.append("PASS" if not result["failures"] else "FAIL: " + "; ".join(result["failures"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="iotlink soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10, help="how long the device runs")
    ap.add_argument("--restart-every", type=float, default=60,
                    help="restart the broker every this many seconds (0: never)")
    ap.add_argument("--rate", type=int, default=0, help="reports per second (0: as fast as acked)")
    ap.add_argument("--heap-bound", type=int, default=2048,
                    help="allowed heap growth after warm-up, bytes")
    ap.add_argument("--warmup", type=float, default=10, help="seconds before heap is judged")
    args = ap.parse_args(argv)
    s = Soak(seconds=args.minutes * 60, restart_every=args.restart_every, rate=args.rate,
             heap_bound=args.heap_bound, warmup_s=args.warmup,
             log=lambda m: print("soak: " + m, flush=True))
    print("soak: %.1f minutes; the device prints heap once a second" % args.minutes, flush=True)
    result = s.run()
    print(report(result))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
