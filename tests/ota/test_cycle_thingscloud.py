"""A full update through the local ThingsCloud on the unix port: the
otaUpgrade command is answered once the bundle is staged and switched in,
the board restarts into it, the attribute ``version`` is the running one,
and the event otaResult says how the trial ended (kept, or rolled back)."""

import os

from iotlink_tools import unix_board

from .conftest import OTA_OPTS, board_root, bundle


def _cfg(sim, test_ca, dev):
    cfg = sim.config(dev["id"], tls=True, version="1.0.0")
    cfg["app"] = {"report_interval": 5, "ota": dict(OTA_OPTS, ca=test_ca["ca"])}
    return cfg


def _version(dev):
    return dev["attributes"].get("version", {}).get("value")


def _result(sim, did, board):
    return board.wait_for(lambda _: [e["params"] for e in sim.events.get(did, [])
                                     if e.get("method") == "otaResult"], 40)[0]


def test_update_kept_and_version_attribute_follows(tc, files, test_ca, tmp_path):
    dev = tc.add_device("ota-board")
    root = board_root(tmp_path, _cfg(tc, test_ca, dev))
    blob, _ = bundle(tmp_path, "1.1.0")
    url, n, sha = files.offer("tc.iotb", blob)
    b = unix_board.Board(root).run(boots=4)
    try:
        b.wait_line("STATUS up", 20)
        b.wait_for(lambda _: _version(dev) == "1.0.0", 10)
        r = tc.command("otaUpgrade", {"upgrade": True, "url": url, "version": "1.1.0",
                                      "sha256": sha, "size": n}, device_id=dev["id"])
        assert r["params"] == {"ota_result": 0, "version": "1.1.0"}
        res = _result(tc, dev["id"], b)
        assert res == {"ota_result": 0, "version": "1.1.0", "target": "1.1.0"}
        b.wait_for(lambda _: _version(dev) == "1.1.0", 10)
        assert b.boots == 2
        r = tc.command("ping", {"n": 1}, device_id=dev["id"])     # the app's own commands still work
        assert r["params"]["echo"] == {"n": 1}
    finally:
        b.stop()
    assert os.path.exists(os.path.join(root, "board.mpy"))


def test_broken_update_rolled_back_and_reported(tc, files, test_ca, tmp_path):
    dev = tc.add_device("ota-board")
    root = board_root(tmp_path, _cfg(tc, test_ca, dev))
    main = open(os.path.join(root, "main.py")).read()
    blob, _ = bundle(tmp_path, "2.0.0", main_src="import missing_module_of_the_new_app\n")
    url, n, sha = files.offer("tc-bad.iotb", blob)
    b = unix_board.Board(root).run(boots=4)
    try:
        b.wait_line("STATUS up", 20)
        r = tc.command("otaUpgrade", {"upgrade": True, "url": url, "version": "2.0.0",
                                      "sha256": sha, "size": n}, device_id=dev["id"])
        assert r["params"]["ota_result"] == 0
        res = _result(tc, dev["id"], b)
        assert res["ota_result"] == 4 and res["version"] == "1.0.0" and res["target"] == "2.0.0"
        assert "ImportError" in res["error"]
        b.wait_for(lambda _: _version(dev) == "1.0.0" and b.boots == 3, 10)
    finally:
        b.stop()
    assert open(os.path.join(root, "main.py")).read() == main


def test_bad_package_answered_with_its_code(tc, files, test_ca, tmp_path):
    dev = tc.add_device("ota-board")
    root = board_root(tmp_path, _cfg(tc, test_ca, dev))
    blob, _ = bundle(tmp_path, "1.1.0")
    url, n, _ = files.offer("tc.iotb", blob)
    b = unix_board.Board(root).run(boots=2)
    try:
        b.wait_line("STATUS up", 20)
        r = tc.command("otaUpgrade", {"url": url, "version": "1.1.0", "sha256": "1" * 64, "size": n},
                       device_id=dev["id"])
        assert r["params"]["ota_result"] == 3 and "SHA-256" in r["params"]["error"]
        url2, n2, sha2 = files.offer("tc-drop.iotb", blob, fault="drop")
        r = tc.command("otaUpgrade", {"url": url2, "version": "1.1.0", "sha256": sha2, "size": n2},
                       device_id=dev["id"])
        assert r["params"]["ota_result"] == 1 and "cut short" in r["params"]["error"]
        assert b.boots == 1
    finally:
        b.stop()
