"""A full update through the local IoTDA on the unix port: kept when the new
app reaches the cloud, rolled back (and reported) when it raises at import,
never connects, or never gets through a boot."""

import hashlib
import json
import os

import pytest

from iotlink_tools import unix_board

from .conftest import board_root, bundle, iotda_cfg


def _reports(sim):
    return [e["paras"] for e in sim.events_up("dev1", "upgrade_progress_report")]


def _wait_report(board, sim, pred, timeout=40):
    return board.wait_for(lambda _: [p for p in _reports(sim) if pred(p)], timeout)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _boot(root, upto=6):
    return unix_board.Board(root).run(boots=upto)


def test_update_is_applied_and_kept(iotda, files, test_ca, tmp_path):
    root = board_root(tmp_path, iotda_cfg(iotda, test_ca))
    blob, m = bundle(tmp_path, "1.1.0")
    url, n, sha = files.offer("app.iotb", blob, token="tok-7")
    b = _boot(root)
    try:
        b.wait_line("STATUS up", 20)
        assert iotda.versions["dev1"] == {"sw_version": "1.0.0"}
        iotda.upgrade("dev1", "1.1.0", url, n, sha, software=True, access_token="tok-7")
        done = _wait_report(b, iotda, lambda p: p.get("progress") == 100)
        assert done[0]["result_code"] == 0 and done[0]["version"] == "1.1.0"
        steps = [p["progress"] for p in _reports(iotda)]
        assert steps == sorted(steps) and 90 in steps      # downloading .. installed .. running
        assert b.boots == 2
        assert iotda.versions["dev1"] == {"sw_version": "1.1.0"}   # reported after the new connect
        since = len(iotda.uplinks)
        iotda.query_version("dev1")
        _, p = iotda.wait_uplink("dev1", "events/up", since=since)
        assert json.loads(p)["services"][0]["paras"]["sw_version"] == "1.1.0"
    finally:
        b.stop()
    assert ("app.iotb", 200) in files.gets
    # the bundle's files are the app now; the source board.py it replaced is gone
    assert {f[0] for f in m["files"]} == {"main.py", "board.mpy"}
    assert not os.path.exists(os.path.join(root, "board.py"))
    for path, size, digest in m["files"]:
        assert _sha(os.path.join(root, path)) == digest
    with open(os.path.join(root, ".ota", "app.json")) as f:
        assert json.load(f)["version"] == "1.1.0"
    assert not os.path.exists(os.path.join(root, ".ota", "old"))
    assert not os.path.exists(os.path.join(root, ".ota", "new"))
    assert not os.path.exists(os.path.join(root, ".ota", "state.json"))   # reported: boot.py imports nothing


@pytest.mark.parametrize("cut,after", [
    ("write:3", "old"),    # mid-download: the old app, the interruption reported
    ("move:2", "new"),     # mid-switch: boot.py finishes it, the new app on trial, kept
])
def test_power_cut_during_an_update_from_the_cloud(cut, after, iotda, files, test_ca, tmp_path):
    root = board_root(tmp_path, iotda_cfg(iotda, test_ca))
    before = _snapshot(root)
    blob, m = bundle(tmp_path, "1.1.0")
    url, n, sha = files.offer("app.iotb", blob)
    b = unix_board.Board(root).run(boots=4, kill_at=cut)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "1.1.0", url, n, sha, software=True, v2=True)
        b.wait_line("POWER CUT at", 20)
        if after == "old":
            rep = _wait_report(b, iotda, lambda p: p["result_code"] != 0)[0]
            assert (rep["result_code"], rep["version"]) == (255, "1.0.0")
            assert "reset during the download" in rep["description"]
            assert _snapshot(root) == before
        else:
            done = _wait_report(b, iotda, lambda p: p.get("progress") == 100)[0]
            assert (done["result_code"], done["version"]) == (0, "1.1.0")
            for path, size, digest in m["files"]:
                assert _sha(os.path.join(root, path)) == digest
        assert b.codes[0] == -9 and b.boots == 2
    finally:
        b.stop()


