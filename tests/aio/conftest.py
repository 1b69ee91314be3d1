"""The asyncio driver (iotlink.aio) through the end-to-end cases of the
blocking Device: the same test functions, with the agent scripts swapped for
their asyncio forms (same command line, same output lines)."""

import os

import pytest

from ..device import agent_host
from ..fault import test_hostile_broker

HERE = os.path.dirname(__file__)


@pytest.fixture(autouse=True)
def asyncio_agents(monkeypatch):
    monkeypatch.setattr(agent_host, "AGENT", os.path.join(HERE, "agent_aio.py"))
    monkeypatch.setattr(test_hostile_broker, "AGENT", os.path.join(HERE, "agent_aio_fault.py"))
