"""The OpenStream codec on CPython: config, subscriptions, topic parsing, value
normalisation, the catalogue against the spec's tables, the latest-value table."""

import json
import random
import sys
import types

import pytest

from .sc_helpers import ORG, KEY, base_cfg

from iotlink import log
from iotlink.errors import ConfigError
from iotlink.latest import Latest
from iotlink.request import DATA, SYSTEM
from iotlink.clouds import sensecap, sensecap_ids

# config load opens the CA and key files a config names
pytestmark = pytest.mark.usefixtures("cert_files")

EUI = "2CF7F12210400083"   # the quickstart's example device
T = "/device_sensor_data/%s/%s/1/vs/%s"
S = "/device_status_event/%s/%s/vs/%s"


def cloud(**kw):
    return sensecap.Cloud(base_cfg(**kw))


def dec(c, topic, payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return c.decode(topic.encode(), payload)


# ----- connection -------------------------------------------------------------

def test_credentials_and_endpoint_follow_the_reference():
    c = cloud()
    assert c.credentials(0) == ("org-%s-t1" % ORG, "org-%s" % ORG, KEY)
    assert c.ep["host"] == "sensecap-openstream.seeed.cc" and c.ep["port"] == 1883
    assert c.ep["tls"] is False and 10 <= c.ep["keepalive"] <= 120
    assert cloud(station="china").ep["host"] == "sensecap-openstream.seeed.cn"
    assert cloud(station="cn").ep["host"] == "sensecap-openstream.seeed.cn"
    assert cloud(host="127.0.0.1", port=1884).ep["host"] == "127.0.0.1"
    assert c.will() is None and tuple(c.on_connect(0)) == ()


def test_org_id_as_a_number_is_accepted():
    cfg = base_cfg()
    cfg["cloud"]["org_id"] = int(ORG)
    assert sensecap.Cloud(cfg).username == "org-" + ORG


def test_tls_only_when_asked_and_then_verified():
    with pytest.raises(ConfigError, match="cloud.ca"):
        cloud(tls=True)
    c = cloud(tls=True, ca="ca.pem")
    assert c.ep["port"] == 8883 and c.ep["verify"] is True


@pytest.mark.parametrize("field,value,msg", [
    ("org_id", None, "cloud.org_id: required"),
    ("org_id", "12/34", "cloud.org_id"),
    ("access_key", None, "cloud.access_key: required"),
    ("access_key", 5, "cloud.access_key: must be a string"),
    ("client_suffix", "AB12", "cloud.client_suffix"),
    ("client_suffix", "a-b", "cloud.client_suffix"),
    ("client_suffix", "a" * 33, "cloud.client_suffix"),
    ("station", "eu", "cloud.station"),
    ("keepalive", 5, "cloud.keepalive"),
    ("filters", [], "cloud.filters"),
    ("filters", [{"eui": "2CF7"}], r"cloud.filters\[0\].eui"),
    ("filters", [{}, {"eui": "2CF7F12210400083", "channel": "one"}], r"cloud.filters\[1\].channel"),
    ("filters", [{"measurement": True}], r"cloud.filters\[0\].measurement"),
    ("filters", ["x"], r"cloud.filters\[0\]: must be an object"),
    ("status", "yes", "cloud.status"),
    ("status", [3000, "x"], r"cloud.status\[1\]"),
    ("latest", -1, "cloud.latest"),
])
def test_config_mistakes_name_the_field(field, value, msg):
    cfg = base_cfg()
    if value is None:
        del cfg["cloud"][field]
    else:
        cfg["cloud"][field] = value
    with pytest.raises(ConfigError, match=msg) as e:
        sensecap.Cloud(cfg)
    assert KEY not in str(e.value)


def test_access_key_is_masked_in_logs():
    cloud()
    assert KEY not in log.mask("connect with %s failed" % KEY)


def test_suffix_from_the_board_unique_id(monkeypatch):
    cfg = base_cfg()
    del cfg["cloud"]["client_suffix"]
    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(unique_id=lambda: b"\x0a\xbc\xde\x01"))
    assert sensecap.Cloud(cfg).client_id == "org-%s-0abcde01" % ORG
    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace())  # the unix port's
    with pytest.raises(ConfigError, match="cloud.client_suffix: required"):
        sensecap.Cloud(cfg)


