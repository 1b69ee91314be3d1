"""原子云 tests: the frame codec and REST client on CPython, the same code, the
WebSocket client and the ATK driver on the MicroPython unix port, against the
local 原子云 (REST + WebSocket server) and its simulated ATK module on a pty."""

import os
import queue
import re
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

import shim  # noqa: E402

shim.install()  # lib/ on the path, MicroPython's time API on CPython

from iotlink_tools import upy  # noqa: E402
from iotlink_tools.sims.alientek import LocalAlientek, AtkModule  # noqa: E402

UPY = os.path.join(HERE, "upy")
NUMBER = "18846494908532689575"   # the document's example number
PASSWORD = "12345678"


@pytest.fixture
def cloud():
    c = LocalAlientek().start()
    c.add_device("官方设备 - 2", number=NUMBER, password=PASSWORD)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def cloud_tls(test_ca):
    c = LocalAlientek(tls=test_ca).start()
    c.add_device("官方设备 - 2", number=NUMBER, password=PASSWORD)
    yield c
    c.stop()


@pytest.fixture
def module(cloud):
    m = AtkModule(cloud)
    yield m
    m.close()


class Proc:
    """A script on the unix port in the background, its output line by line."""

    def __init__(self, folder, code, name="app"):
        path = os.path.join(folder, name + ".py")
        with open(path, "w") as f:
            f.write(code)
        self.proc = upy.start(path, extra_path=(UPY,), cwd=folder)
        self.q = queue.Queue()
        self.all = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.all.append(line.rstrip("\n"))
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def expect(self, pattern, timeout=15):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            try:
                line = self.q.get(timeout=max(0.01, left))
            except queue.Empty:
                line = False
            if line is None or line is False:
                raise AssertionError("no line matching %r; output:\n%s" % (pattern, "\n".join(self.all)))
            m = re.search(pattern, line)
            if m:
                return m

    def finish(self, timeout=20):
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        time.sleep(0.05)
        out = "\n".join(self.all)
        assert self.proc.returncode == 0, out
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def procs(tmp_path):
    started = []

    def start(code, name="app"):
        p = Proc(str(tmp_path), code, name)
        started.append(p)
        return p
    yield start
    for p in started:
        p.kill()


def upy_script(upy_run, code, timeout=60):
    """Run ``code`` on the unix port with tests/alientek/upy on the path; stdout."""
    return upy_run.run("import sys\nsys.path.append(%r)\n" % UPY + code, timeout=timeout).stdout