def _rolled_back(root, sim, b, before, text):
    rep = _wait_report(b, sim, lambda p: p["result_code"] != 0)
    assert rep[0]["result_code"] == 10, rep           # install failed
    assert rep[0]["version"] == "1.0.0"
    assert text in rep[0]["description"]
    b.wait_for(lambda _: sim.versions["dev1"] == {"sw_version": "1.0.0"}, 10)
    for name, digest in before.items():
        assert _sha(os.path.join(root, name)) == digest, name
    assert not os.path.exists(os.path.join(root, "board.mpy"))
    assert not os.path.exists(os.path.join(root, ".ota", "old"))


def _snapshot(root):
    return {n: _sha(os.path.join(root, n)) for n in ("main.py", "board.py", "config.json")}


def test_app_that_raises_at_import_is_rolled_back(iotda, files, test_ca, tmp_path):
    root = board_root(tmp_path, iotda_cfg(iotda, test_ca))
    before = _snapshot(root)
    blob, _ = bundle(tmp_path, "2.0.0", main_src="import board\nraise RuntimeError('broken at import')\n")
    url, n, sha = files.offer("bad.iotb", blob)
    b = _boot(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "2.0.0", url, n, sha, software=True, v2=True)
        _rolled_back(root, iotda, b, before, "RuntimeError: broken at import")
        assert b.boots == 3     # old, new (raised), old again
    finally:
        b.stop()


def test_app_that_never_connects_is_rolled_back(iotda, files, test_ca, tmp_path):
    cfg = iotda_cfg(iotda, test_ca, trial_s=10)
    root = board_root(tmp_path, cfg)
    before = _snapshot(root)
    bad = json.loads(json.dumps(cfg))
    bad["cloud"]["port"] = 9   # valid, and nothing listens there
    blob, _ = bundle(tmp_path, "2.0.0", extra=[("config.json", json.dumps(bad))])
    url, n, sha = files.offer("dark.iotb", blob)
    b = _boot(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "2.0.0", url, n, sha, software=True, v2=True)
        _rolled_back(root, iotda, b, before, "no cloud connection within 10 s")
    finally:
        b.stop()


def test_app_that_never_finishes_a_boot_is_rolled_back(iotda, files, test_ca, tmp_path):
    root = board_root(tmp_path, iotda_cfg(iotda, test_ca))   # max_boots 2
    before = _snapshot(root)
    blob, _ = bundle(tmp_path, "2.0.0", main_src="import sys\nprint('RESETTING')\nsys.exit(1)\n")
    url, n, sha = files.offer("loop.iotb", blob)
    b = _boot(root, upto=8)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "2.0.0", url, n, sha, software=True, v2=True)
        _rolled_back(root, iotda, b, before, "within 2 boots")
        assert sum(1 for x in b.lines if x == "RESETTING") == 2
    finally:
        b.stop()


def test_restart_waits_for_the_answer_when_the_link_is_down(iotda, files, test_ca, tmp_path):
    """The cloud drops the device during the download and refuses it for a
    few seconds after: the "installed" report waits in the outbox, and the
    restart waits for it to go out."""
    cfg = iotda_cfg(iotda, test_ca)
    cfg["session"]["auth_retry_ms"] = 500
    root = board_root(tmp_path, cfg)
    blob, _ = bundle(tmp_path, "1.1.0")
    url, n, sha = files.offer("app.iotb", blob, fault="slow")   # 512 bytes every 0.5 s
    b = _boot(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "1.1.0", url, n, sha, software=True, v2=True)
        b.wait_for(lambda _: ("app.iotb", 200) in files.gets, 10)
        secret = iotda.devices["dev1"]
        iotda.remove_device("dev1")          # kicked, and refused (CONNACK 5) from now on
        b.wait_line("staged and switched in", 120)
        import time
        time.sleep(3)                         # past the 1 s the restart would otherwise wait
        assert b.boots == 1
        iotda.add_device("dev1", secret)
        rep = _wait_report(b, iotda, lambda p: p.get("progress") == 90, 30)
        assert rep[0]["description"] == "installed, restarting"
        done = _wait_report(b, iotda, lambda p: p.get("progress") == 100, 40)
        assert done[0]["version"] == "1.1.0" and b.boots == 2
    finally:
        b.stop()
