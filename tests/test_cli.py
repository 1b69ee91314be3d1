"""The iotlink command without hardware: the exact mpremote/esptool calls,
argument checking and errors that name the fix."""

import json
import os
import stat
import subprocess
import sys

import pytest

from iotlink_tools import board_tools, cli, paths

FAKE = """#!%s
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_RC", "0")))
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("mpremote", "esptool"):
        p = bin_dir / name
        p.write_text(FAKE % sys.executable)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.jsonl"
    # stand-ins for the board tools (no board here): they record their arguments
    monkeypatch.setattr(board_tools, "_tool", lambda module, package: [str(bin_dir / module)])
    monkeypatch.setenv("FAKE_LOG", str(log))

    def calls():
        return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    return calls


@pytest.fixture
def good_config(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"cloud": {"type": "mqtt", "host": "broker.local", "client_id": "b1"}}))
    return str(p)


def esp_image(chip_id):
    """The first bytes of an ESP bootloader image (esptool's image format): magic 0xE9,
    segment count, flash mode/size, entry point, then the extended header whose
    bytes 4-5 are the chip id."""
    import struct
    return struct.pack("<BBBBI", 0xE9, 3, 2, 0x20, 0x40080400) + struct.pack("<B3sH", 0xEE, b"\0\0\0", chip_id) \
        + b"\0" * 500


def uf2_image():
    import struct
    block = struct.pack("<IIIIIIII", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000, 256, 0, 1, 0xE48BFF56)
    return block + b"\0" * (508 - len(block)) + struct.pack("<I", 0x0AB16F30)


def test_flash_esp32_variants_use_chip_and_offset(fake_tools, tmp_path):
    for board, chip, offset, chip_id in (("esp32", "esp32", "0x1000", 0), ("esp32s3", "esp32s3", "0x0", 9),
                                         ("esp32c3", "esp32c3", "0x0", 5)):
        fw = tmp_path / ("%s.bin" % board)
        fw.write_bytes(esp_image(chip_id))
        assert cli.main(["flash", "--port", "/dev/ttyUSB0", "--board", board, "--firmware", str(fw)]) == 0
        erase, write = fake_tools()[-2:]
        assert erase == ["esptool", "--chip", chip, "--port", "/dev/ttyUSB0", "erase-flash"]
        assert write == ["esptool", "--chip", chip, "--port", "/dev/ttyUSB0", "--baud", "460800",
                         "write-flash", offset, str(fw)]


def test_flash_refuses_wrong_image_and_missing_file(fake_tools, tmp_path, capsys):
    uf2 = tmp_path / "fw.uf2"
    uf2.write_bytes(b"x")
    assert cli.main(["flash", "--port", "p", "--board", "esp32", "--firmware", str(uf2)]) == 2
    assert ".bin image" in capsys.readouterr().err
    assert cli.main(["flash", "--port", "p", "--board", "esp32", "--firmware", "nope.bin"]) == 2
    assert "not found" in capsys.readouterr().err
    assert fake_tools() == []


def test_flash_checks_the_image_before_erasing(fake_tools, tmp_path, capsys):
    fw = tmp_path / "fw.bin"
    for data, why in ((b"\0" * 600, "not an ESP firmware image"), (b"", "not an ESP firmware image"),
                      (esp_image(9), "built for esp32s3, not the esp32"),
                      (esp_image(77), "built for chip id 77")):
        fw.write_bytes(data)
        assert cli.main(["flash", "--port", "p", "--board", "esp32", "--firmware", str(fw)]) == 2
        assert why in capsys.readouterr().err
    uf2 = tmp_path / "fw.uf2"
    uf2.write_bytes(esp_image(0))
    assert cli.main(["flash", "--port", "p", "--board", "picow", "--firmware", str(uf2)]) == 2
    assert "not a UF2 image" in capsys.readouterr().err
    assert fake_tools() == []   # nothing erased


def test_flash_pico_w_explains_bootsel(fake_tools, tmp_path, capsys):
    uf2 = tmp_path / "RPI_PICO_W.uf2"
    uf2.write_bytes(uf2_image())
    assert cli.main(["flash", "--port", "p", "--board", "picow", "--firmware", str(uf2)]) == 0
    assert "BOOTSEL" in capsys.readouterr().out
    assert fake_tools() == []


def test_deploy_copies_only_changed_files_and_installs_umqtt_once(fake_tools, good_config, tmp_path):
    changed = board_tools.deploy("/dev/ttyACM0", "picow", good_config, state_dir=str(tmp_path))
    calls = fake_tools()
    copy, mip, reset = calls
    assert copy[:4] == ["mpremote", "connect", "/dev/ttyACM0", "exec"]
    dsts = [copy[i + 4] for i, a in enumerate(copy) if a == "+"]
    assert ":lib/iotlink/device.mpy" in dsts and ":main.py" in dsts and ":board.py" in dsts
    assert ":config.json" in dsts and ":board.json" in dsts
    assert all(copy[i + 1:i + 3] == ["fs", "cp"] for i, a in enumerate(copy) if a == "+")
    assert len(dsts) == len(changed)
    assert mip == ["mpremote", "connect", "/dev/ttyACM0", "mip", "install", "umqtt.simple"]
    assert reset == ["mpremote", "connect", "/dev/ttyACM0", "reset"]
    # nothing changed: no copy, no second mip install
    assert board_tools.deploy("/dev/ttyACM0", "picow", good_config, state_dir=str(tmp_path)) == []
    assert fake_tools()[3:] == [["mpremote", "connect", "/dev/ttyACM0", "reset"]]
    # one file changed: only it is copied
    cfg = json.loads(open(good_config).read())
    cfg["cloud"]["client_id"] = "b2"
    open(good_config, "w").write(json.dumps(cfg))
    changed = board_tools.deploy("/dev/ttyACM0", "picow", good_config, state_dir=str(tmp_path))
    assert [d for _, d in changed] == ["config.json"]


def test_deploy_esp32_skips_mip_because_umqtt_is_frozen(fake_tools, good_config, tmp_path):
    board_tools.deploy("/dev/ttyUSB0", "esp32", good_config, state_dir=str(tmp_path))
    assert not [c for c in fake_tools() if "mip" in c]


def test_deploy_names_the_bad_config_field_before_touching_the_board(fake_tools, tmp_path, capsys):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"cloud": {"type": "mqtt", "client_id": "b1"}}))
    assert cli.main(["deploy", "--port", "/dev/ttyUSB0", "--board", "esp32", "--config", str(p)]) == 2
    assert "cloud.host" in capsys.readouterr().err
    assert cli.main(["deploy", "--port", "/dev/ttyUSB0", "--board", "esp32", "--config",
                     str(tmp_path / "missing.json")]) == 2
    assert "not found" in capsys.readouterr().err
    assert fake_tools() == []


def test_deploy_reports_a_missing_board(fake_tools, good_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_RC", "1")
    assert cli.main(["deploy", "--port", "/dev/ttyUSB9", "--board", "esp32", "--config", good_config]) == 2
    err = capsys.readouterr().err
    assert "copy failed" in err or "no board answers" in err


def test_unknown_board_is_an_argument_error():
    with pytest.raises(SystemExit):
        cli.main(["deploy", "--port", "p", "--board", "esp8266"])


def test_creds_prints_what_the_library_sends(tmp_path, capsys):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"cloud": {"type": "mqtt", "host": "h.example", "client_id": "c1",
                                       "username": "u1", "password": "p1-secret"}}))
    assert cli.main(["creds", "--config", str(p)]) == 0
    out = capsys.readouterr().out
    assert "h.example" in out and "c1" in out and "u1" in out and "p1-secret" in out


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _copied(calls):
    """{board path: host file} of the mpremote `fs cp` steps in ``calls``."""
    return {c[i + 4][1:]: c[i + 3] for c in calls for i, a in enumerate(c) if a == "+" and c[i + 1:i + 3] == ["fs", "cp"]}


def test_deploy_copies_the_files_the_config_names_to_their_board_paths(fake_tools, tmp_path, capsys):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text(PEM)
    (tmp_path / "dev.crt").write_text(PEM)
    (tmp_path / "dev.key").write_text(PEM.replace("CERTIFICATE", "PRIVATE KEY"))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"cloud": {"type": "mqtt", "host": "b.example", "client_id": "b1", "tls": True,
                                         "ca": "certs/ca.pem", "cert": "dev.crt", "key": "dev.key"}}))
    board_tools.deploy("/dev/ttyUSB0", "esp32", str(cfg), state_dir=str(tmp_path))
    copied = _copied(fake_tools())
    assert copied["certs/ca.pem"] == str(tmp_path / "certs" / "ca.pem")
    assert copied["dev.crt"] == str(tmp_path / "dev.crt") and copied["dev.key"] == str(tmp_path / "dev.key")
    assert copied["main.py"].endswith(os.path.join("firmware", "main.py"))
    out = capsys.readouterr().out
    assert "cloud.ca: " in out and "-> :certs/ca.pem" in out and "-> :dev.key" in out
    assert "board app: firmware/main.py" in out
    # unchanged files are not copied again, and say so; a changed key is
    n = len(fake_tools())
    (tmp_path / "dev.key").write_text(PEM.replace("CERTIFICATE", "PRIVATE KEY") + "\n")
    board_tools.deploy("/dev/ttyUSB0", "esp32", str(cfg), state_dir=str(tmp_path))
    assert list(_copied(fake_tools()[n:])) == ["dev.key"]
    out = capsys.readouterr().out
    assert "-> :certs/ca.pem, unchanged" in out and "-> :dev.key\n" in out


def test_deploy_names_a_missing_ca_before_touching_the_board(fake_tools, tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"cloud": {"type": "mqtt", "host": "b.example", "client_id": "b1", "tls": True,
                                         "ca": "ca.der"}}))
    assert cli.main(["deploy", "--port", "/dev/ttyUSB0", "--board", "esp32", "--config", str(cfg)]) == 2
    assert "cloud.ca: ca.der: file not found" in capsys.readouterr().err
    (tmp_path / "ca.der").write_text("not a certificate")
    assert cli.main(["deploy", "--port", "/dev/ttyUSB0", "--board", "esp32", "--config", str(cfg)]) == 2
    assert "cloud.ca: ca.der: not a PEM or DER file" in capsys.readouterr().err
    assert fake_tools() == []


@pytest.mark.parametrize("cloud,app", [
    ({"type": "alientek", "token": "0115b0e4a89f7819ea88f81006117646", "org_id": 1, "ca": "ca.pem",
      "devices": ["12345678901234567890"]}, "examples/alientek_dtu.py"),
    ({"type": "sensecap", "org_id": "1234567890", "access_key": "K" * 64},
     "examples/sensecap_threshold.py"),
    ({"type": "iotda", "host": "h.example", "device_id": "p_n1", "secret": "12345678", "ca": "ca.pem"}, "main.py"),
])
def test_deploy_installs_the_board_app_of_each_documented_cloud(fake_tools, tmp_path, capsys, cloud, app):
    (tmp_path / "ca.pem").write_text(PEM)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"cloud": cloud, "app": {"eui": "2CF7F1C0443000F1", "measurement": 4097}}))
    assert cli.main(["deploy", "--port", "/dev/ttyACM0", "--board", "picow", "--config", str(cfg)]) == 0, \
        capsys.readouterr()
    assert _copied(fake_tools())["main.py"] == os.path.join(paths.FIRMWARE, *app.split("/"))
    assert "board app: firmware/%s -> :main.py (for cloud.type %s)" % (app, cloud["type"]) in capsys.readouterr().out


def test_creds_on_a_bad_config_prints_the_message_alone_and_exits_2(tmp_path, capsys):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"cloud": {"type": "iotda", "host": "h", "device_id": "d_1", "secret": "12345678",
                                       "ca": "missing.pem"}}))
    assert cli.main(["creds", "--config", str(p)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "iotlink creds: %s: cloud.ca: missing.pem: file not found or not readable\n" % p


def test_creds_at_a_fixed_time_reproduces_huaweis_documented_example(tmp_path, capsys):
    # device, secret and hour of Huawei's example: ClientId ..._0_0_2025041401, password c75150e6...820a
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"cloud": {"type": "iotda", "host": "h", "device_id": "64f1a2b3c4d5e6f7a8b9c0d1_node01",
                                       "secret": "12345678", "tls": False}}))
    assert cli.main(["creds", "--config", str(p), "--at", "2025-04-14T01"]) == 0
    out = capsys.readouterr().out
    assert "client id  64f1a2b3c4d5e6f7a8b9c0d1_node01_0_0_2025041401" in out
    assert "password   c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a" in out
    assert cli.main(["creds", "--config", str(p), "--at", "2025-04-14T01:59:59"]) == 0
    assert "_0_0_2025041401" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["creds", "--config", str(p), "--at", "2025-04-14 01"])


def test_creds_warns_about_placeholders_left_from_examples(tmp_path, capsys):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"wifi": {"ssid": "<your-ssid>"},
                             "cloud": {"type": "mqtt", "host": "h", "client_id": "<client-id>"}}))
    assert cli.main(["creds", "--config", str(p)]) == 0
    err = capsys.readouterr().err
    assert "wifi.ssid is still a <placeholder>" in err and "cloud.client_id is still a <placeholder>" in err
    assert "cloud.host" not in err


def test_build_every_arch(tmp_path):
    for arch in ("xtensawin", "armv6m"):
        sizes = cli.build(arch, str(tmp_path / arch))
        assert "iotlink/device.py" in sizes and all(os.path.exists(tmp_path / arch / (k[:-3] + ".mpy"))
                                                    for k in sizes)


def test_run_demo_round_trips_on_the_unix_port():
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "run", "--seconds", "9"],
                       cwd=os.path.join(paths.ROOT, "tools"), capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"id":"op-1","ok":true,"name":"ping"' in r.stdout
    assert "LED on" in r.stdout and "round trips done" in r.stdout
    assert '"ok":false,"name":"nope"' in r.stdout


def _run_demo(cloud, seconds):
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "run", "--cloud", cloud,
                        "--seconds", str(seconds)],
                       cwd=os.path.join(paths.ROOT, "tools"), capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_run_demo_against_the_local_iotda():
    out = _run_demo("iotda", 9)
    assert "(TLS)" in out and '"result_code": 0, "response_name": "ping"' in out
    assert "LED on" in out and "LED off" in out
    assert '"result_code": 1, "response_name": "nope"' in out


def test_run_demo_against_the_local_sensecap_switches_the_led_with_hysteresis():
    out = _run_demo("sensecap", 10)
    outputs = [l for l in out.splitlines() if l.startswith("OUTPUT ")]
    # 25 off, 31 on, 29.5 held on (hysteresis), 28.5 off, 30.2 on
    assert [l.split()[1] for l in outputs] == ["off", "on", "off", "on"], out
    assert outputs[2].split()[2] == "28.5"


def test_run_refuses_an_unknown_cloud():
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "run", "--cloud", "nimbus"],
                       cwd=os.path.join(paths.ROOT, "tools"), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "choose one of" in r.stderr


def test_run_demo_against_the_local_thingscloud():
    out = _run_demo("thingscloud", 9)
    assert "(TLS)" in out and '"method":"ping"' in out
    assert "LED on" in out and "LED off" in out
    assert 'cloud <- attributes {"led":false}' in out   # the pushed state is re-reported


def test_thingscloud_subcommand_is_wired():
    r = subprocess.run([sys.executable, "-m", "iotlink_tools.cli", "thingscloud", "--", "--help"],
                       cwd=os.path.join(paths.ROOT, "tools"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "create-device" in r.stdout


def test_run_demo_against_the_local_iotkit():
    out = _run_demo("iotkit", 9)
    assert '"method": "thing.service.ping_reply", "code": 0' in out
    assert '"code": 500' in out and "LED on" in out and "LED off" in out


def test_package_json_installs_every_library_module_and_umqtt():
    pkg = json.load(open(os.path.join(paths.ROOT, "package.json")))
    mods = sorted(os.path.relpath(os.path.join(d, f), paths.LIB)
                  for d, _, fs in os.walk(paths.LIB) for f in fs if f.endswith(".py"))
    assert sorted(dst for dst, _ in pkg["urls"]) == mods, "run: python -m iotlink_tools.package"
    assert all(src == "lib/" + dst and os.path.exists(os.path.join(paths.ROOT, src))
               for dst, src in pkg["urls"])
    assert ["umqtt.simple", "latest"] in pkg["deps"] and all(len(d) == 2 for d in pkg["deps"])


def test_run_demo_against_the_local_alientek_shows_both_directions():
    import re
    out = _run_demo("alientek", 12)
    assert "WebSocket wss://" in out and "firmware/examples/alientek_dtu.py" in out
    assert re.search(r"cloud <- 0x01 subscribe \d{20}", out)
    # cloud -> board: the DTU's notices and lines reach the board, which obeys them
    assert "DTU online" in out and "DTU offline" in out
    assert out.index("FROM DTU led on") < out.index("LED on") < out.index("FROM DTU led off") < out.index("LED off")
    # board -> cloud -> DTU: the answers and a periodic reading arrive at the DTU
    for answer in ("led=on", "led=off", "unknown: dance"):
        assert "  DTU got " + answer in out
    assert re.search(r"  DTU got pong uptime=\d+", out)
    assert re.search(r"  DTU got count=\d+ temperature=[\d.]+", out)
    # stopped by --seconds with exit 0 (checked by _run_demo): one connection, no link error
    stats = out.split("STATS ", 1)[1].splitlines()[0]
    assert "'connects': 1" in stats and "'link_errors': 0" in stats


def test_bench_micropython_that_cannot_run_is_refused_with_the_reason(tmp_path):
    """--micropython names a binary that must run a script: a folder, a
    program that prints nothing, and a 32-bit ELF whose loader is missing are
    each refused, the last with the package to install."""
    from iotlink_tools import bench, upy
    assert bench._unrunnable(str(tmp_path)) == "is not an executable file"
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexit 0\n")
    silent.chmod(0o755)
    assert bench._unrunnable(str(silent)).startswith("does not run a script")
    elf32 = tmp_path / "upy32"
    # an ELF header for i386 whose interpreter cannot be found: exec fails
    elf32.write_bytes(b"\x7fELF\x01\x01\x01" + b"\0" * 9 + b"\x02\0\x03\0" + b"\0" * 36)
    elf32.chmod(0o755)
    why = bench._unrunnable(str(elf32))
    assert why.startswith("does not start") and "libc6-i386" not in why, why
    assert bench._unrunnable(upy.micropython_exe()) is None
