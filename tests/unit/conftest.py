"""Fast CPython tests of lib/iotlink on the shim (tests/shim)."""

import os
import sys

import pytest

TESTS = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

import shim  # noqa: E402

if not os.path.exists(shim.UMQTT):
    sys.path.insert(0, os.path.join(shim.ROOT, "tools"))
    from iotlink_tools.deps import fetch_umqtt  # noqa: E402
    fetch_umqtt(quiet=True)

shim.install()

from iotlink import log, clock  # noqa: E402

# the ticks value fake clocks start at: the counter wraps 3 s into every test
NEAR_WRAP = shim.TICKS_PERIOD - 3000


@pytest.fixture(autouse=True)
def _power_on():
    """Every test starts from a fresh board: real clock, no time sync, no
    registered secrets, log lines collected instead of printed."""
    shim.reset()
    lines = []
    saved = (log.sink, log.level, list(log._secrets))
    log.sink = lines.append
    log.level = 1
    del log._secrets[:]
    clock._anchor_ms = None
    yield lines
    shim.reset()
    log.sink, log.level = saved[0], saved[1]
    log._secrets[:] = saved[2]
    clock._anchor_ms = None


@pytest.fixture
def logs(_power_on):
    """The log lines of this test."""
    return _power_on


@pytest.fixture
def fake_clock():
    """The shim clock stopped just below the ticks wrap."""
    shim.clock.use_fake(NEAR_WRAP)
    return shim.clock
