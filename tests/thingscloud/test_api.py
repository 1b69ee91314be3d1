"""The project API client on CPython against the local ThingsCloud's HTTP API:
every endpoint, error envelopes, paging, token lifetimes."""

import json
import pytest

from .conftest import app_keys
from iotlink import http
from iotlink.apis.thingscloud import ApiError, Client, ENDPOINTS


@pytest.fixture
def api(sim, clock):
    app, ak, sk = app_keys(sim)
    return Client(sim.api_url, app, ak, sk, clock=clock)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, method, url, body, headers, timeout, ca, verify):
        self.calls.append((method, url, body, headers))
        return self.reply

    reply = (200, b'{"result":true,"info":{"access_token":"t1"}}')


def test_project_and_stats(sim, api):
    assert api.project() == sim.project
    st = api.devices_stat()
    assert st["device_total"] == len(sim.devices) == st["online_device_total"] + st["offline_device_total"]
    a = api.devices_alarm_stat()
    assert set(a) == {"device_total", "alarm_1_total", "alarm_2_total", "alarm_3_total", "normal_total"}
    types = api.device_types()
    assert {t["name"] for t in types} >= {"sensor", "gateway"}
    assert all("type_key" not in t for t in types)
    tree = api.device_groups_tree()
    assert tree[0]["children"][0]["name"] == "floor 1"


def test_device_lifecycle(sim, api):
    sensor = next(t["id"] for t in api.device_types() if t["name"] == "sensor")
    d = api.create_device("lamp", descr="hall", type=sensor, tags={"room": "hall"}, device_key="lamp-1")
    did = d["id"]
    assert d["name"] == "lamp"
    info = api.device(did)
    assert (info["name"], info["descr"], info["device_key"], info["tags"], info["online"]) == \
        ("lamp", "hall", "lamp-1", {"room": "hall"}, False)
    assert info["type_info"]["name"] == "sensor" and info["view_token"]
    cert = api.device_certificate(did)
    assert cert["access_token"] == sim.devices[did]["access_token"] and cert["project_key"] == sim.project_key
    api.update_device(did, name="lamp 2", descr="hall west")
    api.set_device_tags(did, {"floor": "1"})
    api.remove_device_tags(did, ["room"])
    info = api.device(did)
    assert (info["name"], info["descr"], info["tags"]) == ("lamp 2", "hall west", {"floor": "1"})
    with pytest.raises(ApiError) as e:
        api.create_device("dup", device_key="lamp-1")
    assert e.value.code == 40901 and "device_key" in e.value.message
    with pytest.raises(ValueError):
        api.create_device("")
    api.delete_device(did)
    with pytest.raises(ApiError) as e:
        api.device(did)
    assert (e.value.code, e.value.message, e.value.status) == (40401, "device not found", 200)


def test_paging_and_filters(sim, api):
    sim.page_size = 3
    try:
        gw_type = next(t["id"] for t in api.device_types() if t["name"] == "gateway")
        made = [api.create_device("pg%d" % i, type=gw_type)["id"] for i in range(7)]
        first = api.devices(page=1, type=gw_type)
        assert (first["total"], first["page_total"], len(first["items"])) == (7 + sum(
            1 for d in sim.devices.values() if d["type"] == gw_type and d["id"] not in made), 3, 3) or \
            first["total"] >= 7
        everything = [d["id"] for d in api.all_devices(type=gw_type)]
        assert set(made) <= set(everything) and len(everything) == len(set(everything)) == first["total"]
        assert all(d["type"] == gw_type for d in api.all_devices(type=gw_type))
        g = sim.groups[0]["id"]
        sim.devices[made[0]]["group"] = g
        assert [d["id"] for d in api.all_devices(group=g)] == [made[0]]
        assert api.devices(page=99)["items"] == []
    finally:
        sim.page_size = 20


def test_attributes_series_and_control(sim, api):
    did = api.create_device("meter")["id"]
    for v in range(30):
        sim.store(did, {"kwh": v})
    attrs = api.attributes(did)
    assert [(a["identifier"], a["value"]) for a in attrs] == [("kwh", 29)]
    page1 = api.attribute_series(did, "kwh", page_records=20)
    page2 = api.attribute_series(did, "kwh", page=2, page_records=20)
    assert len(page1) == 20 and len(page2) == 10
    assert sorted([r["value"] for r in page1 + page2]) == list(range(30))
    ts = page1[0]["ts"]
    assert api.attribute_series(did, "kwh", start_time=ts - 10, end_time=ts + 10)[0]["name"] == "kwh"
    api.update_cloud_attributes(did, {"price": 0.6})
    assert {a["identifier"]: a["attr_type"] for a in api.attributes(did)} == {"kwh": "report", "price": "cloud"}
    api.remove_attributes(did, ["kwh"])
    assert [a["identifier"] for a in api.attributes(did)] == ["price"]
    # control: what goes to the device's topics
    seen = []
    sim.down, orig = (lambda d, t, b: seen.append((d, t, b))), sim.down
    try:
        api.push_attributes(did, {"relay": True})
        cid = api.send_command(did, "restart", {"delay": 1})
        api.send_command(did, "ping", id=7)
    finally:
        sim.down = orig
    assert seen == [(did, "attributes/push", {"relay": True}),
                    (did, "command/send/%d" % cid, {"method": "restart", "params": {"delay": 1}, "id": cid}),
                    (did, "command/send/7", {"method": "ping", "params": {}, "id": 7})]


