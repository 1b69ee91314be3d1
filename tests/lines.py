"""Follow a background process's output line by line (device scripts on the unix port)."""

import queue
import re
import threading
import time


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
        except Exception:
            self.proc.kill()
            raise
        time.sleep(0.05)
        return "\n".join(self.all)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
