"""原子云 tests: the frame codec and REST client on CPython, the same code, the
WebSocket client and the ATK driver on the MicroPython unix port, against the
local 原子云 (REST + WebSocket server) and its simulated ATK module on a pty."""

import os
import sys

import pytest

from ..lines import Lines

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


class Proc(Lines):
    """A script on the unix port in the background, its output line by line."""

    def __init__(self, folder, code, name="app"):
        path = os.path.join(folder, name + ".py")
        with open(path, "w") as f:
            f.write(code)
        Lines.__init__(self, upy.start(path, extra_path=(UPY,), cwd=folder))

    def finish(self, timeout=20):
        try:
            out = Lines.finish(self, timeout)
        finally:
            self.kill()
        assert self.proc.returncode == 0, out
        return out


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
