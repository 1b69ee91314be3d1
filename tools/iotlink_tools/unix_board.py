"""A board made of a folder and the MicroPython unix port: what a reset does
on a real board (boot.py, then main.py, from the board's root), again after
every exit, so app updates and their rollbacks run here for real.

The folder is the board's flash: firmware/main.py, firmware/boot.py, the
unix board.py and config.json are copied in by ``setup()``; the library
comes from lib/ (frozen, as on a board built with it).  A process that ends
is a reset: ``run()`` starts it again until ``boots`` boots are done or
``until(lines)`` says stop.  With the environment variable
IOTLINK_OTA_KILL_AT=K (or NAME:K, counting only the operations ota_app
names NAME: write, move, remove, state, block) the K-th file operation of
an update SIGKILLs the process (power lost at that point).
"""

import os
import shutil
import subprocess
import threading
import time

from . import paths, upy

_BOOT = """# the unix board's reset: boot.py, then main.py, from the board's root
import os, sys
sys.path[0] = ""
#PRELUDE
k = os.getenv("IOTLINK_OTA_KILL_AT") or ""
if k:
    from iotlink import ota_app
    name, _, k = k.rpartition(":")
    k = int(k)
    n = [0]
    def hook(what):
        if name and what != name:
            return
        n[0] += 1
        if n[0] == k:
            print("POWER CUT at %s %d" % (name or "step", k))
            os.system("kill -9 $PPID")
    ota_app.step_hook = hook
exec(open("boot.py").read(), {"__name__": "boot"})
exec(open("main.py").read(), {"__name__": "__main__"})
"""


def setup(root, cfg=None, main=None):
    """Make ``root`` a freshly flashed unix board."""
    import json
    os.makedirs(root, exist_ok=True)
    shutil.copy(main or os.path.join(paths.FIRMWARE, "main.py"), os.path.join(root, "main.py"))
    shutil.copy(os.path.join(paths.FIRMWARE, "boot.py"), os.path.join(root, "boot.py"))
    shutil.copy(os.path.join(paths.BOARDS, "unix", "board.py"), os.path.join(root, "board.py"))
    if cfg is not None:
        with open(os.path.join(root, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
    return root


class Board:
    """The board at ``root`` running; ``lines`` collects its output."""

    def __init__(self, root, echo=None, env=None, heap=None, path=(), prelude=""):
        """``path``: more folders for MICROPYPATH (stand-ins); ``prelude``:
        code run first at every reset (what the chip's bootloader does)."""
        self.root = root
        self.echo = echo
        self.extra_env = dict(env or {})
        self.heap = heap
        self.path = tuple(path)
        self.lines = []
        self.boots = 0
        self.codes = []
        self.proc = None
        self.cv = threading.Condition()
        self._stop = False
        self._thread = None
        self._script = os.path.join(root, "..", os.path.basename(root.rstrip("/")) + "-reset.py")
        with open(self._script, "w") as f:
            f.write(_BOOT.replace("#PRELUDE", prelude))

    def _boot_once(self, env):
        e = upy.env(extra_path=self.path)
        e.update(env)
        cmd = [upy.micropython_exe()] + (["-X", "heapsize=%s" % self.heap] if self.heap else []) + [self._script]
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=e, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        with self.cv:
            self.boots += 1
            self.lines.append("=== boot %d" % self.boots)
            self.cv.notify_all()
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if self.echo:
                self.echo(line)
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        code = self.proc.wait()
        with self.cv:
            self.codes.append(code)
            self.lines.append("=== exit %d" % code)
            self.cv.notify_all()
        return code

    def run(self, boots=10, kill_at=None):
        """Boot up to ``boots`` times in a thread (``kill_at`` on the first boot only)."""
        def loop():
            for i in range(boots):
                if self._stop:
                    break
                env = dict(self.extra_env)
                if kill_at and i == 0:
                    env["IOTLINK_OTA_KILL_AT"] = str(kill_at)
                self._boot_once(env)
            with self.cv:
                self._stop = True
                self.cv.notify_all()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def wait_for(self, pred, timeout=30):
        """Wait until ``pred(lines)`` is true; return it.  TimeoutError when
        it is not within ``timeout`` s, or the board has stopped booting."""
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                r = pred(self.lines)
                if r:
                    return r
                left = end - time.monotonic()
                if self._stop or left <= 0:
                    why = "the board stopped booting" if self._stop else "not shown in %g s" % timeout
                    raise TimeoutError("%s:\n%s" % (why, "\n".join(self.lines[-40:])))
                self.cv.wait(min(left, 0.5))

    @property
    def stopped(self):
        """No more boots will come (all done, or stop() called)."""
        return self._stop

    def wait_line(self, text, timeout=30, since=0):
        return self.wait_for(lambda ls: any(text in x for x in ls[since:]), timeout)

    def stop(self):
        self._stop = True
        p = self.proc
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self._thread:
            self._thread.join(10)
