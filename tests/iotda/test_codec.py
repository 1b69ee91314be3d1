"""The IoTDA codec, topic by topic and payload by payload (CPython)."""

import calendar
import json

import pytest

from iotlink.clouds import iotda
from iotlink.errors import ConfigError
from iotlink.request import COMMAND, SET, GET, MESSAGE, EVENT, SYSTEM

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

DID = "prod_node-01"
SYS = b"$oc/devices/prod_node-01/sys/"
NOW = calendar.timegm((2024, 2, 29, 23, 5, 9))


def cloud(**kw):
    c = {"type": "iotda", "host": "iot.example", "device_id": DID, "secret": "topsecret",
         "ca": "ca.pem"}
    c.update(kw)
    return iotda.Cloud({"cloud": c})


def body(p):
    return json.loads(p)


# ----- config ------------------------------------------------------------------

def test_endpoint_defaults():
    ep = cloud().ep
    assert (ep["host"], ep["port"], ep["tls"], ep["keepalive"]) == ("iot.example", 8883, True, 120)
    assert cloud(tls=False).ep["port"] == 1883


@pytest.mark.parametrize("ka,ok", [(29, False), (30, True), (1200, True), (1201, False), (0, False)])
def test_keepalive_range(ka, ok):
    if ok:
        assert cloud(keepalive=ka).ep["keepalive"] == ka
    else:
        with pytest.raises(ConfigError, match="keepalive"):
            cloud(keepalive=ka)


@pytest.mark.parametrize("did", ["", "a b", "dev/1", "dev+1", "x" * 129, "dév"])
def test_device_id_rule(did):
    with pytest.raises(ConfigError, match="device_id"):
        cloud(device_id=did)


def test_device_id_limits_accepted():
    assert cloud(device_id="A_z-9" + "x" * 123).device_id.startswith("A_z-9")


def test_config_errors_never_show_the_secret():
    for kw in ({"sign_type": 2}, {"keepalive": 5}, {"device_id": "bad id"}):
        with pytest.raises(ConfigError) as e:
            cloud(**kw)
        assert "topsecret" not in str(e.value)
    with pytest.raises(ConfigError, match="secret"):
        iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "d", "ca": "c"}})
    assert "topsecret" not in repr(cloud()) + repr(cloud().__dict__.get("ep"))


# ----- session -----------------------------------------------------------------

def test_subscriptions_will_and_flags():
    c = cloud()
    subs = c.subscriptions()
    assert list(subs) == [(SYS + t, 1) for t in (
        b"commands/#", b"properties/set/#", b"properties/get/#", b"shadow/get/response/#",
        b"messages/down", b"events/down")]
    assert len(subs) <= 50
    assert c.will() is None
    assert c.REPORT_AFTER_SET is False


def test_on_connect():
    assert cloud().on_connect(NOW) == []
    out = cloud(sw_version="1.2", fw_version="boot-7", time_sync=True).on_connect(NOW)
    assert [(t, q, r) for t, _, q, r in out] == [(SYS + b"events/up", 1, False)] * 2
    v, t = body(out[0][1]), body(out[1][1])
    assert v == {"services": [{"service_id": "$ota", "event_type": "version_report",
                               "event_time": "20240229T230509Z",
                               "paras": {"sw_version": "1.2", "fw_version": "boot-7"}}]}
    assert t == {"services": [{"service_id": "$time_sync", "event_type": "time_sync_request",
                               "paras": {"device_send_time": NOW * 1000}}]}


# ----- uplinks -----------------------------------------------------------------

def test_report_default_and_named_service():
    t, p = cloud().report({"temp": 21.5}, None, NOW)
    assert t == SYS + b"properties/report"
    assert body(p) == {"services": [{"service_id": "default", "properties": {"temp": 21.5}}]}
    t, p = cloud(service="Meter", event_time=True).report({"v": 1}, None, NOW)
    assert body(p) == {"services": [{"service_id": "Meter", "properties": {"v": 1},
                                     "event_time": "20240229T230509Z"}]}
    assert body(cloud().report({"level": 80}, "Battery", NOW)[1])["services"][0]["service_id"] == "Battery"