# ----- subscriptions -----------------------------------------------------------

def topics(c):
    return [t.decode() for t, q in c.subscriptions()]


def test_default_subscription_is_every_reading_of_the_org_at_qos0():
    c = cloud()
    assert c.subscriptions() == ((("/device_sensor_data/%s/+/+/+/+" % ORG).encode(), 0),)


def test_filters_keep_the_leading_slash_and_fill_plus():
    c = cloud(filters=[{"eui": "2cf7f12210400083", "measurement": 4097},
                       {"eui": "2CF7F12210400084", "channel": 2},
                       {"measurement": "4098"}], status=[3000, 3017])
    d = "/device_sensor_data/%s/" % ORG
    assert topics(c) == [d + "2CF7F12210400083/+/+/4097", d + "2CF7F12210400084/2/+/+", d + "+/+/+/4098",
                         "/device_status_event/%s/+/+/3000" % ORG, "/device_status_event/%s/+/+/3017" % ORG]


def test_status_follows_the_filtered_devices():
    c = cloud(eui="2CF7F12210400083", measurement=4097, status=True)
    assert topics(c) == ["/device_sensor_data/%s/2CF7F12210400083/+/+/4097" % ORG,
                         "/device_status_event/%s/2CF7F12210400083/+/+" % ORG]


def test_duplicate_filters_subscribe_once_and_the_count_is_bounded():
    assert len(cloud(filters=[{"eui": EUI}, {"eui": EUI.lower()}]).subscriptions()) == 1
    many = [{"eui": "2CF7F122104000%02X" % i} for i in range(17)]
    with pytest.raises(ConfigError, match="at most 16"):
        cloud(filters=many)


# ----- decoding ----------------------------------------------------------------

def test_reference_page_example_strings_become_numbers():
    c = cloud()
    r = dec(c, T % (ORG, EUI, 4097), {"value": "437", "timestamp": "1544151922137"})
    assert r.kind == SYSTEM and r.name == "reading" and r.error is None
    assert r.params == {"eui": EUI, "channel": 1, "id": 4097, "name": "Air Temperature",
                        "unit": "\u2103", "value": 437, "ts": 1544151922137}


def test_quickstart_example_numbers_stay_numbers():
    c = cloud()
    r = dec(c, T % (ORG, EUI, 4098), '{"value":69.12,"timestamp":1561373812474}')
    assert r.params["value"] == 69.12 and r.params["ts"] == 1561373812474
    assert (r.params["name"], r.params["unit"]) == ("Air Humidity", "%RH")


def test_lists_objects_booleans_and_composite_strings_are_kept():
    c = cloud()
    ble = [{"mac": "C3:00:00:3E:7D:DA", "rssi": "-53"}, {"mac": "C3:00:00:3E:7D:DB", "rssi": "-71"}]
    r = dec(c, T % (ORG, EUI, 5002), {"value": ble, "timestamp": 1700000000000})
    assert r.params["value"] == ble and r.params["name"] == "BLE Beacon Scan"
    ev = [{"eventName": "Start moving event."}]
    assert dec(c, T % (ORG, EUI, 5003), {"value": ev, "timestamp": 1}).params["value"] == ev
    assert dec(c, T % (ORG, EUI, 4116), {"value": True, "timestamp": 1}).params["value"] is True
    assert dec(c, T % (ORG, EUI, 4116), {"value": "false", "timestamp": 1}).params["value"] is False
    assert dec(c, T % (ORG, EUI, 4130), {"value": "0.01,0.02,9.81", "timestamp": 1}).params["value"] == "0.01,0.02,9.81"
    assert dec(c, T % (ORG, EUI, 4097), {"value": {"a": 1}, "timestamp": 1}).params["value"] == {"a": 1}