@pytest.mark.parametrize("kw,msg", [
    ({"page_records": 0}, "page_records"), ({"page_records": 101}, "page_records"),
    ({"page": 0}, "page"), ({"start_time": 1}, "both"),
    ({"start_time": 0, "end_time": 30 * 86400 * 1000 + 1}, "30 days"),
    ({"start_time": 10, "end_time": 5}, "30 days"),
])
def test_series_arguments_checked_before_sending(kw, msg):
    rec = Recorder()
    c = Client("http://api.invalid", "app", "ak", "sk", http=rec)
    with pytest.raises(ValueError, match=msg):
        c.attribute_series("d1", "kwh", **kw)
    assert rec.calls == []


def test_series_limits_on_the_server_side_too(sim, api):
    did = next(iter(sim.devices))
    with pytest.raises(ApiError) as e:
        api.call("attribute_series", (did, "x"), query={"page_records": 500})
    assert e.value.code == 40004


def test_alarms(sim, api):
    did = api.create_device("boiler")["id"]
    a = sim.add_alarm(did, 2, {"msg": "too hot"})
    assert a in api.alarm_logs()
    assert api.device_alarm_logs(did) == [a]
    assert api.devices_alarm_stat()["alarm_2_total"] >= 1


def test_customers(sim, api):
    c = api.create_customer("Ann", "ann", "pw-1", descr="tenant", email="a@example.invalid",
                            tags={"unit": "3"})
    cid = c["id"]
    got = api.customer(cid)
    assert (got["account"], got["email"], got["tags"]) == ("ann", "a@example.invalid", {"unit": "3"})
    assert "password" not in got
    assert cid in [x["id"] for x in api.customers()]
    api.update_customer(cid, mobile="123")
    api.set_customer_password(cid, "pw-2")
    api.set_customer_tags(cid, {"vip": "yes"})
    got = api.customer(cid)
    assert got["mobile"] == "123" and got["tags"] == {"unit": "3", "vip": "yes"}
    assert sim.customers[cid]["password"] == "pw-2"
    with pytest.raises(ValueError):
        api.update_customer(cid)
    with pytest.raises(ApiError) as e:
        api.create_customer("Ann again", "ann", "x")
    assert e.value.code == 40902
    api.delete_customer(cid)
    with pytest.raises(ApiError):
        api.customer(cid)


def test_admin_login_and_admin_info(sim, clock):
    app = next(iter(sim.apps))
    adm = Client(sim.api_url, app, account="admin", password=sim.admins["admin"]["password"], clock=clock)
    assert adm.admin()["account"] == "admin"
    assert adm.expires == pytest.approx(clock() + 7 * 86400)
    keys = Client(sim.api_url, *app_keys(sim), clock=clock)
    with pytest.raises(ApiError) as e:
        keys.admin()
    assert e.value.code == 40301
    bad = Client(sim.api_url, app, account="admin", password="wrong", clock=clock)
    with pytest.raises(ApiError) as e:
        bad.project()
    assert e.value.code == 40102 and "wrong" not in str(e.value)


def test_token_expiry_and_refresh(sim, api, clock):
    api.project()
    first = api.token
    assert api.expires == pytest.approx(clock() + 86400)
    clock.t += 86400 - 200  # inside the safety margin: a new token before the call
    try:
        api.project()
        assert api.token != first
        second = api.token
        # revoked behind the client's back: 401, one new log-in, the call succeeds
        sim.tokens.pop(second)
        assert api.project() == sim.project and api.token not in (first, second)
        # the sim's clock passes the lifetime the client does not know about
        third = api.token
        sim.tokens[third] = (clock() - 1,) + sim.tokens[third][1:]
        api.devices_stat()
        assert api.token != third
    finally:
        clock.t -= 86400 - 200


def test_bad_keys_and_no_credentials(sim):
    c = Client(sim.api_url, "app_demo", "ak", "nope")
    with pytest.raises(ApiError) as e:
        c.project()
    assert e.value.code == 40101 and "nope" not in str(e.value) and "nope" not in repr(c)
    with pytest.raises(ApiError) as e:
        Client(sim.api_url).project()
    assert e.value.code == 401


