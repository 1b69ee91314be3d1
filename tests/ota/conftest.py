"""OTA tests: app bundles applied, kept or rolled back on the MicroPython
unix port (tools/iotlink_tools/unix_board: a folder as the board's flash,
every exit a reset), through the local IoTDA and ThingsCloud and their
package server (sims/files.py)."""

import os
import shutil

import pytest

from ..hostlib import lib_on_host, ROOT

lib_on_host()

from iotlink_tools import ota, unix_board  # noqa: E402
from iotlink_tools.sims.files import Files  # noqa: E402
from iotlink_tools.sims.iotda import LocalIoTDA  # noqa: E402
from iotlink_tools.sims.thingscloud import Sim as LocalThingsCloud  # noqa: E402


@pytest.fixture
def files(test_ca):
    f = Files(tls=test_ca).start()
    yield f
    f.stop()


@pytest.fixture
def iotda(test_ca):
    sim = LocalIoTDA({"dev1": "secret-0001"}, tls=test_ca).start()
    yield sim
    sim.stop()


@pytest.fixture
def tc(tmp_path, test_ca):
    sim = LocalThingsCloud(str(tmp_path / "tc"), tls=test_ca).start()
    yield sim
    sim.stop()


OTA_OPTS = {"good_s": 2, "trial_s": 20, "max_boots": 2}


def board_root(tmp_path, cfg, name="board"):
    root = str(tmp_path / name)
    unix_board.setup(root, cfg)
    return root


def iotda_cfg(sim, test_ca, **ota_opts):
    cfg = sim.config("dev1", tls=True, keepalive=60, sw_version="1.0.0")
    cfg["app"] = {"report_interval": 5, "ota": dict(OTA_OPTS, ca=test_ca["ca"], **ota_opts)}
    cfg["session"] = {"backoff_min_ms": 300, "backoff_max_ms": 1000}
    return cfg


def bundle(tmp_path, version, main_src=None, extra=(), board="unix", mpy=True):
    """A bundle of the standard firmware main.py (or ``main_src``) and the
    unix board.py, plus ``extra`` [(name, text)]."""
    d = tmp_path / ("src-" + version)
    d.mkdir(exist_ok=True)
    if main_src is None:
        shutil.copy(os.path.join(ROOT, "firmware", "main.py"), str(d / "main.py"))
    else:
        (d / "main.py").write_text(main_src)
    shutil.copy(os.path.join(ROOT, "boards", "unix", "board.py"), str(d / "board.py"))
    for name, text in extra:
        (d / name).write_text(text)
    return ota.build([str(d)], version, board, "demo", mpy)