def test_status_topic_has_no_channel():
    c = cloud()
    r = dec(c, S % (ORG, EUI, 3017), {"value": "2", "timestamp": "1544151922137"})
    assert r.name == "status"
    assert r.params == {"eui": EUI, "channel": None, "id": 3017, "name": "Charging State", "unit": "",
                        "value": 2, "ts": 1544151922137}
    assert dec(c, S % (ORG, EUI, 3000), {"value": 87, "timestamp": 1}).params["name"] == "Battery"


def test_unknown_and_odd_ids_fall_back_to_the_bare_id():
    c = cloud()
    assert dec(c, T % (ORG, EUI, 4999), {"value": 1, "timestamp": 1}).params["name"] == "4999"
    r = dec(c, "/device_sensor_data/%s/%s/0/vs/location" % (ORG, EUI), {"value": 1, "timestamp": 1})
    assert r.params["id"] == "location" and r.params["channel"] == 0 and r.params["unit"] == ""


def test_names_can_be_left_out():
    r = dec(cloud(names=False), T % (ORG, EUI, 4097), {"value": 1, "timestamp": 1})
    assert "name" not in r.params and "unit" not in r.params


@pytest.mark.parametrize("topic", [
    "device_sensor_data/%s/%s/1/vs/4097" % (ORG, EUI),            # no leading slash
    "/device_sensor_data/999/%s/1/vs/4097" % EUI,                 # another org
    "/device_sensor_data/%s/%s/1/4097" % (ORG, EUI),              # a level short
    "/device_sensor_data/%s/%s/1/vs/4097/x" % (ORG, EUI),         # a level long
    "/device_status_event/%s/%s/1/vs/3000" % (ORG, EUI),          # status with a channel
    "/device_other/%s/%s/1/vs/4097" % (ORG, EUI),
    "", "/",
])
def test_foreign_topics_are_not_ours(topic):
    assert dec(cloud(), topic, {"value": 1, "timestamp": 1}) is None


@pytest.mark.parametrize("payload,msg", [
    (b"{not json", "JSON"), (b"\xff\xfe", "JSON"), (b"", "JSON"), (b"[1,2]", "object"),
    (b'"437"', "object"), (b'{"timestamp": 1}', "no value"), (b'{"value": null}', "no value"),
])
def test_bad_payloads_raise_value_error(payload, msg):
    with pytest.raises(ValueError, match=msg):
        cloud().decode((T % (ORG, EUI, 4097)).encode(), payload)


@pytest.mark.parametrize("raw,want", [
    ("437", 437), ("-40", -40), ("+7", 7), (" 12 ", 12), ("69.12", 69.12), ("-0.5", -0.5), (".5", 0.5),
    ("1.5e3", 1500.0), ("007", 7), ("true", True), ("false", False),
    ("", ""), ("abc", "abc"), ("1,2,3", "1,2,3"), ("0x1F", "0x1F"), ("--1", "--1"), ("1-2", "1-2"),
    ("nan", "nan"), ("inf", "inf"), ("1e999", "1e999"), ("-", "-"), ("e", "e"), ("True", "True"),
    (28, 28), (69.12, 69.12), (True, True), (False, False), ([1, "2"], [1, "2"]), ({"a": "1"}, {"a": "1"}),
])
def test_value_normalisation(raw, want):
    got = sensecap.normalise(raw)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("raw,want", [
    ("1544151922137", 1544151922137), (1561373812474, 1561373812474), (1561373812474.0, 1561373812474),
    ("1561373812474.0", 1561373812474), (" 1561373812474 ", 1561373812474),
    (None, None), (True, None), ("soon", None), ([1], None), ({}, None), (float("inf"), None),
])
def test_timestamp_is_an_int_in_ms_whatever_arrived(raw, want):
    got = sensecap.timestamp(raw)
    assert got == want and type(got) is type(want)


