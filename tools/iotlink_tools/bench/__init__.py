"""Benchmarks: iotlink against raw umqtt.simple on the same scenario, same run
(and iotlink.aio against asyncio MQTT clients: asyncio_peers).

``iotlink bench`` (``main()``) measures, on the MicroPython unix port against
real mosquitto and the local clouds:

* the minimum heap (``micropython -X heapsize=``, found by bisection) that
  completes the standard scenario: connect, subscribe, 1 command answered,
  10 QoS 1 reports.  Raw umqtt.simple doing it by hand, and iotlink with each
  cloud that has a local stand-in, from .py and from .mpy;
* heap allocated per ``report()`` and per handled command (gc disabled,
  ``gc.mem_alloc()`` deltas over many calls);
* QoS 1 reports per second, iotlink against raw umqtt as shipped and raw
  umqtt with TCP_NODELAY (the Device sets it; umqtt does not);
* the .mpy size of each module for xtensawin and armv6m and of a typical
  install (the modules one cloud's session imports, plus umqtt.simple);
* where the bytes of a session go (import cost per module from .mpy, the
  Device object, the connection).

It prints a table and writes BENCHMARKS.md at the top of the checkout.
"""

import datetime
import errno
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading

from .. import paths, upy
from ..broker import Mosquitto

HERE = os.path.dirname(__file__)
# targets the project holds itself to (see BENCHMARKS.md)
TARGET_HEAP_RATIO = 2.5
TARGET_HEAP_KB = 40
TARGET_REPORT_ALLOC = 1024
TARGET_RATE_RATIO = 0.5
ROUNDS = 5
# the MicroPython binary the scenarios run on (None: the venv's); main() sets
# it from --micropython, e.g. a 32-bit build for a board's object sizes
MICROPYTHON = None
BREAKDOWN_ORDER = ("umqtt.simple", "iotlink.errors", "iotlink.log", "iotlink.clock",
                   "iotlink.request", "iotlink.linkbase", "iotlink.config", "iotlink.sign",
                   "iotlink.tls", "iotlink.clouds")


# ----- the clouds under test ----------------------------------------------------

class Target:
    """A cloud to run the scenario against: its device config and a thread
    that, while armed, keeps sending the one command until one is answered
    (``send()`` returns true), so no command arrives while figures are taken."""

    def __init__(self, name, cfg, send, close, on_arm=None):
        self.name = name
        self.cfg = cfg
        self._send = send
        self._close = close
        self._on_arm = on_arm
        self.active = threading.Event()
        self._stop = threading.Event()
        threading.Thread(target=self._poke, daemon=True).start()

    def arm(self):
        if self._on_arm:
            self._on_arm()
        self.active.set()

    def _poke(self):
        while not self._stop.is_set():
            if self.active.is_set():
                try:
                    if self._send():
                        self.active.clear()
                except Exception:
                    pass
            self._stop.wait(0.2)

    def close(self):
        self._stop.set()
        self.active.clear()
        self._close()


def _mqtt_target(workdir):
    from ..console import Console
    b = Mosquitto(workdir=tempfile.mkdtemp(prefix="bench-mosq-", dir=workdir)).start()
    con = Console(b.port).subscribe("iotlink/bench/up/reply", 0)
    cfg = {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": b.port, "client_id": "bench",
                     "keepalive": 60}}

    def send():
        with con._cv:
            if con.messages:
                return True
        con.publish("iotlink/bench/down/command/go", b'{"id":"1"}', qos=0)
        return False

    def clear():
        with con._cv:
            del con.messages[:]

    def close():
        con.close()
        b.stop()

    t = Target("mqtt", cfg, send, close, clear)
    t.port = b.port
    return t


def _iotda_target(workdir):
    from ..sims.iotda import LocalIoTDA
    sim = LocalIoTDA({"bench_dev": "bench-secret-01"}).start()
    cfg = sim.config("bench_dev", tls=False, keepalive=60)
    return Target("iotda", cfg, lambda: sim.send_command("bench_dev", "svc", "go", {}, timeout=1)
                  is not None, sim.stop)