def test_report_services():
    t, p = cloud().report_services({"Temperature": {"value": 57}, "Battery": {"level": 80}}, NOW)
    assert t == SYS + b"properties/report"
    assert sorted(body(p)["services"], key=lambda s: s["service_id"]) == [
        {"service_id": "Battery", "properties": {"level": 80}},
        {"service_id": "Temperature", "properties": {"value": 57}}]


def test_report_64k_limit():
    c = cloud()
    c.report({"blob": "x" * 60000}, None, NOW)
    with pytest.raises(ValueError, match="64|65536"):
        c.report({"blob": "x" * 66000}, None, NOW)


def test_event_and_messages_up():
    c = cloud()
    t, p = c.event("overheat", {"temp": 91}, NOW)
    assert t == SYS + b"messages/up" and body(p) == {"name": "overheat", "content": {"temp": 91}}
    t, p = c.message("hello!", id="m1", target="child1")
    assert body(p) == {"content": "hello!", "id": "m1", "object_device_id": "child1"}
    assert c.raw_message(b"\x00raw") == (SYS + b"messages/up", b"\x00raw")
    c.raw_message(b"x" * 1048576)
    with pytest.raises(ValueError):
        c.raw_message(b"x" * 1048577)


def test_custom_topic_length():
    c = cloud()
    assert c.user_topic("a/b") == b"$oc/devices/prod_node-01/user/a/b"
    room = 128 - len(b"$oc/devices/prod_node-01/user/")
    c.user_topic("x" * room)
    with pytest.raises(ValueError):
        c.user_topic("x" * (room + 1))
    with pytest.raises(ValueError):
        c.user_topic("a/#")


def _event(p):
    b = body(p)
    assert len(b["services"]) == 1
    return b, b["services"][0]


def test_progress_and_codes():
    t, p = cloud().progress(iotda.OTA_OK, "V2.0", NOW, 80, "upgrade processing")
    b, s = _event(p)
    assert t == SYS + b"events/up"
    assert (s["service_id"], s["event_type"]) == ("$ota", "upgrade_progress_report")
    assert s["paras"] == {"result_code": 0, "progress": 80, "version": "V2.0",
                          "description": "upgrade processing"}
    assert (iotda.OTA_VERIFY, iotda.OTA_INSTALL, iotda.OTA_INTERNAL) == (7, 10, 255)
    with pytest.raises(ValueError):
        cloud().progress(0, "v", NOW, 101)


def test_time_sync_request_sends_a_number():
    t, p = cloud().time_sync_request(1582685678789)
    _, s = _event(p)
    assert s == {"service_id": "$time_sync", "event_type": "time_sync_request",
                 "paras": {"device_send_time": 1582685678789}}


def test_log_report_and_sdk_info():
    _, s = _event(cloud().log_report("DEVICE_MESSAGE", "log content", NOW, 1235668997)[1])
    assert s["paras"] == {"type": "DEVICE_MESSAGE", "content": "log content", "timestamp": "1235668997"}
    with pytest.raises(ValueError):
        cloud().log_report("CHATTER", "x", NOW)
    _, s = _event(cloud(sw_version="v1").sdk_info(NOW, "0.1.0")[1])
    assert s["event_type"] == "sdk_info_report"
    assert s["paras"] == {"device_sdk_version": "MicroPython_v0.1.0", "sw_version": "v1"}


def test_shadow_get_request():
    t, p = cloud().shadow_get(7, "WaterMeter")
    assert t == SYS + b"shadow/get/request_id=7" and body(p) == {"service_id": "WaterMeter"}
    t, p = cloud().shadow_get("r2", target="child")
    assert body(p) == {"object_device_id": "child"}


# ----- gateway -----------------------------------------------------------------