def test_unusable_timestamp_keeps_the_reading():
    r = dec(cloud(), T % (ORG, EUI, 4097), {"value": 21.5, "timestamp": "yesterday"})
    assert r.params["value"] == 21.5 and r.params["ts"] is None
    r = dec(cloud(), T % (ORG, EUI, 4097), {"value": 21.5})
    assert r.params["ts"] is None


def test_receive_only():
    c = cloud()
    with pytest.raises(NotImplementedError, match="receive-only"):
        c.report({"t": 1}, None, 0)
    with pytest.raises(NotImplementedError, match="receive-only"):
        c.event("e", {}, 0)
    r = dec(c, T % (ORG, EUI, 4097), {"value": 1, "timestamp": 1})
    assert c.reply(r, {"x": 1}, None) is None and c.reply(r, None, "bad") is None


def test_fuzzed_messages_only_ever_raise_value_error():
    c = cloud()
    rnd = random.Random(1)
    levels = [b"", b"device_sensor_data", b"device_status_event", ORG.encode(), EUI.encode(), b"1",
              b"vs", b"4097", b"+", b"\xff", b"99999999999999"]
    pieces = [b"{", b"}", b'"value"', b'"timestamp"', b":", b",", b"[", b"]", b'"1e5"', b"null",
              b"true", b"-", b"\xc3", b'"\\u00e9"', b"1544151922137", b'"x"']
    for _ in range(3000):
        topic = b"/".join(rnd.choice(levels) for _ in range(rnd.randint(0, 8)))
        if rnd.random() < 0.5:
            topic = b"/device_sensor_data/" + ORG.encode() + b"/" + EUI.encode() + b"/1/vs/" + rnd.choice(levels)
        payload = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        if rnd.random() < 0.3:
            payload = b'{"value":' + rnd.choice(pieces) + b',"timestamp":' + rnd.choice(pieces) + b"}"
        try:
            r = c.decode(topic, payload)
        except ValueError:
            continue
        if r is not None:
            assert set(r.params) == {"eui", "channel", "id", "name", "unit", "value", "ts"}
            assert r.params["ts"] is None or type(r.params["ts"]) is int
            c.system(r, 0)


# ----- the catalogue (spec section 4: official list, additional IDs, status IDs) --

