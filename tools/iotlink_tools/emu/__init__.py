"""A virtual Raspberry Pi Pico / Pico W on this computer: MicroPython's own rp2
firmware in the rp2040js emulator, its REPL on a host serial port (a pty) that
mpremote and `iotlink deploy` use like a board's USB port.

The firmware images and the RP2040 bootrom come from ``../shared/firmware/``
beside the checkout (or ``$IOTLINK_RP2_FIRMWARE``), checked against the SHA-256
pinned here; rp2040js comes from npm into ``.node/`` (tools/bootstrap.sh).
The emulated chip has no radio: the Pico W image runs, without Wi-Fi.  It is
about 1000x slower than the unix port and keeps one host core busy while it
runs, so stop it as soon as you are done (``with Emulator(...)`` does).
"""

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from .. import paths

FIRMWARE_DIR = os.environ.get("IOTLINK_RP2_FIRMWARE") or os.path.join(paths.ROOT, "..", "shared", "firmware")
NODE_MODULES = os.path.join(paths.ROOT, ".node", "node_modules")
RUNNER = os.path.join(os.path.dirname(__file__), "rp2040.mjs")
# board -> (file, sha256): MicroPython v1.28.0 builds, the RP2040 B1 bootrom
IMAGES = {
    "pico": ("RPI_PICO-v1.28.0.uf2", "736852bda78bdfacaaab3d5fe02c82d6b147a509da1b723eef5a3fae77735901"),
    "picow": ("RPI_PICO_W-v1.28.0.uf2", "2418b21b56898e5023488c980aa805c03b818f538e00edcf0aa4e3c9d7374e3f"),
}
BOOTROM = ("bootrom-B1.bin", "90b31e108faedfa6bbcfcc33ba05dac61e645108cfbbdc385f8dafc71fde44ae")


class Unavailable(Exception):
    """The emulator cannot run here; the text says what is missing and how to get it."""


def _checked(name, sha):
    path = os.path.abspath(os.path.join(FIRMWARE_DIR, name))
    if not os.path.exists(path):
        raise Unavailable("%s not found in %s (set IOTLINK_RP2_FIRMWARE to the folder holding "
                          "MicroPython v1.28.0's RP2040 images and the bootrom)" % (name, FIRMWARE_DIR))
    with open(path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != sha:
        raise Unavailable("%s: sha256 %s, expected %s" % (path, got, sha))
    return path


def _system_tool(name):
    """A Debian package's program: /usr/bin first, whatever PATH says."""
    for folder in ("/usr/bin", "/usr/local/bin"):
        if os.access(os.path.join(folder, name), os.X_OK):
            return os.path.join(folder, name)
    return shutil.which(name)


def files(board="picow"):
    """(uf2, bootrom) paths for ``board``, checked; raises Unavailable."""
    if board not in IMAGES:
        raise Unavailable("no emulated %r: choose one of %s" % (board, ", ".join(sorted(IMAGES))))
    for tool in ("node", "socat"):
        if not _system_tool(tool):
            raise Unavailable("%s not found: run tools/bootstrap.sh (apt-get install nodejs npm socat)" % tool)
    if not os.path.exists(os.path.join(NODE_MODULES, "rp2040js", "package.json")):
        raise Unavailable("rp2040js not installed in %s: run tools/bootstrap.sh" % NODE_MODULES)
    return _checked(*IMAGES[board]), _checked(*BOOTROM)


def unavailable(board="picow"):
    """Why the emulator cannot run here, or None."""
    try:
        files(board)
    except Unavailable as e:
        return str(e)
    return None


class Emulator:
    """One virtual board.  ``port`` is its serial port once started; every
    machine.reset() keeps the flash and the port (reconnect afterwards).
    ``flash_state`` keeps the 2 MB flash (littlefs included) in a file across runs."""

    def __init__(self, board="picow", flash_state=None, echo=True, port=None):
        self.board = board
        self.uf2, self.bootrom = files(board)
        self.dir = tempfile.mkdtemp(prefix="iotlink-emu-")
        self.port = os.path.abspath(port) if port else os.path.join(self.dir, "tty" + board.upper())
        self.flash_state = flash_state
        self.echo = echo
        self.output = os.path.join(self.dir, "serial.log")
        self.resets = 0
        self.proc = None
        self._lines = queue.Queue()

    def start(self, timeout=60):
        cmd = [_system_tool("node"), RUNNER, "--modules", NODE_MODULES, "--uf2", self.uf2, "--bootrom", self.bootrom,
               "--link", self.port, "--socat", _system_tool("socat")]
        if self.flash_state:
            cmd += ["--flash-state", os.path.abspath(self.flash_state)]
        if self.echo:
            cmd.append("--echo")
        with open(self.output, "wb") as log:
            # own process group: stop() ends node and its socat together, and nothing else
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
        threading.Thread(target=self._read_status, daemon=True).start()
        try:
            self._wait_for("READY", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_status(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("RESET "):
                self.resets = int(line[6:])
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for(self, word, timeout):
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("the emulated %s did not say %s within %d s" % (self.board, word, timeout))
            if line is None:
                raise RuntimeError("the emulator stopped (exit %s):\n%s" % (self.proc.wait(), self.serial()[-2000:]))
            if line.startswith(word):
                return line

    def wait_reset(self, count, timeout=30):
        """Wait until the board has been reset ``count`` times in all."""
        end = time.monotonic() + timeout
        while self.resets < count:
            if time.monotonic() > end:
                raise TimeoutError("the emulated %s was not reset" % self.board)
            if self.proc.poll() is not None:
                raise RuntimeError("the emulator stopped (exit %s)" % self.proc.returncode)
            time.sleep(0.05)

    def serial(self):
        """Everything the board has printed so far (with echo on), and the runner's own notes;
        readable until stop()."""
        with open(self.output, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the runner ends on EOF and saves the flash state
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of node + socat
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