def _sim_target(name, workdir):
    mod = __import__("iotlink_tools.sims." + name, fromlist=["Sim"])
    cls = getattr(mod, "Sim", None)
    if cls is None or not hasattr(cls, "command") or not hasattr(cls, "demo_config"):
        return "no local stand-in with commands (receive-only or no Sim)"
    sim = cls(os.path.join(workdir, "sim-" + name)).start()
    cfg = sim.demo_config()
    if cfg["cloud"].get("tls"):
        sim.stop()
        return "the local stand-in's demo device uses TLS (not comparable with raw umqtt here)"
    return Target(name, cfg, lambda: sim.command("go", {}, timeout=1) is not None, sim.stop)


def targets(workdir, only=None):
    """[(name, Target or the reason it is skipped)] for every cloud in clouds.TYPES."""
    sys.path.insert(0, paths.LIB)
    try:
        types = _cloud_types()
    finally:
        sys.path.remove(paths.LIB)
    out = []
    for name in types:
        if only and name not in only:
            continue
        try:
            if name == "mqtt":
                t = _mqtt_target(workdir)
            elif name == "iotda":
                t = _iotda_target(workdir)
            elif os.path.exists(os.path.join(HERE, "..", "sims", name + ".py")):
                t = _sim_target(name, workdir)
            else:
                t = "no local stand-in"
        except Exception as e:
            t = "local stand-in failed to start: %s" % e
        out.append((name, t))
    return out


def _cloud_types():
    """clouds.TYPES read from the source (no MicroPython imports on the host)."""
    import ast
    src = open(os.path.join(paths.LIB, "iotlink", "clouds", "__init__.py")).read()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "TYPES":
            return list(ast.literal_eval(node.value))
    return ["mqtt"]


# ----- running the scenarios ------------------------------------------------------

def compile_lib(out_dir, arch=None, with_umqtt=False):
    """lib/ compiled with mpy-cross (bytecode only unless ``arch``): {rel path: size}.
    ``with_umqtt``: umqtt.simple (the dependency) as well, into the same folder."""
    sizes = {}
    trees = [paths.LIB] + ([os.path.join(paths.DEPS)] if with_umqtt else [])
    for folder, _, files in (w for t in trees for w in os.walk(t)):
        if folder.startswith(paths.DEPS) and "umqtt" not in folder:
            continue
        for f in sorted(files):
            if f.endswith(".py"):
                src = os.path.join(folder, f)
                rel = os.path.relpath(src, paths.DEPS if folder.startswith(paths.DEPS) else paths.LIB)
                dst = os.path.join(out_dir, rel[:-3] + ".mpy")
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                cmd = [sys.executable, "-m", "mpy_cross", "-o", dst, "-s", rel, src]
                if arch:
                    cmd.insert(3, "-march=" + arch)
                subprocess.run(cmd, check=True, capture_output=True)
                sizes[rel] = os.path.getsize(dst)
    return sizes


def _umqtt_size(arch):
    src = os.path.join(paths.DEPS, "umqtt", "simple.py")
    with tempfile.TemporaryDirectory() as d:
        dst = os.path.join(d, "simple.mpy")
        subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", dst, src],
                       check=True, capture_output=True)
        return os.path.getsize(dst)


def romfs_image(mpy_dir, path):
    """A ROMFS image (MicroPython >= 1.25, ``mpremote romfs``'s format) of the
    compiled library and umqtt in ``mpy_dir``; returns its size."""
    from mpremote.romfs import make_romfs
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):  # it lists every file
        img = make_romfs(mpy_dir, mpy_cross=False)
    with open(path, "wb") as f:
        f.write(img)
    return len(img)


def run_script(script, args, heap=None, mpy_dir=None, timeout=60, target=None, romfs=None,
               path=()):
    """Run a bench script on the unix port: {KEY: value} of its output, or None
    when it did not complete (MemoryError, timeout, no command).  ``mpy_dir``:
    import the compiled library from there; ``romfs``: from that ROMFS image;
    ``path``: source folders put first on the module path (a peer library)."""
    env = upy.env(extra_path=path)
    if mpy_dir:  # the compiled library and umqtt only, no sources
        env["MICROPYPATH"] = ":".join([mpy_dir, ".frozen"])
    args = [str(a) for a in args]
    if romfs:
        args = [romfs, os.path.join(HERE, script)] + args
        script = "romfs_run.py"
    cmd = upy.command(os.path.join(HERE, script), heap=heap, args=args, exe=MICROPYTHON)
    if target is not None:
        target.arm()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if target is not None:
            target.active.clear()
    if r.returncode or "DONE" not in r.stdout:
        return None
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        if k.isupper():
            out[k] = v
    return out


