"""SenseCAP OpenStream tests: the codec on CPython and on the MicroPython unix
port, and boards receiving through the local OpenStream (real mosquitto behind
the checking front)."""

import os
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
for p in (os.path.join(ROOT, "lib"), HERE):
    if p not in sys.path:
        sys.path.insert(0, p)
try:
    import micropython  # noqa: F401
except ImportError:  # CPython: the one name the codec needs from it
    sys.modules["micropython"] = types.SimpleNamespace(const=lambda x: x)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from iotlink_tools.sims.sensecap import Sim
    s = Sim(str(tmp_path_factory.mktemp("sensecap")), seed=7).start()
    yield s
    s.stop()
