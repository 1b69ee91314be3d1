"""IoTDA tests: the codec on CPython, the same code on the MicroPython unix port,
and devices talking to the local IoTDA (real mosquitto behind the checking front)."""

import json

import pytest

from ..lines import Lines  # noqa: F401  (used by the tests here)
from ..hostlib import lib_on_host

lib_on_host()

from iotlink_tools.sims.iotda import LocalIoTDA  # noqa: E402

SECRETS = {"dev_plain": "s3cret-plain", "64f1a2b3c4d5e6f7a8b9c0d1_node01": "12345678",
           "dev_e2e": "e2e-secret-1", "dev_sign1": "sign1-secret", "gw_01": "gw-secret",
           "dev_skew": "skew-secret"}


@pytest.fixture(scope="module")
def iotda(test_ca):
    sim = LocalIoTDA(SECRETS, tls=test_ca).start()
    yield sim
    sim.stop()


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
