"""Fixtures for the tests on MicroPython's own rp2 firmware (Pico W image) in the
rp2040js emulator: a virtual board's serial port, and one with the library
(.mpy for armv6m) already on its flash.

Every emulator started here is stopped when its test ends, whatever the
outcome: it keeps a host core busy while it runs.
"""

import os
import shutil

import pytest

from ..hostlib import lib_on_host

lib_on_host()

from iotlink_tools import emu  # noqa: E402
from iotlink_tools.emu.board import Board, tree  # noqa: E402
from ..conftest import _CERT_NAMES as CERT_NAMES  # noqa: E402

BOARD = "picow"
CERT_STAND_IN = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def pytest_collection_modifyitems(items):
    why = emu.unavailable(BOARD)
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.board)
            if why:
                item.add_marker(pytest.mark.skip(reason="no emulated RP2040: " + why))


@pytest.fixture
def rp2_port():
    """The serial port of a fresh emulated Pico W (empty filesystem)."""
    with emu.Emulator(BOARD) as e:
        yield e.port


@pytest.fixture(scope="session")
def lib_flash(tmp_path_factory):
    """A Pico W flash image holding lib/ as .mpy (`iotlink build --arch armv6m`)
    and umqtt.simple, made once per session: copying is the slow part."""
    from iotlink_tools.board_tools import _umqtt
    from iotlink_tools.cli import build
    work = tmp_path_factory.mktemp("rp2lib")
    out = str(work / "armv6m")
    build("armv6m", out)
    flash = str(work / "flash.bin")
    # config load opens the files a config names: the stand-ins the codec tests use, at the root
    stand_ins = [(CERT_STAND_IN, name) for name in CERT_NAMES]
    with emu.Emulator(BOARD, flash_state=flash) as e, Board(e.port) as b:
        b.put(tree(out, "lib") + [(_umqtt("armv6m"), "lib/umqtt/simple.mpy")] + stand_ins)
    return flash


class VirtualBoard:
    """A running emulated Pico W: ``board`` drives its REPL, ``emulator`` its lifecycle."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.board = Board(emulator.port)

    def run(self, code, timeout=120):
        return self.board.run(code, timeout=timeout)

    def last_json(self, code, timeout=120):
        import json
        return json.loads(self.run(code, timeout).strip().splitlines()[-1])


@pytest.fixture
def rp2_lib(lib_flash, tmp_path):
    """An emulated Pico W booted from a copy of ``lib_flash``."""
    flash = str(tmp_path / "flash.bin")
    shutil.copy(lib_flash, flash)
    with emu.Emulator(BOARD, flash_state=flash) as e:
        vb = VirtualBoard(e)
        try:
            yield vb
        finally:
            vb.board.close()
