"""No space left, for real: the board's root on littlefs (the flash
stand-in in flash.py, 32 KB) on the unix port.  A bundle the free space
cannot hold is refused before a byte is written; one whose manifest fits
but whose files do not (littlefs spends a block per small file) fails with
ENOSPC mid-write.  Either way: reported as storage, staging cleaned up,
the old app untouched."""

import pytest

from iotlink_tools import ota
from iotlink_tools.sims.files import Files

from .test_power_cut import OLD, OLD_APP, Agent, _sha_tree


@pytest.fixture
def http():
    f = Files().start()
    yield f
    f.stop()


def _bundle(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for n, data in files.items():
        (d / n).write_bytes(data)
    return ota.build([str(d)], "1.1.0", "unix", "demo", mpy=False)[0]


@pytest.mark.parametrize("case", ["manifest too big", "files too big"])
def test_no_space_reported_and_old_app_kept(case, http, tmp_path):
    ag = Agent(tmp_path, lfs=True)
    img = str(tmp_path / "flash.img")
    ag.run(img, "init", files=OLD, app=OLD_APP, blocks=64)
    if case == "manifest too big":
        blob = _bundle(tmp_path, "big", {"main.py": b"#" * 40000})
    else:
        blob = _bundle(tmp_path, "many", dict(("f%02d.txt" % i, b"%02d" % i * 300) for i in range(24)))
    url, size, sha = http.offer("x.iotb", blob)
    r = ag.run(img, "apply", url=url, sha=sha, size=size, blocks=64)
    kind, _, text = r["REFUSED"].partition(" ")
    assert kind == "storage", r
    assert ("needs" in text) if case == "manifest too big" else ("no space left (errno 28)" in text), text
    assert r["STATE"] == "idle"
    assert r["TREE"] == _sha_tree(OLD)
    after = ag.run(img, "boot", blocks=64)
    assert after["TREE"] == _sha_tree(OLD) and after["PHASE"] == "idle"
