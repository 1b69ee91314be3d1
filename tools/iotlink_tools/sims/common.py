"""What every `iotlink sim <cloud>` shares: one option parser, a busy-port
check before anything starts, and one way to serve (stdin commands while
stdin is open, then on until Ctrl-C or SIGTERM, with the broker stopped on
every way out).  Also the pieces `iotlink run` uses to show a demo."""

import argparse
import json
import queue
import signal
import socket
import sys
import threading
import time


def parser(cloud, description, port, tls_port=None, tls_help="MQTTS port (0 = any free)"):
    """The options every local cloud takes: --host, --port, --dir (and --tls-port)."""
    ap = argparse.ArgumentParser(prog="iotlink sim " + cloud, description=description)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ap.add_argument("--port", type=int, default=port, help="port (0 = any free; default %(default)s)")
    if tls_port is not None:
        ap.add_argument("--tls-port", type=int, default=tls_port, help=tls_help)
    ap.add_argument("--dir", default=".sim/" + cloud, help="where the test CA and broker files go")
    return ap


def offer(cloud, bundle):
    """--ota: print the app bundle's version and return it; None (the reason
    on stderr, for an exit status of 2) when the file is no bundle."""
    from .files import bundle_version
    try:
        version = bundle_version(bundle)
    except (OSError, ValueError) as e:
        print("iotlink sim %s: --ota %s: %s" % (cloud, bundle, e), file=sys.stderr)
        return None
    print("offering %s version %s" % (bundle, version))
    return version


def busy(host, ports):
    """The first of ``ports`` (0 = any: skipped) that cannot be bound on ``host``, or None."""
    for port in ports:
        if not port:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return port
    return None


def _interrupt(*_):
    raise KeyboardInterrupt


def _read_stdin(lines):
    for line in sys.stdin:
        if line.strip():
            lines.put(line.strip())
    lines.put(None)


def serve(prog, sim, ports, host, show, handle=None, help_text=""):
    """Start ``sim`` (not yet started), call ``show()``, then answer stdin
    lines with ``handle(line)`` until "quit"; once stdin closes keep serving
    until SIGINT/SIGTERM.  A busy port is one line on stderr and exit 2 with
    nothing left running.  Returns the exit status."""
    port = busy(host, ports)
    if port is not None:
        print("%s: port %d on %s is in use (pick another, or 0 for any free port)" % (prog, port, host),
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)   # stop the broker on kill as on Ctrl-C
    try:
        sim.start()
    except OSError as e:   # taken between the check and the bind
        sim.stop()
        print("%s: %s" % (prog, e), file=sys.stderr)
        return 2
    try:
        show()
        sys.stdout.flush()
        lines = queue.Queue()
        if handle:
            threading.Thread(target=_read_stdin, args=(lines,), daemon=True).start()
        while True:
            # short waits: a signal the kernel hands to another thread runs its
            # handler only when the main thread wakes (a long sleep or a blocked
            # read would hold Ctrl-C and SIGTERM off)
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:   # stdin closed (run in the background): serve until a signal
                continue
            if line in ("quit", "exit"):
                return 0
            try:
                out = handle(line)
            except (IndexError, KeyError, ValueError) as e:
                out = "bad input (%s)\n%s" % (e, help_text)
            print(out if isinstance(out, str) else json.dumps(out, indent=1), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        sim.stop()


# ----- for `iotlink run` ------------------------------------------------------

def text(payload):
    if isinstance(payload, dict):
        return json.dumps(payload)
    return payload.decode(errors="replace") if isinstance(payload, bytes) else repr(payload)


def follow(items, show):
    """Print ``show(item)`` for each new entry of the growing list ``items``
    (a local cloud's record of uplinks); None means skip.  Runs in a thread."""
    def run():
        seen = 0
        while True:
            while seen < len(items):
                line = show(items[seen])
                seen += 1
                if line is not None:
                    print("  cloud <- " + line, flush=True)
            time.sleep(0.1)
    threading.Thread(target=run, daemon=True).start()


def operator_steps(sim):
    """The operator of `iotlink run` on a cloud that has commands and property
    set/get (``sim.demo_command/demo_set/demo_get``)."""
    return [lambda: sim.demo_command("ping", {"hello": "board"}),
            lambda: sim.demo_command("led", {"on": True}),
            lambda: sim.demo_get(["led", "interval"]),
            lambda: sim.demo_set({"led": False}),
            lambda: sim.demo_command("nope", {})]
