"""IoTDA tests: the codec on CPython, the same code on the MicroPython unix port,
and devices talking to the local IoTDA (real mosquitto behind the checking front)."""

import json
import os
import queue
import re
import sys
import threading
import time
import types

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.path.join(ROOT, "lib") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "lib"))
try:
    import micropython  # noqa: F401
except ImportError:  # CPython: the one name the codec needs from it
    sys.modules["micropython"] = types.SimpleNamespace(const=lambda x: x)

from iotlink_tools.sims.iotda import LocalIoTDA  # noqa: E402

SECRETS = {"dev_plain": "s3cret-plain", "64f1a2b3c4d5e6f7a8b9c0d1_node01": "12345678",
           "dev_e2e": "e2e-secret-1", "dev_sign1": "sign1-secret", "gw_01": "gw-secret",
           "dev_skew": "skew-secret"}


@pytest.fixture(scope="module")
def iotda(test_ca):
    sim = LocalIoTDA(SECRETS, tls=test_ca).start()
    yield sim
    sim.stop()


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

    def finish(self, timeout=15):
        try:
            self.proc.wait(timeout)
        except Exception:
            self.proc.kill()
            raise
        time.sleep(0.05)
        return "\n".join(self.all)


def device_config(sim, device_id, ca, **extra):
    cfg = sim.config(device_id, **extra)
    cfg["cloud"]["ca"] = ca
    cfg["session"] = {"backoff_min_ms": 200, "backoff_max_ms": 1000}
    return cfg


def script(cfg, body, seconds=30):
    """A device program: connect with ``cfg``, run ``body`` (handlers), poll until
    the "exit" command or ``seconds`` pass."""
    return ("import json, time\n"
            "import iotlink\n"
            "from iotlink import clock\n"
            "cfg = json.loads(%r)\n"
            "dev = iotlink.connect(cfg)\n"
            "cloud = dev.cloud\n"
            "stop = []\n"
            "%s\n"
            "print('UP', dev.connected)\n"
            "end = time.ticks_add(time.ticks_ms(), %d)\n"
            "while not stop and time.ticks_diff(end, time.ticks_ms()) > 0:\n"
            "    dev.poll(50)\n"
            "dev.poll(200)\n"
            "print('STATS', json.dumps(dev.stats))\n"
            "dev.disconnect()\n") % (json.dumps(cfg), body, seconds * 1000)