OFFICIAL = [
    (4097, "Air Temperature", "\u2103"), (4098, "Air Humidity", "%RH"), (4099, "Light Intensity", "Lux"),
    (4100, "CO2", "ppm"), (4101, "Barometric Pressure", "Pa"), (4102, "Soil Temperature", "\u2103"),
    (4103, "Soil Moisture", "%"), (4104, "Wind Direction", "\u00b0"), (4105, "Wind Speed", "m/s"),
    (4106, "pH", "pH"), (4107, "Light Quantum", "\u00b5mol/m\u00b2\u00b7s"),
    (4108, "Electrical Conductivity", "dS/m"), (4109, "Dissolved Oxygen", "mg/L"),
    (4110, "Soil Volumetric Water Content", "%"), (4111, "Soil Electrical Conductivity", "dS/m"),
    (4112, "Soil Temperature", "\u2103"), (4113, "Rainfall Hourly", "mm/hour"), (4115, "Distance", "cm"),
    (4116, "Water Leak", ""), (4117, "Liquid Level", "cm"), (4118, "NH3", "ppm"), (4119, "H2S", "ppm"),
    (4120, "Flow Rate", "m\u00b3/h"), (4121, "Total Flow", "m\u00b3"), (4122, "Oxygen Concentration", "%vol"),
    (4123, "Water Electrical Conductivity", "\u00b5S/cm"), (4124, "Water Temperature", "\u2103"),
    (4125, "Soil Heat Flux", "W/m\u00b2"), (4126, "Sunshine Duration", "h"),
    (4127, "Total Solar Radiation", "W/m\u00b2"), (4128, "Water Surface Evaporation", "mm"),
    (4129, "Photosynthetically Active Radiation (PAR)", "\u00b5mol/m\u00b2\u00b7s"),
    (4130, "Accelerometer", "m/s"), (4131, "Sound Intensity", ""), (4133, "Soil Tension", "kPa"),
    (4134, "Salinity", "mg/L"), (4135, "TDS", "mg/L"), (4136, "Leaf Temperature", "\u2103"),
    (4137, "Leaf Wetness", "%"), (4138, "Soil Moisture 10 cm", "%"), (4139, "Soil Moisture 20 cm", "%"),
    (4140, "Soil Moisture 30 cm", "%"), (4141, "Soil Moisture 40 cm", "%"),
    (4142, "Soil Temperature 10 cm", "\u2103"), (4143, "Soil Temperature 20 cm", "\u2103"),
    (4144, "Soil Temperature 30 cm", "\u2103"), (4145, "Soil Temperature 40 cm", "\u2103"),
    (4146, "PM2.5", "\u00b5g/m\u00b3"), (4147, "PM10", "\u00b5g/m\u00b3"), (4148, "Noise", "dB"),
    (4150, "Accelerometer X", "m/s\u00b2"), (4151, "Accelerometer Y", "m/s\u00b2"),
    (4152, "Accelerometer Z", "m/s\u00b2"), (4157, "Ammonia ion", "mg/L"),
    (4190, "UV Index", ""), (4191, "Peak Wind Gust", "m/s"), (4192, "Sound Intensity", "dB"),
    (4193, "Light Intensity", ""), (4195, "TVOC", "ppb"), (4196, "Soil moisture intensity", ""),
    (5100, "Switch", ""),
] + [(4164 + i, "Measurement%d" % i, "") for i in range(1, 11)] \
  + [(4174 + i, "AI Detection No.%02d" % i, "") for i in range(1, 11)]

ADDITIONAL = [
    (4154, "Salinity", "PSU"), (4155, "ORP", "mV"), (4156, "Turbidity", "NTU"),
    (4158, "Electrical Conductivity", "mS/cm"), (4159, "Electrical Conductivity", "mS/cm"),
    (4160, "Electrical Conductivity", "mS/cm"), (4161, "Electrical Conductivity", "mS/cm"),
    (4162, "N Content", "mg/kg"), (4163, "P Content", "mg/kg"), (4164, "K Content", "mg/kg"),
    (4197, "Longitude", "\u00b0"), (4198, "Latitude", "\u00b0"), (4199, "Light", "%"),
    (4200, "SOS Event", ""), (4201, "Ultraviolet Radiation", "W/m\u00b2"),
    (4202, "Dew point temperature", "\u2103"), (4203, "Temperature", "\u2103"),
    (4204, "Soil Pore Water Electrical Conductivity", "mS/cm"), (4205, "Epsilon", ""),
    (4206, "VOC_INDEX", ""), (4207, "Noise", ""), (4208, "Custom event", ""),
    (4210, "Accelerometer X", ""), (4211, "Accelerometer Y", ""), (4212, "Accelerometer Z", ""),
    (4213, "Rain Accumulation", "mm"), (5001, "Wi-Fi MAC Scan", ""), (5002, "BLE Beacon Scan", ""),
    (5003, "Event List", ""), (6152, "GNSS Payload", ""),
]