def test_sub_reports_split_at_100():
    kids = {"c%03d" % i: {"analog": {"v": i}} for i in range(250)}
    out = cloud().sub_reports(kids, NOW)
    assert [t for t, _ in out] == [SYS + b"gateway/sub_devices/properties/report"] * 3
    devs = [body(p)["devices"] for _, p in out]
    assert [len(d) for d in devs] == [100, 100, 50]
    assert devs[2][49] == {"device_id": "c249", "services": [{"service_id": "analog",
                                                              "properties": {"v": 249}}]}


def test_sub_reports_split_by_size():
    kids = {"c%d" % i: {"s": {"blob": "x" * 20000}} for i in range(7)}
    out = cloud().sub_reports(kids, NOW)
    assert all(len(p) <= 65536 for _, p in out)
    assert sum(len(body(p)["devices"]) for _, p in out) == 7 and len(out) >= 3
    with pytest.raises(ValueError):
        cloud().sub_reports({"big": {"s": {"blob": "x" * 70000}}}, NOW)


def test_sub_status_add_delete_sync():
    c = cloud()
    out = c.sub_status({"k%d" % i: "ONLINE" for i in range(150)}, NOW)
    assert [len(_event(p)[1]["paras"]["device_statuses"]) for _, p in out] == [100, 50]
    assert _event(out[0][1])[1]["paras"]["device_statuses"][0] == {"device_id": "k0", "status": "ONLINE"}
    with pytest.raises(ValueError):
        c.sub_status({"k": "ASLEEP"}, NOW)
    _, s = _event(c.sub_add([{"node_id": "n1", "product_id": "p"}], NOW, "e-1")[1])
    assert (s["event_type"], s["event_id"], s["paras"]) == (
        "add_sub_device_request", "e-1", {"devices": [{"node_id": "n1", "product_id": "p"}]})
    with pytest.raises(ValueError):
        c.sub_add([{"node_id": str(i), "product_id": "p"} for i in range(51)], NOW)
    _, s = _event(c.sub_delete(["p_n1"], NOW)[1])
    assert (s["event_type"], s["paras"]) == ("delete_sub_device_request", {"devices": ["p_n1"]})
    with pytest.raises(ValueError):
        c.sub_delete([], NOW)
    _, s = _event(c.sub_sync(3, NOW)[1])
    assert (s["event_type"], s["paras"]) == ("sub_device_sync_request", {"version": 3})


# ----- downlinks ---------------------------------------------------------------

def test_command_decode_and_reply():
    c = cloud()
    r = c.decode(SYS + b"commands/request_id=abc-1", json.dumps(
        {"object_device_id": "gw_child_01", "command_name": "ON_OFF", "service_id": "WaterMeter",
         "paras": {"value": "1"}}).encode())
    assert (r.kind, r.name, r.service, r.params, r.target, r.rid, r.error) == (
        COMMAND, "ON_OFF", "WaterMeter", {"value": "1"}, "gw_child_01", "abc-1", None)
    t, p = c.reply(r, {"result": "success"}, None)
    assert t == SYS + b"commands/response/request_id=abc-1"
    assert body(p) == {"result_code": 0, "response_name": "ON_OFF", "paras": {"result": "success"}}
    t, p = c.reply(r, None, "it broke")
    assert body(p) == {"result_code": 1, "response_name": "ON_OFF", "paras": {"error": "it broke"}}
    assert body(c.reply(r, None, None)[1]) == {"result_code": 0, "response_name": "ON_OFF"}


@pytest.mark.parametrize("payload,err", [
    (b"not json", "JSON"), (b"[1,2]", "object"), (b'{"command_name": 5}', "string"),
    (b'{"command_name": "x", "paras": "1"}', "paras"), (b"\xff\xfe", "JSON")])
def test_command_malformed(payload, err):
    r = cloud().decode(SYS + b"commands/request_id=9", payload)
    assert r.kind == COMMAND and r.rid == "9" and err in r.error


def test_command_without_paras_or_for_me():
    r = cloud().decode(SYS + b"commands/request_id=9",
                       json.dumps({"object_device_id": DID, "command_name": "reboot"}).encode())
    assert (r.params, r.target, r.error, r.service) == ({}, None, None, None)


