"""Heap on MicroPython's own rp2 firmware (the Pico W image, in the RP2040
emulator): free heap after boot, after ``import iotlink`` and with a Device
built (codec loaded, one report queued), the library from .py and from .mpy;
the same for ``iotlink.aio`` (its Device on plain MQTT).

The emulated chip has no radio, so nothing connects; what is measured is the
32-bit port's real object sizes, module set and fixed heap.
"""

import json
import os

from .. import paths

BOARD = "picow"
# plain MQTT and IoTDA (TLS, its CA on the board's root as deploy puts it)
CONFIGS = {
    "mqtt": {"cloud": {"type": "mqtt", "host": "192.0.2.1", "client_id": "bench-rp2"}},
    "iotda": {"cloud": {"type": "iotda", "host": "192.0.2.1", "device_id": "bench_rp2", "secret": "s3cret-bench",
                        "ca": "ca.der"}},
}

_SCRIPT = """
import gc, json
gc.collect()
boot = gc.mem_free()
%s
gc.collect()
imported = gc.mem_free()
dev = %s(json.loads(%r))
dev.report({"temperature": 21.5, "humidity": 40})
gc.collect()
print(json.dumps({"boot": boot, "import": imported, "device": gc.mem_free(), "queued": len(dev._out),
                  "heap": gc.mem_free() + gc.mem_alloc()}))
"""


def collect(workdir, log=print):
    """{"py"|"mpy": {cloud: figures}} or {"skipped": reason}."""
    from .. import emu
    from ..board_tools import _umqtt
    from ..cli import build
    from ..emu.board import Board, tree
    why = emu.unavailable(BOARD)
    if why:
        return {"skipped": why}
    mpy = os.path.join(workdir, "rp2-armv6m")
    build("armv6m", mpy)
    from ..certs import make_ca, pem_to_der
    ca = [(pem_to_der(make_ca(os.path.join(workdir, "rp2-ca"))["ca"], os.path.join(workdir, "ca.der")), "ca.der")]
    sources = {"py": tree(paths.LIB, "lib") + [(_umqtt(None), "lib/umqtt/simple.py")] + ca,
               "mpy": tree(mpy, "lib") + [(_umqtt("armv6m"), "lib/umqtt/simple.mpy")] + ca}
    out = {}
    for kind, files in sources.items():
        log("bench: rp2 firmware (emulated), library from .%s" % kind)
        with emu.Emulator(BOARD, echo=False) as e, Board(e.port) as b:
            b.put(files)
            out[kind] = {}
            runs = [(cloud, "from iotlink.device import Device", "Device", cfg) for cloud, cfg in CONFIGS.items()]
            runs.append(("mqtt, iotlink.aio", "from iotlink import aio", "aio.Device", CONFIGS["mqtt"]))
            for row, imports, make, cfg in runs:
                text = b.run(_SCRIPT % (imports, make, json.dumps(cfg)), timeout=300)
                out[kind][row] = json.loads(text.strip().splitlines()[-1])
    return out


def render(res):
    """The markdown section (lines)."""
    L = ["## rp2 firmware (emulated)", ""]
    if "skipped" in res:
        return L + ["Not measured: %s." % res["skipped"], ""]
    first = next(iter(res["mpy"].values()))
    L += ["MicroPython v1.28.0, RPI_PICO_W image, in rp2040js (no radio: nothing connects): a GC heap of "
          "%d bytes.  Free heap is `gc.mem_free()` after `gc.collect()`, in bytes; each figure is taken "
          "after a soft reset, the script itself compiled and held." % first["heap"], "",
          "| rp2 firmware (emulated) | from | free after boot | after importing the driver (`iotlink.device` or `iotlink.aio`) | with a Device "
          "(codec loaded, 1 report queued) | import holds | Device holds |",
          "|---|---|---|---|---|---|---|"]
    for kind in ("py", "mpy"):
        for cloud, f in res.get(kind, {}).items():
            L.append("| %s | .%s | %d | %d | %d | %d | %d |" % (
                cloud, kind, f["boot"], f["import"], f["device"], f["boot"] - f["import"],
                f["import"] - f["device"]))
    return L + [""]


