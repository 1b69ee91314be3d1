"""ThingsCloud tests: the codec on CPython and on the MicroPython unix port, the
API client against the local ThingsCloud's HTTP API, devices on the unix port
against its MQTT side (real mosquitto behind the checking front)."""

import json
import time

import pytest

from ..lines import Lines  # noqa: F401  (used by the tests here)
from ..hostlib import lib_on_host

lib_on_host()

from iotlink_tools.sims.thingscloud import Sim  # noqa: E402


class Clock:
    """A movable wall clock shared by the sim and an API client."""

    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def clock():
    return Clock()


@pytest.fixture(scope="module")
def sim(test_ca, tmp_path_factory, clock):
    s = Sim(str(tmp_path_factory.mktemp("tcsim")), tls=test_ca, clock=clock).start()
    yield s
    s.stop()


def app_keys(sim):
    app, (ak, sk) = next(iter(sim.apps.items()))
    return app, ak, sk


def script(cfg, body, seconds=30):
    """A device program: connect with ``cfg`` (a dict, or the name ``cfg`` set by
    ``body``), run ``body``, poll until ``stop`` is set or ``seconds`` pass."""
    return ("import json, time, sys\n"
            "import iotlink\n"
            "from iotlink import clock\n"
            "cfg = json.loads(%r)\n"
            "stop = []\n"
            "%s\n"
            "print('UP', dev.connected)\n"
            "end = time.ticks_add(time.ticks_ms(), %d)\n"
            "while not stop and time.ticks_diff(end, time.ticks_ms()) > 0:\n"
            "    dev.poll(50)\n"
            "dev.poll(300)\n"
            "print('STATS', json.dumps(dev.stats))\n"
            "dev.disconnect()\n") % (json.dumps(cfg), body, seconds * 1000)


def wait_for(cond, timeout=5):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True
