"""SenseCAP OpenStream tests: the codec on CPython and on the MicroPython unix
port, and boards receiving through the local OpenStream (real mosquitto behind
the checking front)."""

import os
import sys

import pytest

from ..hostlib import lib_on_host

HERE = os.path.dirname(os.path.abspath(__file__))
lib_on_host()
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from iotlink_tools.sims.sensecap import Sim
    s = Sim(str(tmp_path_factory.mktemp("sensecap")), seed=7).start()
    yield s
    s.stop()