def test_error_envelopes(sim, api):
    # HTTP 404 "Request invalid" for an unknown resource
    api.project()
    api.base = sim.api_url + "/api/v9/"
    with pytest.raises(ApiError) as e:
        api.project()
    assert (e.value.code, e.value.message, e.value.status) == (404, "Request invalid", 404)
    # HTTP 404 with errcode 400 for a body that is not JSON (raw request: the client never sends one)
    status, body = http.request("POST", sim.api_url + "/api/v1/device", b"{nope",
                                {"Authorization": "Bearer " + api.token})
    assert status == 404 and json.loads(body) == {"result": False, "message": "Invalid JSON message",
                                                  "errcode": 400}
    # a reply that is not JSON, and one with result false, from any transport
    rec = Recorder()
    c = Client("http://api.invalid", token="t", http=rec)
    for reply, code, msg in (((502, b"<html>bad gateway</html>"), 502, "not JSON"),
                             ((200, b"[1]"), 200, "not a JSON object"),
                             ((200, b'{"result":false,"errcode":40001,"message":"no","errors":[]}'), 40001, "no"),
                             ((404, b'{"result":false,"message":"Invalid JSON message","errcode":400}'), 400,
                              "Invalid JSON message"),
                             ((500, b"{}"), 500, "HTTP 500")):
        rec.reply = reply
        with pytest.raises(ApiError) as e:
            c.project()
        assert e.value.code == code and msg in e.value.message


def test_every_endpoint_has_a_method_and_the_seed_paths():
    rec = Recorder()
    c = Client("http://h", token="t", http=rec)
    rec.reply = (200, b'{"result":true,"info":{"items":[],"page_total":1}}')
    calls = {
        "access_token": lambda: Client("http://h", "a", "k", "s", http=rec).access_token(),
        "admin_login": lambda: Client("http://h", "a", account="u", password="p", http=rec).admin_login(),
        "project": c.project, "devices_stat": c.devices_stat, "devices_alarm_stat": c.devices_alarm_stat,
        "device_types": c.device_types, "device_groups_tree": c.device_groups_tree,
        "devices": lambda: c.devices(2, "t1", "g1"), "device": lambda: c.device("d1"),
        "device_certificate": lambda: c.device_certificate("d1"),
        "update_device": lambda: c.update_device("d1", name="n"),
        "set_device_tags": lambda: c.set_device_tags("d1", {"a": "b"}),
        "remove_device_tags": lambda: c.remove_device_tags("d1", ["a"]),
        "delete_device": lambda: c.delete_device("d1"), "create_device": lambda: c.create_device("n"),
        "attributes": lambda: c.attributes("d1"),
        "attribute_series": lambda: c.attribute_series("d1", "t", 1, 5, 1000, 2000),
        "remove_attributes": lambda: c.remove_attributes("d1", ["t"]),
        "push_attributes": lambda: c.push_attributes("d1", {"a": 1}),
        "update_cloud_attributes": lambda: c.update_cloud_attributes("d1", {"a": 1}),
        "send_command": lambda: c.send_command("d1", "m", {}, 3), "alarm_logs": c.alarm_logs,
        "device_alarm_logs": lambda: c.device_alarm_logs("d1"), "customers": c.customers,
        "customer": lambda: c.customer("c1"), "create_customer": lambda: c.create_customer("n", "a", "p"),
        "update_customer": lambda: c.update_customer("c1", name="n"),
        "set_customer_password": lambda: c.set_customer_password("c1", "p"),
        "set_customer_tags": lambda: c.set_customer_tags("c1", {}),
        "delete_customer": lambda: c.delete_customer("c1"), "admin": c.admin,
    }
    assert set(calls) == set(ENDPOINTS)
    seen = {}
    for name, fn in calls.items():
        n = len(rec.calls)
        rec.reply = (200, b'{"result":true,"info":{"items":[],"page_total":1,"access_token":"t"}}')
        fn()
        seen[name] = rec.calls[n][:2]
    assert seen["devices"] == ("GET", "http://h/api/v1/devices?page=2&type=t1&group=g1")
    assert seen["attribute_series"] == ("GET", "http://h/api/v1/device/d1/attribute/t/series?"
                                        "page=1&page_records=5&start_time=1000&end_time=2000")
    assert seen["update_customer"] == ("PUT", "http://h/api/v1/customer/c1/info")
    assert seen["set_customer_password"] == ("PUT", "http://h/api/v1/customer/c1/pwd")
    assert seen["delete_device"] == ("DELETE", "http://h/api/v1/device/d1")
    assert seen["update_cloud_attributes"] == ("PUT", "http://h/api/v1/control/device/d1/attributes")
    assert json.loads(rec.calls[-1][2] or "null") is None  # admin: no body
    c.device("a/b?x")  # ids are one path segment, whatever they hold
    assert rec.calls[-1][1] == "http://h/api/v1/device/a%2Fb%3Fx"
    with pytest.raises(ValueError):
        c.device("")
