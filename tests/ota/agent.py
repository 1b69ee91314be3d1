# MicroPython side of the power-cut tests: one step of an update's life in
# the board's root (a host folder, or littlefs on the flash stand-in), with
# the process SIGKILLed at file operation K.  Prints STEPS and the app's TREE.
import hashlib
import json
import os
import sys
from binascii import hexlify

with open(sys.argv[1]) as f:   # a file: this port's argv parsing fails past ~250 bytes
    a = json.load(f)
if a.get("lfs"):
    sys.path.append(a["here"])
    import flash
    flash.mount(a["lfs"], a.get("blocks", 256), fresh=a["do"] == "init")
else:
    os.chdir(a["root"])
from iotlink import ota_app

n = [0]


def hook(what):
    n[0] += 1
    if n[0] == a.get("k"):
        print("KILL", n[0], what)
        os.system("kill -9 $PPID")


ota_app.step_hook = hook


def tree(d=""):
    out = {}
    for e in os.ilistdir(d or "."):
        p = d + e[0]
        if p == ".ota":
            continue
        if e[1] & 0x4000:
            out.update(tree(p + "/"))
        else:
            with open(p, "rb") as f:
                out[p] = hexlify(hashlib.sha256(f.read()).digest()).decode()
    return out


do = a["do"]
if do == "init":
    for p, text in a["files"].items():
        ota_app.makedirs_for(p)
        with open(p, "w") as f:
            f.write(text)
    if a.get("app"):
        ota_app.write_json(".ota/app.json", a["app"])
elif do == "apply":
    try:
        ota_app.Updater(version="1.0.0").apply(a["url"], "1.1.0", a["sha"], a["size"])
        print("APPLIED")
    except ota_app.Refused as e:
        print("REFUSED", e.kind, e)
elif do == "boot":
    print("PHASE", ota_app.boot())
elif do == "undo":
    ota_app.undo(ota_app.load_state(), "install", "trial failed")
print("STATE", ota_app.load_state().get("phase"))
print("STEPS", n[0])
print("TREE", json.dumps(tree()))
