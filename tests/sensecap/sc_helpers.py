"""Following a MicroPython process's output from the host."""

import json
import os

from iotlink_tools import paths, upy

from ..lines import Lines

ORG = "416358930172"
KEY = "8A3E6F1B2C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7"


def base_cfg(**cloud):
    c = {"type": "sensecap", "org_id": ORG, "access_key": KEY, "client_suffix": "t1"}
    c.update(cloud)
    return {"cloud": c}


def start(tmp_path, script_text, cfg, extra_path=()):
    """Write config.json and a script into tmp_path and run it on the unix port."""
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    path = tmp_path / "script.py"
    path.write_text(script_text)
    return Lines(upy.start(str(path), args=(str(tmp_path / "config.json"),),
                           extra_path=extra_path, cwd=str(tmp_path)))


def start_example(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    script = os.path.join(paths.FIRMWARE, "examples", "sensecap_threshold.py")
    return Lines(upy.start(script, args=(str(tmp_path / "config.json"),),
                           extra_path=(os.path.join(paths.BOARDS, "unix"),), cwd=str(tmp_path)))
