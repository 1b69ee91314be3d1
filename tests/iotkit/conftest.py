"""iotkit tests: the codec on CPython, the same code on the MicroPython unix
port, and devices talking to the local iotkit (real mosquitto behind the
checking front) in both server variants."""

import json

import pytest

from ..lines import Lines  # noqa: F401  (used by the tests here)
from ..hostlib import lib_on_host

lib_on_host()

from iotlink_tools.sims import iotkit as simmod  # noqa: E402

PK, SECRET = "pkIotlinkTest01", "test-product-secret-0001"
PK2, SECRET2 = "pkSubProduct02", "sub-product-secret-0002"


@pytest.fixture(scope="module", params=[simmod.PLUGIN, simmod.EMQX])
def sim(request, test_ca):
    s = simmod.Sim(variant=request.param, products={PK: SECRET, PK2: SECRET2}, tls=test_ca).start()
    yield s
    s.stop()


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
