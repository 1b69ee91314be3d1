"""`iotlink thingscloud` against the local ThingsCloud, and the local cloud's
MQTT door: credentials, per-device topic mapping, topic rights, one link per token."""

import json
import os
import threading

import paho.mqtt.client as paho
import pytest

from .conftest import app_keys, wait_for
from iotlink_tools import thingscloud_cli


def test_cli_login_devices_create_command_push(sim, tmp_path, capsys, monkeypatch):
    app, ak, sk = app_keys(sim)
    session = str(tmp_path / "s.json")
    base = ["--api", sim.api_url, "--app-id", app, "--access-key", ak, "--secret-key", sk,
            "--session", session]
    assert thingscloud_cli.main(base + ["login"]) == 0
    assert oct(os.stat(session).st_mode & 0o777) == "0o600"
    saved = json.load(open(session))
    assert saved["token"] in sim.tokens and sk not in open(session).read()
    # later commands use the kept token, no keys needed
    assert thingscloud_cli.main(["--api", sim.api_url, "--session", session, "devices"]) == 0
    out = capsys.readouterr().out
    assert sim.demo["id"] in out and "device(s)" in out
    cfg_path = str(tmp_path / "config.json")
    assert thingscloud_cli.main(base + ["create-device", "cli board", "--mqtt-host", "127.0.0.1",
                                        "--mqtt-port", str(sim.port), "--device-key", "cli-1",
                                        "-o", cfg_path]) == 0
    cfg = json.load(open(cfg_path))
    d = sim.device_by_key("cli-1")
    assert cfg == {"cloud": {"type": "thingscloud", "host": "127.0.0.1", "access_token": d["access_token"],
                             "project_key": sim.project_key, "port": sim.port}}
    seen = []
    monkeypatch.setattr(sim, "down", lambda did, t, b: seen.append((did, t, b)))
    assert thingscloud_cli.main(base + ["send-command", d["id"], "restart", '{"delay": 2}', "--id", "9"]) == 0
    assert thingscloud_cli.main(base + ["push-attributes", d["id"], '{"relay": true}']) == 0
    assert seen == [(d["id"], "command/send/9", {"method": "restart", "params": {"delay": 2}, "id": 9}),
                    (d["id"], "attributes/push", {"relay": True})]
    assert thingscloud_cli.main(base + ["push-attributes", "nobody", "{}"]) == 2
    assert "device not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        thingscloud_cli.main(base + ["push-attributes", d["id"], "[1]"])


class Dev:
    def __init__(self, sim, token, pkey=None, cid=None):
        self.got = []
        self.rc = None
        self.subs = {}
        self.up = threading.Event()
        self.gone = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=cid or "dev-%d" % id(self))
        self.c.username_pw_set(token, pkey or sim.project_key)
        self.c.on_connect = self._conn
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subs.__setitem__(mid, [x.value for x in codes])
        self.c.on_disconnect = lambda *a: self.gone.set()
        self.c.connect("127.0.0.1", sim.port, 30)
        self.c.loop_start()

    def _conn(self, c, u, f, rc, p=None):
        self.rc = rc.value
        self.up.set()

    def sub(self, topic):
        mid = self.c.subscribe(topic, 0)[1]
        assert wait_for(lambda: mid in self.subs)
        return self.subs[mid]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_door(sim):
    a = Dev(sim, sim.demo["access_token"])
    other = sim.add_device("other")
    b = Dev(sim, other["access_token"])
    try:
        assert a.up.wait(5) and b.up.wait(5) and a.rc == b.rc == 0
        assert a.sub("attributes/push") == [0] and b.sub("attributes/push") == [0]
        assert a.sub("command/send/+") == [0]
        assert a.sub("#")[0] >= 0x80 and a.sub("tc/dn/+/attributes/push")[0] >= 0x80
        # each device sees only its own downlinks, under its relative topics
        sim.push(other["id"], {"who": "b"})
        sim.send_command(sim.demo["id"], "m", {}, 5)
        assert wait_for(lambda: b.got and a.got)
        assert b.got == [("attributes/push", b'{"who": "b"}')]
        assert a.got == [("command/send/5", b'{"method": "m", "params": {}, "id": 5}')]
        # uplinks are mapped to the device that sent them
        assert b.sub("attributes/response") == [0]
        n = len(sim.uplinks)
        b.c.publish("attributes", '{"t": 1}', 1).wait_for_publish(5)
        assert wait_for(lambda: sim.devices[other["id"]]["attributes"].get("t", {}).get("value") == 1)
        assert sim.uplinks[n][:2] == (other["id"], "attributes")
        assert wait_for(lambda: ("attributes/response", b'{"result": 1, "message": "success"}') in b.got)
        # a topic outside ThingsCloud's device topics closes the link
        b.c.publish("tc/up/%s/attributes" % sim.demo["id"], "{}", 0)
        assert b.gone.wait(5)
        # one link per AccessToken: a second login closes the first
        a2 = Dev(sim, sim.demo["access_token"])
        assert a2.up.wait(5) and a2.rc == 0 and a.gone.wait(5)
        a2.close()
    finally:
        a.close()
        b.close()
    for token, pk in (("no-such-token", None), (sim.demo["access_token"], "WrongKey")):
        d = Dev(sim, token, pk)
        assert d.up.wait(5) or d.gone.wait(5)
        assert wait_for(lambda: sim.front.connects[-1][1] == 4)
        d.close()
