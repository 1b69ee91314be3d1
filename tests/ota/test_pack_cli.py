"""`iotlink ota pack` / `show`: what the vendor consoles ask for, and the
files a bundle must never carry."""

import hashlib

import pytest

from iotlink_tools import cli, ota


def test_pack_prints_version_size_and_sha256(tmp_path, capsys):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "app" / "sensors.py").write_text("X = 1\n")
    out = tmp_path / "a.iotb"
    assert cli.main(["ota", "pack", str(tmp_path / "app"), "--board", "picow", "--version", "2.0.1",
                     "-o", str(out)]) == 0
    text = capsys.readouterr().out
    data = out.read_bytes()
    assert "version 2.0.1" in text and "size    %d bytes" % len(data) in text
    assert "sha256  " + hashlib.sha256(data).hexdigest() in text
    m = ota.read_manifest(str(out))
    assert (m["port"], m["arch"], m["board"]) == ("rp2", "armv6m", "picow")
    assert [f[0] for f in m["files"]] == ["main.py", "sensors.mpy"]
    assert cli.main(["ota", "show", str(out)]) == 0
    assert "sensors.mpy" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["boot.py", ".ota/state.json"])
def test_pack_refuses_what_the_recovery_needs(tmp_path, capsys, name):
    d = tmp_path / "app"
    (d / ".ota").mkdir(parents=True)
    (d / "main.py").write_text("print(1)\n")
    (tmp_path / name.split("/")[-1]).write_text("x")
    src = str(tmp_path / "boot.py") if name == "boot.py" else str(d)
    if name != "boot.py":
        (d / ".ota" / "state.json").write_text("{}")
        # dot folders are skipped in a folder; named explicitly they are refused
        assert cli.main(["ota", "pack", src, "--board", "unix", "--version", "1", "-o",
                         str(tmp_path / "x.iotb")]) == 0
        assert [f[0] for f in ota.read_manifest(str(tmp_path / "x.iotb"))["files"]] == ["main.py"]
        return
    assert cli.main(["ota", "pack", src, "--board", "unix", "--version", "1", "-o",
                     str(tmp_path / "x.iotb")]) == 2
    assert "never part of an update" in capsys.readouterr().err


def test_pack_refuses_a_config_that_is_not_json(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{nope")
    assert cli.main(["ota", "pack", str(tmp_path / "config.json"), "--board", "unix", "--version", "1",
                     "-o", str(tmp_path / "x.iotb")]) == 2
    assert "config.json: not valid JSON" in capsys.readouterr().err


def test_local_iotda_offer_command_serves_the_bundle(iotda, tmp_path):
    import urllib.request
    import ssl
    from iotlink_tools.sims.iotda import _cli_line
    from .conftest import bundle
    blob, _ = bundle(tmp_path, "3.0.0")
    path = tmp_path / "x.iotb"
    path.write_bytes(blob)
    out = _cli_line(iotda, "offer dev1 %s" % path)
    assert out["file_size"] == len(blob) and out["sign"] == hashlib.sha256(blob).hexdigest()
    ctx = ssl.create_default_context(cafile=iotda.tls["ca"])
    with urllib.request.urlopen(out["url"], context=ctx) as r:
        assert r.read() == blob
