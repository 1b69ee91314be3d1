"""Every REST call against the local 原子云, on CPython and on the unix port."""

import json
import time

import pytest

from iotlink.apis import alientek as A

from .conftest import NUMBER, upy_script


def _api(cloud, **kw):
    kw.setdefault("ca", cloud.tls["ca"] if cloud.tls else None)
    return A.Api(cloud.token, base=cloud.base + "/api", **kw)


def _history(cloud, n=35):
    d = cloud.devices[NUMBER]
    for i in range(n):
        cloud._device_data(d, b"msg %d" % i)


def test_every_call_over_https(cloud_tls):
    c = cloud_tls
    api = _api(c)
    orgs = api.orgs()
    assert orgs[0]["id"] == 1 and orgs[0]["name"] == "正点原子" and orgs[0]["device_counter"] == len(c.devices)
    groups = api.groups(1)
    assert [g["id"] for g in groups] == [45]
    devs = api.devices(1, 45)
    mine = [d for d in devs if d["number"] == NUMBER][0]
    assert mine["device_type"] == "01" and isinstance(mine["id"], int)
    assert api.state(1, mine["id"]) == "disconnected"
    nb = c.add_device("nb", device_type="03")
    assert api.state(1, nb.id) == "binded"


def test_history_pages_time_window_and_hex(cloud):
    api = _api(cloud)
    _history(cloud, 35)
    p1 = api.packets(1, NUMBER)
    assert (p1["current_page"], p1["total_page"], p1["total_item"], p1["page_limit"]) == (1, 2, 35, 30)
    assert p1["items"][0]["data"] == b"msg 34" and p1["items"][0]["hex_packet"] == "6D 73 67 20 33 34"
    assert p1["items"][0]["length"] == 6 and p1["items"][0]["number"] == NUMBER
    p2 = api.packets(1, NUMBER, page=2, limit=30)
    assert [i["data"] for i in p2["items"]] == [b"msg %d" % i for i in range(4, -1, -1)]
    small = api.packets(1, NUMBER, page=3, limit=10)
    assert [i["data"] for i in small["items"]] == [b"msg %d" % i for i in range(14, 4, -1)]
    # the window is China time (UTC+8), as the service documents
    later = time.gmtime(time.time() + 8 * 3600 + 3600)
    assert api.packets(1, NUMBER, start=tuple(later[:6]))["total_item"] == 0
    assert api.packets(1, NUMBER, start=tuple(time.gmtime(time.time() + 8 * 3600 - 60)[:6]),
                       end="%04d-%02d-%02d %02d:%02d:%02d" % later[:6])["total_item"] == 35


def test_every_non_200_code_raises_api_error(cloud):
    good = _api(cloud)
    with pytest.raises(A.ApiError) as e:
        A.Api("0" * 32, base=cloud.base + "/api").orgs()
    assert e.value.code == 300 and not e.value.http and "token" in str(e.value)
    for call in (lambda: good.groups(7), lambda: good.devices(1, 99), lambda: good.state(1, 9999),
                 lambda: good.packets(1, "11111111111111111111")):
        with pytest.raises(A.ApiError) as e:
            call()
        assert e.value.code == 401 and e.value.message
    with pytest.raises(A.ApiError) as e:
        good._get("/orgs/1/devicepacket/%s?page=zero" % NUMBER)
    assert e.value.code == 400
    with pytest.raises(A.ApiError) as e:   # outside the API: an HTTP error with no envelope
        A.Api(cloud.token, base=cloud.base)._get("/nothing")
    assert e.value.http and e.value.code == 404
    with pytest.raises(ValueError):
        good.packets(1, "1/../2")
    with pytest.raises(ValueError):
        good.packets(1, NUMBER, page=0)


def test_oversize_answer_is_refused(cloud):
    _history(cloud, 60)
    with pytest.raises(A.ApiError, match="over 512 bytes"):
        _api(cloud, max_body=512).packets(1, NUMBER, limit=60)


def test_unknown_ca_is_refused(cloud_tls, tmp_path_factory):
    from iotlink_tools import certs
    other = certs.make_ca(str(tmp_path_factory.mktemp("other_ca")))
    with pytest.raises(Exception) as e:
        _api(cloud_tls, ca=other["ca"]).orgs()
    assert "certificate" in str(e.value).lower() or "ssl" in str(e.value).lower()


UPY_REST = """
import json
from iotlink.apis import alientek as A
api = A.Api(%r, base=%r, ca=%r)
out = {"orgs": api.orgs(), "groups": api.groups(1), "devices": api.devices(1, 45)}
dev = [d for d in out["devices"] if d["number"] == %r][0]
out["state"] = api.state(1, dev["id"])
h = api.packets(1, dev["number"], page=1, limit=3)
out["data"] = [i["data"].decode() for i in h["items"]]
out["total"] = h["total_item"]
try:
    A.Api("0" * 32, base=%r, ca=%r).orgs()
except A.ApiError as e:
    out["bad_token"] = [e.code, e.http]
try:
    api.state(1, 424242)
except A.ApiError as e:
    out["missing"] = [e.code, e.message]
try:
    A.Api("x" * 32, base=%r, ca=%r).orgs()
except Exception as e:
    out["wrong_ca"] = "%%s %%s" %% (type(e).__name__, e)
print("OUT", json.dumps(out))
"""


def test_rest_on_the_unix_port_over_verified_tls(cloud_tls, upy_run, test_ca, tmp_path_factory):
    from iotlink_tools import certs
    other = certs.make_ca(str(tmp_path_factory.mktemp("other_ca2")))
    other_der = certs.pem_to_der(other["ca"], other["ca"] + ".der")
    c = cloud_tls
    _history_tls = c.devices[NUMBER]
    for i in range(5):
        c._device_data(_history_tls, b"upy %d" % i)
    base = c.base + "/api"
    out = upy_script(upy_run, UPY_REST % (c.token, base, test_ca["ca_der"], NUMBER, base,
                                          test_ca["ca_der"], base, other_der))
    res = json.loads(out.split("OUT ", 1)[1])
    assert res["orgs"][0]["id"] == 1 and res["groups"][0]["id"] == 45
    assert res["state"] == "disconnected"
    assert res["data"] == ["upy 4", "upy 3", "upy 2"] and res["total"] >= 5
    assert res["bad_token"] == [300, False]
    assert res["missing"][0] == 401 and res["missing"][1]
    # mbedTLS refuses the chain: requests' own CERT_NONE did not win
    assert "not correctly signed by the trusted CA" in res["wrong_ca"], res["wrong_ca"]