def test_property_set():
    c = cloud(service="Temperature")
    r = c.decode(SYS + b"properties/set/request_id=s1", json.dumps(
        {"services": [{"service_id": "Temperature", "properties": {"value": 57, "value2": 60}}]}).encode())
    assert (r.kind, r.params, r.service, r.rid, r.error) == (SET, {"value": 57, "value2": 60}, None, "s1", None)
    r2 = c.decode(SYS + b"properties/set/request_id=s2", json.dumps(
        {"object_device_id": "gw_child_01",
         "services": [{"service_id": "Battery", "properties": {"level": 1}}]}).encode())
    assert (r2.service, r2.target) == ("Battery", "gw_child_01")
    t, p = c.reply(r, None, None)
    assert t == SYS + b"properties/set/response/request_id=s1"
    assert body(p) == {"result_code": 0, "result_desc": "success"}
    assert body(c.reply(r, None, "read only")[1]) == {"result_code": 1, "result_desc": "read only"}


@pytest.mark.parametrize("payload", [
    b"{}", b'{"services": []}', b'{"services": {"a": 1}}',
    b'{"services": [{"service_id": "a", "properties": {}}, {"service_id": "b", "properties": {}}]}',
    b'{"services": [{"service_id": 3, "properties": {}}]}',
    b'{"services": [{"service_id": "a", "properties": [1]}]}', b"nope"])
def test_property_set_malformed(payload):
    r = cloud().decode(SYS + b"properties/set/request_id=x", payload)
    assert r.kind == SET and r.error


def test_property_get():
    c = cloud(service="Temperature")
    r = c.decode(SYS + b"properties/get/request_id=g1",
                 b'{"object_device_id": "gw_child_01", "service_id": "Temperature"}')
    assert (r.kind, r.service, r.target, r.params, r.rid) == (GET, None, "gw_child_01", None, "g1")
    t, p = c.reply(r, {"value": 57}, None)
    assert t == SYS + b"properties/get/response/request_id=g1"
    assert body(p) == {"services": [{"service_id": "Temperature", "properties": {"value": 57}}]}
    r = c.decode(SYS + b"properties/get/request_id=g2", b'{"service_id": "Battery"}')
    assert r.service == "Battery"
    assert body(c.reply(r, {"level": 3}, None)[1]) == {
        "services": [{"service_id": "Battery", "properties": {"level": 3}}]}
    r = c.decode(SYS + b"properties/get/request_id=g3", b"")
    assert (r.service, r.error) == ("*", None)   # no service_id: every service
    assert body(c.reply(r, {"": {"value": 1}, "Battery": {"level": 3}}, None)[1]) == {
        "services": [{"service_id": "Temperature", "properties": {"value": 1}},
                     {"service_id": "Battery", "properties": {"level": 3}}]}
    assert c.service_key("Temperature") == c.service_key(None) == ""
    assert c.service_key("Battery") == "Battery"
    many = [{"service_id": "A", "properties": {}}, {"service_id": "B", "properties": {"x": 1}}]
    assert body(c.reply(r, {"services": many}, None)[1]) == {"services": many}
    assert body(c.reply(r, None, "broken")[1]) == {"services": []}
    assert c.decode(SYS + b"properties/get/request_id=g4", b'{"service_id": 1}').error


def test_messages_down():
    c = cloud()
    r = c.decode(SYS + b"messages/down", b"\x00\xff raw")
    assert (r.kind, r.params, r.error) == (MESSAGE, b"\x00\xff raw", None)
    r = c.decode(SYS + b"messages/down",
                 b'{"object_device_id": "gw_child_01", "name": "n", "id": "i1", "content": "hello"}')
    assert (r.kind, r.name, r.rid, r.target) == (MESSAGE, "n", "i1", "gw_child_01")
    assert r.params["content"] == "hello"
    for raw in (b'{"a": 1}', b"{broken", b"[1]", b"", b"5"):
        assert c.decode(SYS + b"messages/down", raw).params == raw
    assert c.reply(r, None, None) is None


