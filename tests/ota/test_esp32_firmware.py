"""ESP32 firmware updates through the local IoTDA on the unix port, against
the esp32.Partition STAND-IN in standin/esp32.py (real partitions cannot
exist here): 4096-byte block writes into the next OTA partition, set_boot,
mark_app_valid_cancel_rollback after a healthy connection, and the
bootloader's rollback when the new firmware does not start."""

import json
import os
import sys

import pytest

from iotlink_tools import unix_board

from .conftest import board_root, iotda_cfg

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")
sys.path.insert(0, STANDIN)
import esp32 as standin  # noqa: E402

PRELUDE = """import esp32
_fw = esp32.bootloader()
with open(os.getenv("ESP32_STANDIN") + "/" + _fw + ".bin", "rb") as _f:
    if b"CRASH" in _f.read(64):
        print("FIRMWARE CRASHED")
        sys.exit(1)
print("FIRMWARE", _fw)
"""


def _image(n, crash=False):
    body = bytes((i * 7) & 0xFF for i in range(n - 16))
    return b"\xe9\x03\x02\x20" + (b"CRASH" if crash else b"fine!") + b"\0" * 7 + body


@pytest.fixture
def flash(tmp_path, monkeypatch):
    d = str(tmp_path / "flash")
    os.makedirs(d)
    monkeypatch.setenv("ESP32_STANDIN", d)
    standin.make(d)
    return d


def _flash(d):
    with open(d + "/flash.json") as f:
        return json.load(f)


def _board(root):
    return unix_board.Board(root, path=(STANDIN,), prelude=PRELUDE).run(boots=5)


def _progress(sim):
    return [e["paras"] for e in sim.events_up("dev1", "upgrade_progress_report")]


def test_firmware_written_in_blocks_booted_and_marked_valid(iotda, files, test_ca, tmp_path, flash):
    cfg = iotda_cfg(iotda, test_ca)
    cfg["cloud"]["fw_version"] = "fw-1.0"
    root = board_root(tmp_path, cfg)
    img = _image(3 * 4096 + 1000)
    url, n, sha = files.offer("fw.bin", img, token="t0k")
    b = _board(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "fw-2.0", url, n, sha, access_token="t0k")
        done = b.wait_for(lambda _: [p for p in _progress(iotda) if p.get("progress") == 100], 40)[0]
        assert (done["result_code"], done["version"]) == (0, "fw-2.0")
        b.wait_for(lambda _: iotda.versions["dev1"].get("fw_version") == "fw-2.0", 10)
        assert iotda.versions["dev1"]["sw_version"] == "1.0.0"    # the app did not change
        # a failed app update later does not forget which firmware runs
        from .conftest import bundle
        blob, _ = bundle(tmp_path, "1.1.0")
        url2, n2, _ = files.offer("app.iotb", blob)
        iotda.upgrade("dev1", "1.1.0", url2, n2, "0" * 64, software=True, v2=True)
        b.wait_for(lambda _: [p for p in _progress(iotda) if p["result_code"] == 7], 20)
        with open(os.path.join(root, ".ota", "state.json")) as f:
            assert json.load(f)["fw"] == {"version": "fw-2.0"}
    finally:
        b.stop()
    st = _flash(flash)
    assert st["writes"] == [["ota_1", i, 4096] for i in range(4)]   # whole blocks, in order
    assert st["boots"] == ["ota_0", "ota_1"] and st["boot"] == "ota_1"
    assert st["state"]["ota_1"] == "valid" and st["valid_calls"] == 1
    with open(flash + "/ota_1.bin", "rb") as f:
        data = f.read(4 * 4096)
    assert data[:len(img)] == img and data[len(img):] == b"\xff" * (4 * 4096 - len(img))


def test_firmware_that_does_not_start_is_rolled_back_and_reported(iotda, files, test_ca, tmp_path, flash):
    cfg = iotda_cfg(iotda, test_ca)
    cfg["cloud"]["fw_version"] = "fw-1.0"
    root = board_root(tmp_path, cfg)
    url, n, sha = files.offer("bad.bin", _image(5000, crash=True))
    b = _board(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "fw-3.0", url, n, sha, v2=True)
        rep = b.wait_for(lambda _: [p for p in _progress(iotda) if p["result_code"] != 0], 40)[0]
        assert (rep["result_code"], rep["version"]) == (10, "fw-1.0")
        assert "rolled back" in rep["description"]
        b.wait_for(lambda _: iotda.versions["dev1"].get("fw_version") == "fw-1.0", 10)
    finally:
        b.stop()
    st = _flash(flash)
    assert st["boots"][:3] == ["ota_0", "ota_1", "ota_0"]
    assert st["state"]["ota_1"] == "aborted" and st["valid_calls"] == 0
    assert "FIRMWARE CRASHED" in b.lines


@pytest.mark.parametrize("what,image,code,text", [
    ("larger than the partition", _image(70 * 4096), 5, "holds"),
    ("not an ESP32 image", b"\x7fELF" + b"\0" * 5000, 8, "not an ESP32 app image"),
])
def test_bad_firmware_refused(what, image, code, text, iotda, files, test_ca, tmp_path, flash):
    cfg = iotda_cfg(iotda, test_ca)
    cfg["cloud"]["fw_version"] = "fw-1.0"
    root = board_root(tmp_path, cfg)
    url, n, sha = files.offer("x.bin", image)
    b = _board(root)
    try:
        b.wait_line("STATUS up", 20)
        iotda.upgrade("dev1", "fw-4.0", url, n, sha, v2=True)
        rep = b.wait_for(lambda _: [p for p in _progress(iotda) if p["result_code"] != 0], 40)[0]
        assert rep["result_code"] == code and text in rep["description"], rep
        assert b.boots == 1
    finally:
        b.stop()
    st = _flash(flash)
    assert st["boot"] == "ota_0" and st["state"].get("ota_1") is None


def test_firmware_through_thingscloud(tc, files, test_ca, tmp_path, flash):
    from .conftest import OTA_OPTS
    dev = tc.add_device("fw-board")
    cfg = tc.config(dev["id"], tls=True, version="1.0.0")
    cfg["app"] = {"report_interval": 5, "ota": dict(OTA_OPTS, ca=test_ca["ca"])}
    root = board_root(tmp_path, cfg)
    img = _image(2 * 4096)
    url, n, sha = files.offer("fw.bin", img)
    b = _board(root)
    try:
        b.wait_line("STATUS up", 20)
        r = tc.command("otaUpgrade", {"upgrade": True, "url": url, "version": "fw-2.0", "sha256": sha,
                                      "size": n, "type": "firmware"}, device_id=dev["id"])
        assert r["params"] == {"ota_result": 0, "version": "fw-2.0"}
        res = b.wait_for(lambda _: [e["params"] for e in tc.events.get(dev["id"], [])
                                    if e.get("method") == "otaResult"], 40)[0]
        assert res["ota_result"] == 0 and res["target"] == "fw-2.0"
    finally:
        b.stop()
    st = _flash(flash)
    assert st["writes"] == [["ota_1", 0, 4096], ["ota_1", 1, 4096]]
    assert st["state"]["ota_1"] == "valid" and st["boots"] == ["ota_0", "ota_1"]
