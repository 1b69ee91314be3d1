"""firmware/examples/alientek_dtu.py on the unix port against the local
原子云 (plain ws://): config mistakes name the field; odd lines from the
device (not UTF-8, unknown, out of range) are answered and never stop it."""

import json
import os

from iotlink_tools import paths, upy

from .conftest import NUMBER, PASSWORD

EXAMPLE = os.path.join(paths.FIRMWARE, "examples", "alientek_dtu.py")


def _cfg(cloud, **app):
    return {"cloud": {"type": "alientek", "token": cloud.token, "org_id": next(iter(cloud.orgs)),
                      "api": cloud.base + "/api", "ws": cloud.base.replace("http", "ws") + "/connection"},
            "app": app}


def _start(tmp_path, cfg):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return upy.start(EXAMPLE, args=("config.json",), extra_path=(os.path.join(paths.BOARDS, "unix"),),
                     cwd=str(tmp_path))


def test_config_mistakes_name_the_field(cloud, tmp_path):
    for app, field in (({}, "app.dtu: required"), ({"dtu": "123"}, "app.dtu: must be a 20-digit"),
                       ({"dtu": NUMBER, "report_interval": 1}, "app.report_interval")):
        p = _start(tmp_path, _cfg(cloud, **app))
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and "config problem: " + field in out, (out, err)
    assert not cloud.ws    # nothing was opened


def test_odd_lines_from_the_device_are_answered(cloud, tmp_path):
    got = []
    link = cloud.device_login(NUMBER, PASSWORD, got.append)
    p = _start(tmp_path, _cfg(cloud, dtu=NUMBER, report_interval=5, run_seconds=4))
    try:
        cloud.wait_subscribed(NUMBER, 20)
        cloud.wait(lambda: got, 10)                       # the first reading, at once
        link.send(b"\xff\xfe\r\ninterval 7\r\ninterval 3\r\n\r\nled  on\r\n")
        cloud.wait(lambda: len(got) >= 5, 10)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert got[0].startswith(b"count=1 temperature=") and got[0].endswith(b"\r\n")
    assert got[1:5] == [b"unknown: \xff\xfe\r\n", b"interval=7\r\n", b"unknown: interval 3\r\n",
                        b"led=on\r\n"]
    assert "LED on" in out and "'bad_input': 0" in out and "'handler_errors': 0" in out
    link.close()