def events(*services, target=None):
    b = {"services": list(services)}
    if target:
        b["object_device_id"] = target
    return json.dumps(b).encode()


def test_time_sync_response_sets_the_clock():
    c = cloud()
    r = c.decode(SYS + b"events/down", events(
        {"service_id": "$time_sync", "event_type": "time_sync_response",
         "paras": {"device_send_time": 1000, "server_recv_time": 5000, "server_send_time": 5100}},
        target=DID))
    assert r.kind == SYSTEM
    # (5000 + 5100 + 1400 - 1000) / 2: server send time plus half the 400 ms round trip
    assert c.system(r, 1400) == [("clock", 5250)]
    r = c.decode(SYS + b"events/down", events(
        {"service_id": "$time_sync", "event_type": "time_sync_response",
         "paras": {"device_send_time": "1582685678789", "server_recv_time": 1582685696152,
                   "server_send_time": 1582685708109}}))
    # the spec's example numbers: (1582685696152 + 1582685708109 + 200) / 2, rounded down
    assert c.system(r, 1582685678989) == [("clock", 1582685702230)]
    r = c.decode(SYS + b"events/down", events(
        {"service_id": "$time_sync", "event_type": "time_sync_response",
         "paras": {"device_send_time": None, "server_recv_time": 1, "server_send_time": 2}}))
    assert c.system(r, 5) == []


def test_version_query_is_answered():
    c = cloud(sw_version="1.0")
    r = c.decode(SYS + b"events/down", events({"service_id": "$ota", "event_type": "version_query",
                                               "paras": {}}))
    (act,) = c.system(r, NOW * 1000)
    assert act[:2] == ("publish", SYS + b"events/up")
    assert _event(act[2])[1]["paras"] == {"sw_version": "1.0"}
    (act,) = cloud().system(r, NOW * 1000)  # nothing configured: the app answers
    assert (act[0], act[1], act[2].name) == ("event", "ota", "version_query")


def test_upgrade_goes_to_the_ota_handler():
    c = cloud()
    paras = {"version": "v1.2", "url": "https://10.1.1.1:8943/f", "file_size": 81362928,
             "file_name": "fw.bin", "access_token": "tok", "expires": 86400, "sign": "ab" * 32}
    for et in iotda.OTA_UPGRADES:
        r = c.decode(SYS + b"events/down", events({"service_id": "$ota", "event_type": et,
                                                   "event_time": "20151212T121212Z", "paras": paras}))
        (act,) = c.system(r, 0)
        assert act[:2] == ("event", "ota")
        req = act[2]
        assert (req.kind, req.name, req.service, req.params, req.target) == (EVENT, et, "$ota", paras, None)
    bad = c.decode(SYS + b"events/down", events({"service_id": "$ota", "event_type": "firmware_upgrade",
                                                 "paras": {"version": "v"}}))
    assert c.system(bad, 0) == []


def test_other_events_reach_the_event_handler():
    c = cloud()
    r = c.decode(SYS + b"events/down", events(
        {"service_id": "$log", "event_type": "log_config", "paras": {"switch": "on"}},
        {"service_id": "$sub_device_manager", "event_type": "add_sub_device_notify", "event_id": "e9",
         "paras": {"devices": [{"device_id": "p_n"}], "version": 4}},
        {"service_id": "$mystery", "event_type": "x"},
        {"service_id": "$broken"}, "junk", {"service_id": "$x", "event_type": "y", "paras": [1]},
        target="gw_child_01"))
    acts = c.system(r, 0)
    assert [(a[0], a[1], a[2].service, a[2].name, a[2].target) for a in acts] == [
        ("event", EVENT, "$log", "log_config", "gw_child_01"),
        ("event", EVENT, "$sub_device_manager", "add_sub_device_notify", "gw_child_01"),
        ("event", EVENT, "$mystery", "x", "gw_child_01")]
    assert acts[1][2].rid == "e9" and acts[1][2].params["version"] == 4
    assert acts[2][2].params == {}