DEVICE_AND_STATUS = [
    (3000, "Battery", ""), (3001, "Hardware Version", ""), (3009, "Signal Strength", ""),
    (3013, "On-board Temperature", "\u2103"), (3017, "Charging State", ""), (3502, "Firmware Version", ""),
    (3576, "Positioning Status", ""), (3900, "Uplink Interval", ""), (3940, "Work Mode", ""),
    (3941, "SOS Mode", ""), (3942, "Heartbeat Interval", ""), (3943, "Periodic Interval", ""),
    (3944, "Event Interval", ""), (3965, "Positioning Strategy", ""), (3972, "Wi-Fi Scan Max", ""),
    (3973, "Beacon Scan Max", ""), (3974, "Accelerometer Enable", ""),
] + [(i, "Device Setting %d" % i, "") for i in list(range(3945, 3965)) + list(range(3976, 3980))]


@pytest.mark.parametrize("mid,name,unit", OFFICIAL + ADDITIONAL + DEVICE_AND_STATUS)
def test_every_spec_id_has_its_name_and_unit(mid, name, unit):
    assert sensecap_ids.lookup(mid) == (name, unit)


def test_catalogue_size_and_misses():
    assert len(OFFICIAL) == 81 and len(ADDITIONAL) == 30
    for mid in (0, 1, 4096, 4114, 4132, 4149, 4153, 4185, 4194, 4209, 4214, 5000, 5004, 99999, -4097):
        assert sensecap_ids.lookup(mid) is None, mid


# ----- latest values and staleness --------------------------------------------

def test_system_files_the_reading_as_data_and_keeps_the_latest():
    c = cloud(latest=4, stale_s=600)
    r = dec(c, T % (ORG, EUI, 4097), {"value": "21.5", "timestamp": "1700000000000"})
    acts = c.system(r, 1700000001000)
    assert acts == (("event", DATA, r),) and r.kind == DATA
    assert c.value(EUI.lower(), 4097) == 21.5 and c.value(EUI, 4098) is None
    assert c.online(EUI, 1700000000000 + 600000) is True
    assert c.online(EUI, 1700000000000 + 600001) is False
    assert c.online(EUI, 1700000000000 + 1000, max_age_ms=500) is False
    assert c.online("2CF7F12210400099", 1700000000000) is None


def test_latest_can_be_off():
    c = cloud(latest=0)
    r = dec(c, T % (ORG, EUI, 4097), {"value": 1, "timestamp": 1})
    c.system(r, 2)
    assert c.latest is None and c.value(EUI, 4097) is None and c.online(EUI, 2) is None


def test_latest_is_bounded_and_drops_the_least_recently_received():
    t = Latest(3)
    for i in range(3):
        assert t.put("A", i, i * 10, 1000 + i * 10, 1000 + i * 10)
    t.put("A", 0, 5, 2000, 2000)          # refreshes entry 0
    t.put("B", 9, 1, 3000, 3000)          # evicts ("A", 1), the oldest received
    assert len(t) == 3 and t.get("A", 1) is None
    assert t.value("A", 0) == 5 and t.value("B", 9) == 1 and t.value("A", 2) == 20
    assert sorted(t.sources()) == ["A", "B"]


def test_latest_ignores_older_readings_and_ages_by_source_time():
    t = Latest(4)
    t.put("A", 1, "new", 5000, 9000)
    assert not t.put("A", 1, "old", 4000, 9500)   # a late, older message
    assert t.value("A", 1) == "new"
    assert t.age("A", 1, 8000) == 3000
    assert t.seen("A", 8000) == 3000 and t.seen("Z", 8000) is None
    assert t.fresh("A", 8000, 3000) is True and t.fresh("A", 8001, 3000) is False


def test_latest_falls_back_to_receive_time_without_a_usable_stamp():
    t = Latest(4, skew_ms=60000)
    t.put("A", 1, 1, None, 10000)
    assert t.age("A", 1, 12000) == 2000
    # stamped far in the future of the board clock (clock not set yet)
    t.put("B", 1, 1, 1700000000000, 10000)
    assert t.age("B", 1, 13000) == 3000
    t.put("C", 1, 1, 70000, 10000)      # within the allowed skew: the stamp counts
    assert t.age("C", 1, 20000) == 0
