"""Following a MicroPython process's output from the host."""

import json
import os
import queue
import re
import subprocess
import threading
import time

from iotlink_tools import paths, upy

ORG = "416358930172"
KEY = "8A3E6F1B2C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7"


def base_cfg(**cloud):
    c = {"type": "sensecap", "org_id": ORG, "access_key": KEY, "client_suffix": "t1"}
    c.update(cloud)
    return {"cloud": c}


class Lines:
    """A background process's output, line by line, with timeouts."""

    def __init__(self, proc):
        self.proc = proc
        self.q = queue.Queue()
        self.all = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.all.append(line.rstrip("\n"))
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def expect(self, pattern, timeout=15):
        """The first new line matching ``pattern`` (a regex): its match object."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            try:
                line = self.q.get(timeout=max(0.01, left))
            except queue.Empty:
                line = False
            if line is None or line is False or left <= 0:
                raise AssertionError("no line matching %r; output so far:\n%s"
                                     % (pattern, "\n".join(self.all)))
            m = re.search(pattern, line)
            if m:
                return m

    def finish(self, timeout=20):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        time.sleep(0.05)
        return "\n".join(self.all)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def start(tmp_path, script_text, cfg, extra_path=()):
    """Write config.json and a script into tmp_path and run it on the unix port."""
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    path = tmp_path / "script.py"
    path.write_text(script_text)
    return Lines(upy.start(str(path), args=(str(tmp_path / "config.json"),),
                           extra_path=extra_path, cwd=str(tmp_path)))


def start_example(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    script = os.path.join(paths.FIRMWARE, "examples", "sensecap_threshold.py")
    return Lines(upy.start(script, args=(str(tmp_path / "config.json"),),
                           extra_path=(os.path.join(paths.BOARDS, "unix"),), cwd=str(tmp_path)))