def test_child_time_sync_and_version_query_are_not_ours():
    c = cloud(sw_version="1")
    r = c.decode(SYS + b"events/down", events(
        {"service_id": "$time_sync", "event_type": "time_sync_response",
         "paras": {"device_send_time": 1, "server_recv_time": 1, "server_send_time": 1}},
        {"service_id": "$ota", "event_type": "version_query", "paras": {}}, target="child"))
    acts = c.system(r, 0)
    assert [(a[0], a[1], a[2].name) for a in acts] == [("event", EVENT, "time_sync_response"),
                                                        ("event", "ota", "version_query")]


@pytest.mark.parametrize("payload", [b"not json", b"[]", b"\xff"])
def test_bad_events_raise_for_the_device_to_count(payload):
    with pytest.raises(ValueError):
        cloud().decode(SYS + b"events/down", payload)


def test_events_without_services_do_nothing():
    c = cloud()
    for p in (b"{}", b'{"services": "x"}', b'{"services": 5}'):
        assert c.system(c.decode(SYS + b"events/down", p), 0) == []


def test_shadow_response():
    c = cloud()
    sh = [{"service_id": "WaterMeter", "desired": {"properties": {"temperature": "60"}},
           "reported": {"properties": {"temperature": "60"}}, "version": 1}]
    r = c.decode(SYS + b"shadow/get/response/request_id=7",
                 json.dumps({"object_device_id": DID, "shadow": sh}).encode())
    (act,) = c.system(r, 0)
    assert act[:2] == ("event", EVENT)
    assert (act[2].name, act[2].params, act[2].rid, act[2].target) == ("shadow", sh, "7", None)


@pytest.mark.parametrize("topic", [
    b"$oc/devices/other/sys/commands/request_id=1", SYS + b"commands", SYS + b"unknown/request_id=1",
    SYS + b"commandsrequest_id=1", SYS + b"bootstrap/down", b"iotlink/x/down/set", b""])
def test_foreign_or_unknown_topics(topic):
    assert cloud().decode(topic, b"{}") is None


def test_bootstrap_mode():
    c = cloud(bootstrap=True, bootstrap_keyword="kw", sw_version="1")
    assert list(c.subscriptions()) == [(SYS + b"bootstrap/down", 1)]
    assert c.on_connect(NOW) == [(SYS + b"bootstrap/up", b'{"baseStrategyKeyword":"kw"}', 1, False)]
    assert cloud(bootstrap=True).on_connect(NOW) == [(SYS + b"bootstrap/up", b"", 1, False)]
    r = c.decode(SYS + b"bootstrap/down",
                 b'{"address": "iot.example.com:8883", "initConfig": "{}", "deviceSecret": "newsecret"}')
    (act,) = c.system(r, 0)
    assert (act[0], act[1], act[2].name) == ("event", EVENT, "bootstrap")
    cfg = {"cloud": {"type": "iotda", "host": "bs", "device_id": DID, "scope_id": "s",
                     "group_secret": "Z3JvdXA=", "ca": "c", "bootstrap": True}, "session": {}}
    new = iotda.bootstrapped(cfg, act[2].params)
    assert new["cloud"]["host"] == "iot.example.com" and new["cloud"]["port"] == 8883
    assert new["cloud"]["secret"] == "newsecret" and "group_secret" not in new["cloud"]
    assert cfg["cloud"]["host"] == "bs"  # the original is left alone
    assert iotda.Cloud(new).credentials(NOW)[0] == DID + "_0_0_2024022923"
    with pytest.raises(ValueError, match="100414"):
        iotda.bootstrapped(cfg, {"errorCode": "100414", "errorMsg": "Failed to match"})


def test_own_replies_echoed_by_the_broker_are_ignored_quietly():
    c = cloud()
    for rest in (b"commands/response/request_id=1", b"properties/set/response/request_id=2",
                 b"properties/get/response/request_id=3"):
        r = c.decode(SYS + rest, b'{"result_code": 0}')
        assert r.kind == SYSTEM and c.system(r, 0) == []
    assert c.decode(SYS + b"shadow/get/response/request_id=4", b'{"shadow": []}').name == "shadow"