def min_heap(script, args, target, mpy_dir=None, lo=1, hi=256, romfs=None, path=()):
    """Smallest -X heapsize (KiB) that completes the scenario, by bisection;
    None when even ``hi`` does not.  With ``romfs`` (an image path) the scenario
    runs under romfs_run.py, and what that costs by itself (the image's heap
    block, the wrapper) is taken away: on a board the image is in flash and
    mounted by the firmware.  That difference of two bisections is taken in
    256-byte steps, so the KiB figure is not off by the rounding of both."""
    if not romfs:
        got = _bisect(script, args, target, mpy_dir, lo * 1024, hi * 1024, 1024, path=path)
        return None if got is None else got // 1024
    size = os.path.getsize(romfs)
    got = _bisect(script, args, target, None, size, size + hi * 1024, 256, romfs, path)
    if got is None:
        return None
    return -(-(got - romfs_overhead(romfs)) // 1024)  # whole KiB, rounded up


def _bisect(script, args, target, mpy_dir, lo, hi, step, romfs=None, path=()):
    """Smallest heap in bytes (a multiple of ``step``) above ``lo`` that completes."""
    def ok(n):
        # a failure is tried twice: a run can fail for a reason other than heap
        # (a stand-in's flow control, a slow command), which would bend the search
        return any(run_script(script, args, heap=str(n), mpy_dir=mpy_dir, target=target, romfs=romfs,
                              path=path)
                   for _ in range(2))
    return smallest(ok, lo, hi, step)


def smallest(ok, lo, hi, step):
    """Smallest multiple of ``step`` in (lo, hi] for which ``ok`` holds, by
    bisection; None when not even ``hi``.  A spurious failure (twice in a row
    at a heap that does complete) sends a bisection up for good, so the
    result is checked one step lower, and when that completes, searched
    again below it: one more trial when the search went right."""
    if not ok(hi):
        return None
    floor = lo
    while True:
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if mid <= lo:
                break
            if ok(mid):
                hi = mid
            else:
                lo = mid
        if hi - step <= floor or not ok(hi - step):
            return hi
        hi -= step
        lo = floor


_overhead = {}


def romfs_overhead(romfs):
    """Bytes that romfs_run.py needs beyond a bare interpreter (the image block,
    the wrapper), measured: the bisection of an empty script with and without
    the wrapper."""
    if romfs not in _overhead:
        size = os.path.getsize(romfs)
        _overhead[romfs] = (_bisect("scenario_empty.py", (), None, None, size, size + 65536, 256, romfs)
                            - _bisect("scenario_empty.py", (), None, None, 0, 65536, 256))
    return _overhead[romfs]


def _write_cfg(workdir, name, cfg):
    path = os.path.join(workdir, "bench-%s.json" % name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def breakdown(cfg_path, modules, mpy_dir, workdir, target):
    """Import cost per module (own, leaves first), Device(), connect and the
    scenario, from .mpy.  The package's __init__ is stubbed so each submodule
    can be imported alone."""
    stub = os.path.join(workdir, "mpy-stub")
    if os.path.exists(stub):
        shutil.rmtree(stub)
    shutil.copytree(mpy_dir, stub)
    init = os.path.join(stub, "iotlink", "__init__.mpy")
    src = os.path.join(workdir, "__init__.py")
    with open(src, "w") as f:
        f.write("")
    subprocess.run([sys.executable, "-m", "mpy_cross", "-o", init, src], check=True, capture_output=True)
    order = [m for m in BREAKDOWN_ORDER if m in modules]
    order += sorted(m for m in modules if m not in order and m not in ("iotlink", "iotlink.device"))
    order.append("iotlink.device")
    script = os.path.join(HERE, "scenario_breakdown.py")
    env = upy.env()
    env["MICROPYPATH"] = ":".join([stub, ".frozen"])
    target.arm()
    try:
        r = subprocess.run(upy.command(script, args=[cfg_path, ",".join(order)], exe=MICROPYTHON), env=env,
                           capture_output=True, text=True, timeout=60)
    finally:
        target.active.clear()
    steps = []
    for line in r.stdout.splitlines():
        if line.startswith("STEP "):
            _, n, what = line.split(" ", 2)
            steps.append((what, int(n)))
        elif line.startswith("qstr pool:"):
            # n_pool=5, n_qstr=366, n_str_data_bytes=3350, n_total_bytes=10486
            q = dict(kv.split("=") for kv in line.split(":", 1)[1].replace(" ", "").split(","))
            steps.append(("(of the above: the qstr pool, %s interned names and their text)"
                          % q["n_qstr"], int(q["n_total_bytes"])))
    return steps if "DONE" in r.stdout else None


# ----- the whole run ---------------------------------------------------------------

def _fmt(v, unit=""):
    return "-" if v is None else "%s%s" % (v, unit)


def bits():
    """64 or 32: the word size of the MicroPython the scenarios run on."""
    out = subprocess.run([MICROPYTHON or upy.micropython_exe(), "-c", "import sys; print(sys.maxsize)"],
                         capture_output=True, text=True).stdout
    return 64 if int(out) > 2 ** 31 else 32


def collect(workdir, only=None, log=print, mqtt_as_dir=None):
    """Every figure, as a dict (what BENCHMARKS.md is written from)."""
    res = {"when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": "%s %s, %d CPUs, Python %s" % (platform.system(), platform.machine(),
                                                   os.cpu_count() or 0, platform.python_version()),
           "micropython": subprocess.run([MICROPYTHON or upy.micropython_exe(), "-c",
                                          "import sys; print(sys.version)"],
                                         capture_output=True, text=True).stdout.strip(),
           "bits": bits(),
           "clouds": {}, "skipped": {}}
    mpy = os.path.join(workdir, "mpy")
    compile_lib(mpy, with_umqtt=True)
    rom = os.path.join(workdir, "lib.romfs")
    res["romfs_size"] = romfs_image(mpy, rom)
    res["romfs_overhead"] = romfs_overhead(rom)
    sizes = {arch: compile_lib(os.path.join(workdir, arch), arch) for arch in ("xtensawin", "armv6m")}
    res["sizes"] = sizes
    res["umqtt_size"] = {arch: _umqtt_size(arch) for arch in sizes}
    from . import rp2
    res["rp2"] = rp2.collect(workdir, log)
    for name, t in targets(workdir, only):
        if isinstance(t, str):
            res["skipped"][name] = t
            log("bench: %s skipped: %s" % (name, t))
            continue
        try:
            log("bench: %s" % name)
            row = {}
            cfg_path = _write_cfg(workdir, name, t.cfg)
            if name == "mqtt":
                port = t.port
                res["raw"] = {
                    "min_heap": min_heap("scenario_raw.py", (port, "min", "0"), t),
                    "min_heap_mpy": min_heap("scenario_raw.py", (port, "min", "0"), t, mpy_dir=mpy),
                    "min_heap_romfs": min_heap("scenario_raw.py", (port, "min", "0"), t, romfs=rom)}
            # five rounds, raw and iotlink interleaved: loopback rates swing with
            # whatever else the machine runs, so the ratio is taken per round
            # (raw and iotlink side by side in time) and the median reported
            ms, raws, shipped = [], [], []
            for _ in range(ROUNDS):
                if name == "mqtt":
                    raws.append(run_script("scenario_raw.py", (port, "measure", "1", 5000), target=t) or {})
                ms.append(run_script("scenario_iotlink.py", (cfg_path, "measure", 5000), target=t) or {})
            if name == "mqtt":
                shipped.append(run_script("scenario_raw.py", (port, "measure", "0", 100), target=t) or {})
                res["raw"].update({
                    "session_heap": _median(raws, "SESSION_HEAP"),
                    "per_report": _median(raws, "PER_REPORT_ALLOC"),
                    "per_command": _median(raws, "PER_COMMAND_ALLOC"),
                    "rate_nodelay": _median(raws, "RATE"), "rate_shipped": _median(shipped, "RATE"),
                    "rate_runs": [int(r["RATE"]) for r in raws if r.get("RATE")]})
                log("bench: raw umqtt %s" % res["raw"])
            m = next((x for x in ms if x), {})
            row["session_heap"] = _median(ms, "SESSION_HEAP")
            row["per_report"] = _median(ms, "PER_REPORT_ALLOC")
            row["per_command"] = _median(ms, "PER_COMMAND_ALLOC")
            row["rate"] = _median(ms, "RATE")
            row["rate_runs"] = [int(r["RATE"]) for r in ms if r.get("RATE")]
            if name == "mqtt":
                pairs = [int(b["RATE"]) / int(a["RATE"]) for a, b in zip(raws, ms)
                         if a.get("RATE") and b.get("RATE")]
                row["rate_ratio"] = round(sorted(pairs)[len(pairs) // 2], 2) if pairs else None
                row["rate_ratio_range"] = (round(min(pairs), 2), round(max(pairs), 2)) if pairs else None
            row["modules"] = (m.get("MODULES") or "").split()
            row["min_heap_py"] = min_heap("scenario_iotlink.py", (cfg_path, "min"), t)
            row["min_heap_mpy"] = min_heap("scenario_iotlink.py", (cfg_path, "min"), t, mpy_dir=mpy)
            row["min_heap_romfs"] = min_heap("scenario_iotlink.py", (cfg_path, "min"), t, romfs=rom)
            if row["modules"]:
                row["breakdown"] = breakdown(cfg_path, row["modules"], mpy, workdir, t)
            if name == "mqtt":
                from . import asyncio_peers
                res["asyncio"] = asyncio_peers.collect(workdir, t, cfg_path, mpy, rom, mqtt_as_dir,
                                                       blocking=row, log=log)
            res["clouds"][name] = row
            log("bench: %s %s" % (name, {k: v for k, v in row.items() if k not in ("modules", "breakdown")}))
        finally:
            t.close()
    return res


def _install(res, modules, arch):
    rels = [m.replace(".", "/") + ".py" for m in modules if m.startswith("iotlink")]
    rels = [r if r in res["sizes"][arch] else r[:-3] + "/__init__.py" for r in rels]
    return sum(res["sizes"][arch].get(r, 0) for r in rels) + res["umqtt_size"][arch]


def _median(runs, key):
    vals = sorted(int(r[key]) for r in runs if r.get(key))
    return vals[len(vals) // 2] if vals else None


def _best(runs, key):
    vals = [int(r[key]) for r in runs if r.get(key)]
    return max(vals) if vals else None


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def render(res):
    """BENCHMARKS.md text."""
    raw = res.get("raw", {})
    clouds = res["clouds"]
    names = list(clouds)
    L = ["# Benchmarks", "",
         "Generated by `iotlink bench` on %s (%s; %s).  Every figure comes from the" % (
             res["when"], res["machine"], res["micropython"]),
         "MicroPython unix port talking to a real mosquitto (plain MQTT, loopback) or a",
         "local cloud stand-in in front of one; TLS is not part of these figures.  The",
         "standard scenario: connect, subscribe, 1 command answered, 10 QoS 1 reports.", "",
         "## Side by side", "",
         "| figure | raw umqtt.simple | " + " | ".join("iotlink %s" % n for n in names) + " |",
         "|---|---|" + "---|" * len(names)]

    def row(label, rawv, key, unit=""):
        L.append("| %s | %s | %s |" % (label, _fmt(rawv, unit),
                                       " | ".join(_fmt(clouds[n].get(key), unit) for n in names)))

    row("minimum heap, scenario from .py (KiB)", raw.get("min_heap"), "min_heap_py")
    row("minimum heap, library and umqtt from .mpy (KiB)", raw.get("min_heap_mpy"), "min_heap_mpy")
    row("minimum heap, library and umqtt in a ROMFS image (KiB, image not counted)",
        raw.get("min_heap_romfs"), "min_heap_romfs")
    row("heap held by the session after the scenario (bytes)", raw.get("session_heap"), "session_heap")
    row("heap allocated per QoS 1 report (bytes)", raw.get("per_report"), "per_report")
    row("heap allocated per handled command + reply (bytes)", raw.get("per_command"), "per_command")
    row("QoS 1 reports per second (raw: with TCP_NODELAY)", raw.get("rate_nodelay"), "rate")
    L.append("")
    L.append("Raw umqtt.simple as shipped (no TCP_NODELAY): %s QoS 1 reports per second; each "
             "publish then waits for the broker's delayed ACK of the small segments." % _fmt(raw.get("rate_shipped")))
    L.append("In the .mpy row umqtt.simple is compiled too (for raw and iotlink alike); the scenario "
             "scripts themselves are .py in both.  Rates are medians of %d interleaved rounds of up to "
             "2 s each (the mqtt ratio is the median of the per-round ratios); heap figures are medians.  "
             "The .mpy files hold bytecode only (no native code), so the xtensawin and armv6m files are the same size "
             "(they would differ only for native code)." % ROUNDS + (
                 "  Figures are for the 64-bit unix port: objects there are larger than on a 32-bit "
                 "ESP32 or RP2040, so boards need less than shown." if res.get("bits", 64) == 64 else
                 "  Figures are for a 32-bit unix port build: objects have a board's sizes."))
    if res.get("romfs_size"):
        L.append("In the ROMFS row the same .mpy files (all of lib/ and umqtt.simple, a %d-byte image "
                 "made with mpremote's ROMFS builder) are mounted with `vfs.VfsRom` and imported from "
                 "there: MicroPython >= 1.25 then runs their bytecode and uses their constants in "
                 "place, as it does from a board's ROMFS partition (`mpremote romfs deploy`, on "
                 "firmware built with ROMFS) or from frozen modules.  The unix port has no flash to "
                 "map, so the image is read into the heap first; what the wrapper needs by itself "
                 "(image block included: the bisection of an empty script with and without it, "
                 "%s bytes) is subtracted." % (res["romfs_size"], res.get("romfs_overhead")))
    for n, why in res["skipped"].items():
        L.append("Not measured: %s (%s)." % (n, why))
    from .rp2 import render as rp2_section
    L += [""] + rp2_section(res.get("rp2") or {"skipped": "not run"})
    L += ["## Against the targets", "",
          "| target | cloud | measured | verdict |", "|---|---|---|---|"]
    misses = []
    for n in names:
        c = clouds[n]
        for label, key, rkey in (("from .py", "min_heap_py", "min_heap"),
                                 ("from .mpy", "min_heap_mpy", "min_heap_mpy"),
                                 ("from ROMFS", "min_heap_romfs", "min_heap_romfs")):
            h, rh = _num(c.get(key)), _num(raw.get(rkey))
            if h is not None and rh:
                ok = h <= TARGET_HEAP_RATIO * rh
                L.append("| minimum heap within %.1f x raw (%s) | %s | %.0f KiB = %.1f x | %s |" % (
                    TARGET_HEAP_RATIO, label, n, h, h / rh, "met" if ok else "MISSED"))
                if not ok:
                    misses.append((n, "heap ratio " + label))
            if h is not None:
                ok = h < TARGET_HEAP_KB
                L.append("| minimum heap below %d KiB (%s) | %s | %.0f KiB | %s |" % (
                    TARGET_HEAP_KB, label, n, h, "met" if ok else "MISSED"))
                if not ok:
                    misses.append((n, "heap below %d KiB %s" % (TARGET_HEAP_KB, label)))
        a = _num(c.get("per_report"))
        if a is not None:
            ok = a < TARGET_REPORT_ALLOC
            L.append("| allocation per report under %d B | %s | %.0f B | %s |" % (
                TARGET_REPORT_ALLOC, n, a, "met" if ok else "MISSED"))
            if not ok:
                misses.append((n, "per-report allocation"))
        r, rr, rs = _num(c.get("rate")), _num(raw.get("rate_nodelay")), _num(raw.get("rate_shipped"))
        if r is not None and rr:
            ratio = c.get("rate_ratio") or r / rr
            ok = ratio >= TARGET_RATE_RATIO
            rng = c.get("rate_ratio_range")
            L.append("| report rate at least %.1f x raw with TCP_NODELAY | %s | %.2f x%s | %s |" % (
                TARGET_RATE_RATIO, n, ratio,
                " (rounds: %.2f..%.2f)" % tuple(rng) if rng else "", "met" if ok else "MISSED"))
            if not ok:
                misses.append((n, "rate"))
        if r is not None and rs:
            L.append("| (report rate against raw as shipped) | %s | %.1f x | - |" % (n, r / rs))
    from .asyncio_peers import render as asyncio_section
    L += [""] + asyncio_section(res.get("asyncio") or {"skipped": "not run"}, res.get("bits", 64))
    L += ["## .mpy sizes (bytes)", "",
          "| module | xtensawin | armv6m |", "|---|---|---|"]
    for rel in sorted(res["sizes"]["xtensawin"]):
        L.append("| %s | %d | %d |" % (rel, res["sizes"]["xtensawin"][rel], res["sizes"]["armv6m"].get(rel, 0)))
    L.append("| umqtt/simple.py (dependency) | %d | %d |" % (res["umqtt_size"]["xtensawin"],
                                                           res["umqtt_size"]["armv6m"]))
    L.append("| all of lib/ | %d | %d |" % (sum(res["sizes"]["xtensawin"].values()),
                                           sum(res["sizes"]["armv6m"].values())))
    L += ["", "Typical install: the modules a session with one cloud imports (read from",
          "`sys.modules` after the scenario) plus umqtt.simple.", "",
          "| install | modules | xtensawin | armv6m |", "|---|---|---|---|"]
    for n in names:
        mods = clouds[n].get("modules") or []
        if mods:
            L.append("| core + %s | %s | %d | %d |" % (n, ", ".join(m for m in mods), _install(res, mods, "xtensawin"),
                                                      _install(res, mods, "armv6m")))
    L += ["", "## Where the heap goes", "",
          "Measured from .mpy with `gc.mem_alloc()` after `gc.collect()` around each step; the",
          "package `__init__` is stubbed so every module's own import cost shows (leaves first).", ""]
    for n in names:
        bd = clouds[n].get("breakdown")
        if not bd:
            continue
        L += ["### %s" % n, "", "| step | bytes |", "|---|---|"]
        L += ["| %s | %d |" % (what, b) for what, b in bd]
        bd = [(what, b) for what, b in bd if not what.startswith("(")]  # parts, not steps
        code = sum(b for what, b in bd if what.startswith("import ") or what == "json")
        rest = sum(b for what, b in bd) - code
        L.append("| total | %d |" % sum(b for _, b in bd))
        L.append("")
        L.append("Code (import rows): %d bytes; the Device, its connection and the scenario: "
                 "%d bytes.  Imported from a ROMFS image or frozen, the bytecode and constants "
                 "of the import rows stay in flash (the ROMFS row above)." % (code, rest))
        L.append("")
    L += ["## Findings", ""]
    if not misses:
        L.append("Every target is met.")
    else:
        L.append("Targets missed: " + "; ".join("%s (%s)" % (n, w) for n, w in misses) + ".")
    L += ["", FINDINGS, ""]
    return "\n".join(L)


FINDINGS = """What the figures show (the text is fixed; the figures above are this run's):

* Code is most of a session's heap.  The breakdown adds up to the "heap held
  by the session" row, and its import rows (bytecode, function objects, class
  and module dicts, and the qstr pool of interned names, shown as its own
  line) are nearly all of it; the Device object and the connection (socket,
  MQTTClient, poller, buffers) are a few KiB.  Raw umqtt.simple holds little
  more than umqtt's own code.
* So where the code lives decides the heap.  From .py the board also compiles
  (the parser's peak is far above the bytecode it leaves): ship .mpy
  (`iotlink build` / `iotlink deploy` do).  From .mpy files the bytecode and
  constants are copied into the heap.  From a ROMFS image (or frozen into the
  firmware: the manifests in the repository do that) they are used in place
  and only function objects, dicts and the qstr pool stay in the heap: the
  ROMFS row.  Raw umqtt.simple gains little there, because its scenario is
  bounded by compiling the scenario script itself.
* Rarely used parts are imported on first use, so a session pays only for
  what it does: in the session layer report coalescing and busy replies
  (flow), get/set answered from state (props), library-internal downlinks
  (system), sub-device handles (child) and refusal texts (retry); in the
  codecs the gateway, OTA, events, shadow, bootstrap and malformed-input
  paths (clouds/<cloud>_*.py).  A module that is never used costs nothing.
* The qstr pool grows by doubling, so a session that interns just past a
  boundary pays for a mostly empty pool: fewer distinct names in the modules
  a session loads is the next lever, then fewer functions (each costs a raw
  code and a function object however small it is).
* Per report, iotlink allocates the JSON text, the topic and the outbox
  tuple (the PUBLISH header comes from a reused buffer).  Clouds whose
  platform answers every report (iotkit's post_reply, thingscloud's
  attributes/response) also receive a downlink per report: umqtt allocates
  its topic and payload (about 400 B) before the codec sees it, which puts
  them over 1 KiB even though the codecs now recognise a plain success answer
  in place without allocating.  In this benchmark the reports are made back to
  back without poll(), so those answers also fill the inbox and take the
  busy path.
* Rates of the clouds with a local stand-in go through that stand-in's front
  door (a Python process relaying every packet) while raw umqtt talks to
  mosquitto directly, so only the mqtt row is a like-for-like rate.  Every
  stand-in's mosquitto runs with TCP_NODELAY: a platform answer written right
  after a PUBACK otherwise waits for the delayed ACK (~40 ms), which is what
  held the thingscloud row to tens of reports per second before.  Loopback
  rates on a shared 2-core machine move by a factor of two between runs; the
  round-by-round range is given with the ratio.
* A downlink that finds the inbox full is not run, but a request that
  expects an answer gets the cloud's error reply ("device busy"), so a
  platform that floods the device is told instead of timing out."""


def _unrunnable(exe):
    """Why ``exe`` cannot run a script (None when it can): a 32-bit build on a
    64-bit machine needs the 32-bit C library, which is not there by default."""
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return "is not an executable file"
    try:
        r = subprocess.run([exe, "-c", "print(1)"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        # ENOENT for a file that exists: its ELF interpreter (loader) is missing
        missing = e.errno == errno.ENOENT and _elf32(exe)
        return "does not start (%s)%s" % (e.strerror, _LIBC32 if missing else "")
    if r.stdout.strip() != "1":
        return "does not run a script: %s" % (r.stderr.strip().splitlines() or ["no output"])[-1]
    return None


_LIBC32 = ("; a 32-bit binary needs the 32-bit C library: "
           "sudo apt-get install libc6-i386")


def _elf32(exe):
    with open(exe, "rb") as f:
        head = f.read(5)
    return head[:4] == b"\x7fELF" and head[4:5] == b"\x01"


def main(args=None):
    argv = getattr(args, "rest", None) if args is not None and not isinstance(args, list) else args
    if argv and argv[0] == "outage":
        from .outage import main as outage
        return outage(argv[1:])
    import argparse
    ap = argparse.ArgumentParser(prog="iotlink bench")
    ap.add_argument("--cloud", action="append", help="only these clouds (repeatable)")
    ap.add_argument("--out", default=os.path.join(paths.ROOT, "BENCHMARKS.md"))
    ap.add_argument("--micropython", metavar="PATH",
                    help="run the scenarios on this MicroPython binary (default: the venv's), "
                         "e.g. a 32-bit unix port for the object sizes of a board")
    ap.add_argument("--rp2-only", action="store_true", help="only the rp2 firmware (emulated) heap row; "
                    "prints it, writes nothing")
    ap.add_argument("--mqtt-as", metavar="DIR", help="a folder holding Peter Hinch's mqtt_as package: "
                    "measured as a peer in the asyncio section (it is not on the package index)")
    ap.add_argument("--asyncio-only", action="store_true", help="only the asyncio section (iotlink.aio, "
                    "the blocking Device, mqtt_as peers): printed and put in place in --out")
    ns = ap.parse_args(argv or [])
    if ns.rp2_only:
        from . import rp2
        workdir = tempfile.mkdtemp(prefix="iotlink-bench-")
        try:
            print("\n".join(rp2.render(rp2.collect(workdir))))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    global MICROPYTHON
    if ns.micropython:
        why = _unrunnable(ns.micropython)
        if why:
            ap.error("--micropython: %s %s" % (ns.micropython, why))
        MICROPYTHON = os.path.abspath(ns.micropython)
    if ns.asyncio_only:
        from . import asyncio_peers
        return asyncio_peers.main(["--out", ns.out] + (["--mqtt-as", ns.mqtt_as] if ns.mqtt_as else []))
    workdir = tempfile.mkdtemp(prefix="iotlink-bench-")
    try:
        only = set(ns.cloud) | {"mqtt"} if ns.cloud else None
        res = collect(workdir, only, mqtt_as_dir=ns.mqtt_as)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = render(res)
    with open(ns.out, "w") as f:
        f.write(text)
    print(text.split("## .mpy sizes")[0])
    print("written: %s" % ns.out)
    return 0
