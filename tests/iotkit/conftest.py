"""iotkit tests: the codec on CPython, the same code on the MicroPython unix
port, and devices talking to the local iotkit (real mosquitto behind the
checking front) in both server variants."""

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

from iotlink_tools.sims import iotkit as simmod  # noqa: E402

PK, SECRET = "pkIotlinkTest01", "test-product-secret-0001"
PK2, SECRET2 = "pkSubProduct02", "sub-product-secret-0002"


@pytest.fixture(scope="module", params=[simmod.PLUGIN, simmod.EMQX])
def sim(request, test_ca):
    s = simmod.Sim(variant=request.param, products={PK: SECRET, PK2: SECRET2}, tls=test_ca).start()
    yield s
    s.stop()


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


def device_config(sim, device_name, pk=PK, **extra):
    cfg = sim.config(device_name, pk, **extra)
    cfg["session"] = {"backoff_min_ms": 200, "backoff_max_ms": 1000}
    return cfg


def script(cfg, body, seconds=30, prelude=""):
    """A device program: connect with ``cfg``, run ``body`` (handlers), poll
    until something appends to ``stop`` or ``seconds`` pass."""
    return ("import json, time\n"
            "%s\n"
            "import iotlink\n"
            "from iotlink.clouds import iotkit\n"
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
            "print('STATS', json.dumps(dev.stats), cloud.acks, cloud.nacks)\n"
            "dev.disconnect()\n") % (prelude, json.dumps(cfg), body, seconds * 1000)
