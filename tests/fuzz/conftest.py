"""Fuzzing on CPython through the shim (the same set-up as tests/unit)."""

import os
import sys

TESTS = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from ..unit.conftest import _power_on, logs, fake_clock  # noqa: E402,F401  (installs the shim)
