"""Bad packages and bad networks through the local IoTDA: each is reported
with its upgrade_progress_report result code, the running app keeps running,
and nothing is left staged."""

import hashlib
import json
import os
import struct

from iotlink_tools import unix_board

from .conftest import board_root, bundle, iotda_cfg


def _lie_about_size(blob):
    n = struct.unpack(">I", blob[6:10])[0]
    m = json.loads(blob[10:10 + n])
    m["size"] += 1
    head = json.dumps(m).encode()
    return blob[:6] + struct.pack(">I", len(head)) + head + blob[10 + n:]


def _short_file(blob):
    """The manifest says one byte less for the first file than it holds."""
    n = struct.unpack(">I", blob[6:10])[0]
    m = json.loads(blob[10:10 + n])
    m["files"][0][1] -= 1
    m["size"] -= 1
    head = json.dumps(m).encode()
    return blob[:6] + struct.pack(">I", len(head)) + head + blob[10 + n:]


def test_faults_are_reported_and_the_app_keeps_running(iotda, files, test_ca, tmp_path):
    cfg = iotda_cfg(iotda, test_ca)
    root = board_root(tmp_path, cfg)
    before = {n: open(os.path.join(root, n), "rb").read() for n in ("main.py", "board.py")}
    good, _ = bundle(tmp_path, "1.1.0")
    esp, _ = bundle(tmp_path, "1.1.0", board="esp32")
    bad_cfg = json.loads(json.dumps(cfg))
    bad_cfg["cloud"]["port"] = "eighty"
    with_bad_cfg, _ = bundle(tmp_path, "1.1.0", extra=[("config.json", json.dumps(bad_cfg))])
    not_json, _ = bundle(tmp_path, "1.1.0", extra=[("config.json", "[1, 2]")])
    cut = good[:len(good) - 700]

    def order(name, blob, fault=None, sign=None, size=None, version="1.1.0"):
        url, n, sha = files.offer(name, blob, fault=fault)
        return lambda: iotda.upgrade("dev1", version, url, n if size is None else size,
                                     sign or sha, software=True, v2=True)

    cases = [
        ("wrong SHA-256", order("a", good, sign="0" * 64), 7, "SHA-256"),
        ("server sends less than announced", order("b", good, fault="short"), 7, "expected"),
        ("bundle truncated at the source", order("c", cut), 7, "ends before its last file"),
        ("another board", order("d", esp), 8, "bundle is for esp32"),
        ("manifest size lies", order("e", _lie_about_size(good)), 7, "not the sum of its files"),
        ("manifest file size lies", order("f", _short_file(good)), 7, "does not match the manifest"),
        ("config.json that fails the checks", order("g", with_bad_cfg), 7, "cloud.port"),
        ("config.json that is no object", order("g2", not_json), 7, "top level must be a JSON object"),
        ("redirect", order("h", good, fault="redirect"), 255, "HTTP 302"),
        ("link dropped mid-download", order("i", good, fault="drop"), 2, "cut short"),
        ("stalled download", order("j", good, fault="stall"), 6, ""),
        ("already running it", order("k", good, version="1.0.0"), 3, "already running"),
    ]
    b = unix_board.Board(root).run(boots=3)
    try:
        b.wait_line("STATUS up", 20)
        for what, send, code, text in cases:
            seen = len(iotda.events_up("dev1", "upgrade_progress_report"))
            send()
            got = b.wait_for(lambda _: [e["paras"] for e in
                                        iotda.events_up("dev1", "upgrade_progress_report")[seen:]
                                        if e["paras"]["result_code"] != 0], 30)[0]
            assert (got["result_code"], got["version"]) == (code, "1.0.0"), (what, got)
            assert text in got["description"], (what, got)
            assert not os.path.exists(os.path.join(root, ".ota", "new")), what
            for name, data in before.items():
                assert open(os.path.join(root, name), "rb").read() == data, (what, name)
        r = iotda.send_command("dev1", "default", "ping", {"still": "here"})
        assert r["paras"]["echo"] == {"still": "here"}
        assert b.boots == 1
        assert not os.path.exists(os.path.join(root, ".ota", "state.json"))   # nothing left to do
    finally:
        b.stop()
    assert not os.path.exists(os.path.join(root, "board.mpy"))
    assert hashlib.sha256(before["main.py"]).digest() == hashlib.sha256(
        open(os.path.join(root, "main.py"), "rb").read()).digest()
