"""Power cut at every file operation of an update, on the unix port: the
process is SIGKILLed at operation K of the download, the verify and the
switch (and of the undo), then the board resets (boot()), once more with a
cut during that recovery.  It always comes up with exactly the old app or
exactly the new one, and the state agrees with which.  Run on a host folder
and on littlefs (the flash stand-in in flash.py)."""

import json
import os
import shutil
import subprocess

import pytest

from iotlink_tools import ota, upy
from iotlink_tools.sims.files import Files

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = json.dumps({"cloud": {"type": "mqtt", "host": "localhost", "client_id": "b1"}})
OLD = {"main.py": "print('app 1.0.0')\n", "board.py": "NAME = 'old'\n",
       "data/notes.txt": "old notes\n", "config.json": CONFIG}
OLD_APP = {"name": "demo", "version": "1.0.0",
           "files": [["main.py", 0, ""], ["board.py", 0, ""], ["data/notes.txt", 0, ""]]}


def _new_bundle(tmp_path):
    d = tmp_path / "v2"
    (d / "lib").mkdir(parents=True)
    (d / "main.py").write_text("print('app 1.1.0')\n")
    (d / "board.py").write_text("NAME = 'new'\n")
    (d / "lib" / "helper.py").write_text("def f():\n    return 2\n")
    (d / "blob.bin").write_bytes(bytes(range(256)) * 12)
    return ota.build([str(d)], "1.1.0", "unix", "demo")


def _sha_tree(files):
    import hashlib
    return {p: hashlib.sha256(t.encode() if isinstance(t, str) else t).hexdigest() for p, t in files.items()}


class Agent:
    def __init__(self, tmp_path, lfs):
        self.tmp = tmp_path
        self.lfs = lfs
        self.script = str(tmp_path / "agent.py")
        shutil.copy(os.path.join(HERE, "agent.py"), self.script)

    def run(self, where, do, k=None, **kw):
        a = dict(kw, do=do, k=k, here=HERE)
        a["lfs" if self.lfs else "root"] = where
        args = str(self.tmp / "args.json")
        with open(args, "w") as f:
            json.dump(a, f)
        r = subprocess.run(upy.command(self.script, args=[args]), env=upy.env(),
                           capture_output=True, text=True, timeout=60)
        out = {}
        for line in r.stdout.splitlines():
            key, _, rest = line.partition(" ")
            out[key] = rest
        out["rc"] = r.returncode
        if "TREE" in out:
            out["TREE"] = json.loads(out["TREE"])
        if k is None and r.returncode:
            pytest.fail("agent %s failed:\n%s\n%s" % (do, r.stdout, r.stderr))
        return out

    def fresh(self, name, template):
        """A copy of the board ``template`` (a folder or a flash image)."""
        dst = str(self.tmp / name)
        if self.lfs:
            shutil.copy(template, dst)
        else:
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(template, dst)
        return dst


@pytest.fixture
def http():
    f = Files().start()
    yield f
    f.stop()


@pytest.mark.parametrize("fs", ["folder", "littlefs"])
def test_power_cut_anywhere_leaves_old_or_new_app(fs, http, tmp_path):
    ag = Agent(tmp_path, fs == "littlefs")
    blob, m = _new_bundle(tmp_path)
    url, size, sha = http.offer("v2.iotb", blob)
    template = str(tmp_path / ("flash.img" if ag.lfs else "template"))
    if not ag.lfs:
        os.makedirs(template)
    ag.run(template, "init", files=OLD, app=OLD_APP)
    old_tree = ag.run(ag.fresh("probe", template), "boot")["TREE"]
    assert old_tree == _sha_tree(OLD)

    whole = ag.fresh("whole", template)
    done = ag.run(whole, "apply", url=url, sha=sha, size=size)
    assert "APPLIED" in done and done["STATE"] == "trial"
    steps = int(done["STEPS"])
    new_tree = dict({p: h for p, _, h in m["files"]}, **{"config.json": old_tree["config.json"]})
    assert done["TREE"] == new_tree               # board.py gone (board.mpy now), data/ gone
    assert steps > len(m["files"]) * 2

    outcomes = set()
    for k in range(1, steps + 1):
        b = ag.fresh("cut%d" % k, template)
        r = ag.run(b, "apply", k=k, url=url, sha=sha, size=size)
        assert r["rc"] == -9 and r.get("KILL", "").startswith(str(k)), (k, r)
        ag.run(b, "boot", k=2)                    # power cut again while recovering
        r = ag.run(b, "boot")
        tree, phase = r["TREE"], r["STATE"]
        assert tree in (old_tree, new_tree), (k, tree)
        assert phase == ("trial" if tree == new_tree else "idle"), (k, phase)
        outcomes.add(phase)
        if not ag.lfs:
            assert not os.path.exists(os.path.join(b, ".ota", "new")) or phase == "trial", k
    assert outcomes == {"idle", "trial"}          # cuts before and after the point of no return

    # the undo of a failed trial, cut anywhere
    undone = ag.run(ag.fresh("undo", whole), "undo")
    assert undone["TREE"] == old_tree and undone["STATE"] == "idle"
    for k in range(1, int(undone["STEPS"]) + 1):
        b = ag.fresh("ucut%d" % k, whole)
        r = ag.run(b, "undo", k=k)
        assert r["rc"] == -9, (k, r)
        r = ag.run(b, "boot")
        assert (r["TREE"], r["STATE"]) in ((old_tree, "idle"), (new_tree, "trial")), (k, r)


def test_no_new_update_over_a_half_done_one(http, tmp_path):
    """Without a reset (boot.py) after a cut mid-switch, an order is refused
    as busy and touches nothing; the reset then finishes the switch."""
    ag = Agent(tmp_path, lfs=False)
    blob, m = _new_bundle(tmp_path)
    url, size, sha = http.offer("v2.iotb", blob)
    template = str(tmp_path / "template")
    os.makedirs(template)
    ag.run(template, "init", files=OLD, app=OLD_APP)
    steps = int(ag.run(ag.fresh("whole", template), "apply", url=url, sha=sha, size=size)["STEPS"])
    for k in range(steps, 0, -1):
        b = ag.fresh("cut", template)
        r = ag.run(b, "apply", k=k, url=url, sha=sha, size=size)
        if r["KILL"].endswith("move"):
            break
    again = ag.run(b, "apply", url=url, sha=sha, size=size)
    assert again["REFUSED"].startswith("busy an update is half done (switch)")
    assert again["STATE"] == "switch"
    assert sorted(os.listdir(os.path.join(b, ".ota", "old")))    # the backup is still there
    r = ag.run(b, "boot")
    assert r["STATE"] == "trial" and r["TREE"] == dict({p: h for p, _, h in m["files"]},
                                                       **{"config.json": _sha_tree(OLD)["config.json"]})
