"""clouds/mqtt.py: the documented topic convention, both directions."""

import json

import pytest

from iotlink import clouds
from iotlink.request import COMMAND, SET, GET, MESSAGE, Request


def codec(**cloud):
    c = {"type": "mqtt", "host": "h", "client_id": "dev1"}
    c.update(cloud)
    return clouds.load({"cloud": c})


@pytest.fixture
def cloud():
    return codec()


D = b"iotlink/dev1/down/"


# ----- downlinks ---------------------------------------------------------------

def test_command(cloud):
    r = cloud.decode(D + b"command/reboot", b'{"id": "42", "params": {"delay": 5}}')
    assert (r.kind, r.name, r.params, r.rid, r.error) == (COMMAND, "reboot", {"delay": 5}, "42", None)


def test_command_without_params_or_body(cloud):
    r = cloud.decode(D + b"command/ping", b'{"id": 7}')
    assert (r.kind, r.params, r.rid, r.error) == (COMMAND, {}, 7, None)
    r = cloud.decode(D + b"command/ping", b"")
    assert (r.kind, r.params, r.rid, r.error) == (COMMAND, {}, None, None)


def test_set(cloud):
    r = cloud.decode(D + b"set", b'{"id": "s1", "params": {"led": true}}')
    assert (r.kind, r.name, r.params, r.rid, r.error) == (SET, None, {"led": True}, "s1", None)


@pytest.mark.parametrize("body,params", [
    (b'{"id": "g", "params": ["a", "b"]}', ["a", "b"]),
    (b'{"id": "g", "params": null}', None),
    (b'{"id": "g"}', None),
    (b'{"id": "g", "params": []}', []),
])
def test_get(cloud, body, params):
    r = cloud.decode(D + b"get", body)
    assert (r.kind, r.params, r.rid, r.error) == (GET, params, "g", None)


@pytest.mark.parametrize("params", ['{"a": 1}', '["a", 2]', '"a"', "5", "true"])
def test_get_params_must_be_a_list_of_names(cloud, params):
    r = cloud.decode(D + b"get", ('{"id": "g", "params": %s}' % params).encode())
    assert r.kind == GET and r.error and "list of property names" in r.error


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe\x00binary", b"not json"])
def test_message_is_handed_over_untouched(cloud, payload):
    r = cloud.decode(D + b"message", payload)
    assert (r.kind, r.params, r.error) == (MESSAGE, payload, None)


@pytest.mark.parametrize("payload", [b"{", b"nope", b"{'id': 1}", b'{"id": "1",}', b"\xff\xfe\xfd",
                                     b'{"id": "\xff"}', b"\xc3\x28"])
@pytest.mark.parametrize("topic", [b"command/x", b"set", b"get"])
def test_bad_json_or_utf8(cloud, topic, payload):
    r = cloud.decode(D + topic, payload)
    assert r is not None and r.error and "JSON" in r.error


def test_non_utf8_command_name(cloud):
    r = cloud.decode(D + b"command/\xff\xfe", b'{"id": "1"}')
    assert r.kind == COMMAND and r.error
    assert "name" in r.error and "payload" not in r.error
    assert r.rid == "1"  # so the error reply can still be matched


@pytest.mark.parametrize("body", [b"[]", b"[1]", b'"text"', b"5", b"true", b"null"])
@pytest.mark.parametrize("topic", [b"command/x", b"set", b"get"])
def test_body_must_be_an_object(cloud, topic, body):
    r = cloud.decode(D + topic, body)
    assert r.error and "JSON object" in r.error


@pytest.mark.parametrize("rid", ["true", "false", "1.5", "[1]", '{"a": 1}'])
def test_bad_id_types(cloud, rid):
    r = cloud.decode(D + b"command/x", ('{"id": %s}' % rid).encode())
    assert r.error == "id must be a string or integer"


@pytest.mark.parametrize("params", ["[1]", '"p"', "3", "true"])
@pytest.mark.parametrize("topic", [b"command/x", b"set"])
def test_command_and_set_params_must_be_objects(cloud, topic, params):
    r = cloud.decode(D + topic, ('{"id": "1", "params": %s}' % params).encode())
    assert r.error == "params must be a JSON object"
    assert r.rid == "1"


@pytest.mark.parametrize("topic", [
    b"iotlink/dev1/down/command/", b"iotlink/dev1/down/command", b"iotlink/dev1/down/sets",
    b"iotlink/dev1/down/get/x", b"iotlink/dev1/down/", b"iotlink/dev1/down/messages",
    b"iotlink/dev2/down/set", b"iotlink/dev1/up/report", b"other/topic", b"", b"\xff\xfe",
    b"iotlink/dev1/status",
])
def test_unknown_topics(cloud, topic):
    assert cloud.decode(topic, b'{"id": "1"}') is None


def test_custom_base(cloud):
    c = codec(base="plant/line1/")
    assert c.subscriptions() == ((b"plant/line1/down/#", 1),)
    assert c.decode(b"plant/line1/down/set", b"{}").kind == SET
    assert c.decode(D + b"set", b"{}") is None


# ----- uplinks -----------------------------------------------------------------

def test_report(cloud):
    t, p = cloud.report({"t": 21.5, "ok": True}, None, 0)
    assert t == b"iotlink/dev1/up/report"
    assert json.loads(p) == {"t": 21.5, "ok": True}
    t, p = cloud.report({"v": 1}, "power", 0)
    assert t == b"iotlink/dev1/up/report/power"


def test_event(cloud):
    t, p = cloud.event("door_open", {"n": 2}, 0)
    assert t == b"iotlink/dev1/up/event/door_open" and json.loads(p) == {"n": 2}
    t, p = cloud.event("boot", None, 0)
    assert json.loads(p) == {}


@pytest.mark.parametrize("bad", ["a/b", "a+", "#", "", b"x/y", "+"])
def test_bad_topic_level_names(cloud, bad):
    with pytest.raises(ValueError):
        cloud.event(bad, {}, 0)
    with pytest.raises(ValueError):
        cloud.report({"a": 1}, bad if bad else "x/", 0)


def test_status_will_and_online(cloud):
    assert cloud.will() == (b"iotlink/dev1/status", b"offline", True, 1)
    assert tuple(cloud.on_connect(0)) == ((b"iotlink/dev1/status", b"online", 1, True),)


def test_credentials(cloud):
    assert cloud.credentials(0) == ("dev1", None, None)
    assert codec(username="u", password="p").credentials(0) == ("dev1", "u", "p")
    assert codec(username="u", password="").credentials(0) == ("dev1", "u", "")


# ----- replies -----------------------------------------------------------------

def test_reply_ok(cloud):
    req = cloud.decode(D + b"command/reboot", b'{"id": "42"}')
    t, p = cloud.reply(req, {"in": 5}, None)
    assert t == b"iotlink/dev1/up/reply"
    assert json.loads(p) == {"id": "42", "name": "reboot", "ok": True, "data": {"in": 5}}


def test_reply_ok_without_result(cloud):
    req = cloud.decode(D + b"set", b'{"id": 3}')
    assert json.loads(cloud.reply(req, None, None)[1]) == {"id": 3, "ok": True, "data": {}}


def test_reply_error(cloud):
    req = cloud.decode(D + b"get", b'{"id": "g"}')
    assert json.loads(cloud.reply(req, None, "boom")[1]) == {"id": "g", "ok": False, "error": "boom"}


def test_no_reply_for_messages(cloud):
    assert cloud.reply(Request(MESSAGE, params=b"x"), None, None) is None
