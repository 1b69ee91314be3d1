"""config.py and the mqtt codec's config: every error names its field and no
error or log line ever shows a secret."""

import json

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from iotlink import config, log, ConfigError
from iotlink.device import Device

DROP = object()


def make(cloud=None, session=None, top=None):
    cfg = {"cloud": {"type": "mqtt", "host": "broker.local", "client_id": "dev1"}}
    for section, changes in (("cloud", cloud), ("session", session)):
        for k, v in (changes or {}).items():
            part = cfg.setdefault(section, {})
            if v is DROP:
                part.pop(k, None)
            else:
                part[k] = v
    for k, v in (top or {}).items():
        if v is DROP:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    return cfg


def error_of(cfg):
    with pytest.raises(ConfigError) as e:
        Device(cfg)
    return str(e.value)


def test_valid_minimal_config():
    dev = Device(make())
    assert dev.cloud.ep["host"] == "broker.local"
    assert dev.cloud.ep["port"] == 1883 and dev.cloud.ep["tls"] is False
    assert dev.opts["qos"] in (0, 1)


CLOUD_ERRORS = [
    ({"type": DROP}, "cloud.type"),
    ({"type": "nimbus"}, "cloud.type"),
    ({"type": 3}, "cloud.type"),
    ({"host": DROP}, "cloud.host"),
    ({"host": ""}, "cloud.host"),
    ({"host": 10}, "cloud.host"),
    ({"host": ["a"]}, "cloud.host"),
    ({"client_id": DROP}, "cloud.client_id"),
    ({"port": "1883"}, "cloud.port"),
    ({"port": True}, "cloud.port"),            # bool is not an int here
    ({"port": 1883.0}, "cloud.port"),
    ({"port": 0}, "cloud.port"),
    ({"port": 65536}, "cloud.port"),
    ({"tls": 1}, "cloud.tls"),                 # nor is an int a bool
    ({"tls": "yes"}, "cloud.tls"),
    ({"tls": True}, "cloud.ca"),               # TLS needs a CA to verify the server
    ({"tls": True, "ca": 5}, "cloud.ca"),
    ({"tls": True, "verify": "no"}, "cloud.verify"),
    ({"cert": "dev.crt"}, "cloud.key"),        # client certificate without its key
    ({"cert": 7}, "cloud.cert"),
    ({"keepalive": 0}, "cloud.keepalive"),
    ({"keepalive": 65536}, "cloud.keepalive"),
    ({"keepalive": False}, "cloud.keepalive"),
    ({"keepalive": "60"}, "cloud.keepalive"),
    ({"timeout_ms": 99}, "cloud.timeout_ms"),
    ({"timeout_ms": 120001}, "cloud.timeout_ms"),
    ({"password": "pw-123456"}, "cloud.username"),   # password without username
    ({"username": 5}, "cloud.username"),
    ({"username": "u", "password": 123456}, "cloud.password"),
    ({"base": "a/+/b"}, "cloud.base"),
    ({"base": "a/#"}, "cloud.base"),
    ({"base": ""}, "cloud.base"),
    ({"base": 1}, "cloud.base"),
]


@pytest.mark.parametrize("change,field", CLOUD_ERRORS)
def test_cloud_errors_name_the_field(change, field):
    msg = error_of(make(cloud=change))
    assert msg.startswith(field + ":"), msg


@pytest.mark.parametrize("cfg,field", [
    ({}, "cloud"),
    ({"cloud": {}}, "cloud"),
    ({"cloud": None}, "cloud"),
    ({"cloud": "mqtt"}, "cloud"),
    ({"cloud": ["mqtt"]}, "cloud"),
])
def test_missing_or_wrong_cloud_section(cfg, field):
    assert error_of(cfg).startswith(field + ":")


def test_config_must_be_a_dict_or_path():
    with pytest.raises(ConfigError):
        Device(["not", "a", "dict"])


SESSION_RANGES = {
    "outbox": (1, 1000), "inbox": (1, 100), "max_payload": (64, 1048576),
    "backoff_min_ms": (10, 600000), "backoff_max_ms": (10, 3600000),
    "stable_ms": (0, 3600000), "auth_retry_ms": (100, 86400000), "qos": (0, 1),
}


@pytest.mark.parametrize("key", sorted(SESSION_RANGES))
def test_session_ranges(key):
    lo, hi = SESSION_RANGES[key]
    base = {"backoff_min_ms": 10} if key == "backoff_max_ms" else {}
    if key == "backoff_min_ms":
        base = {"backoff_max_ms": 3600000}
    for good in (lo, hi):
        opts = Device(make(session=dict(base, **{key: good}))).opts
        assert opts[key] == good
    for bad in (lo - 1, hi + 1, True, "5", 5.5, [1]):
        msg = error_of(make(session=dict(base, **{key: bad})))
        assert msg.startswith("session.%s:" % key), msg


def test_session_backoff_order():
    msg = error_of(make(session={"backoff_min_ms": 5000, "backoff_max_ms": 1000}))
    assert msg.startswith("session.backoff_max_ms:")


def test_session_must_be_an_object():
    assert error_of(make(top={"session": [1]})).startswith("session:")


def test_null_means_default():
    dev = Device(make(cloud={"port": None}, session={"outbox": None}))
    assert dev.cloud.ep["port"] == 1883
    assert dev.opts["outbox"] == config.session({})["outbox"]


def test_tls_defaults_to_8883_and_verify_false_needs_no_ca():
    dev = Device(make(cloud={"tls": True, "verify": False}))
    assert dev.cloud.ep["port"] == 8883 and dev.cloud.ep["ca"] is None


# ----- files -----------------------------------------------------------------

def test_file_not_found(tmp_path):
    path = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError) as e:
        Device(path)
    assert path in str(e.value) and "not found" in str(e.value)


@pytest.mark.parametrize("text,why", [
    ("{\"cloud\": ", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("\"cloud\"", "must be a JSON object"),
    ("null", "must be a JSON object"),
])
def test_bad_files(tmp_path, text, why):
    p = tmp_path / "config.json"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        config.load(str(p))
    assert str(p) in str(e.value) and why in str(e.value)


def test_good_file(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(make(cloud={"port": 1884})))
    assert Device(str(p)).cloud.ep["port"] == 1884


# ----- secrets ---------------------------------------------------------------

secrets = st.text(min_size=10, max_size=40).filter(lambda s: len(set(s)) >= 4)

# ways a config can be wrong while a secret sits in it
SCENARIOS = [
    lambda s: make(cloud={"password": s}),                                   # no username
    lambda s: make(cloud={"password": s, "username": "u", "host": DROP}),
    lambda s: make(cloud={"password": s, "username": "u", "port": 0}),
    lambda s: make(cloud={"password": [s], "username": "u"}),                # wrong types
    lambda s: make(cloud={"password": {"v": s}, "username": "u"}),
    lambda s: make(cloud={"password": s, "username": "u", "keepalive": True}),
    lambda s: make(cloud={"password": s, "username": "u", "tls": True}),
    lambda s: make(cloud={"password": s, "username": "u", "base": "x/#"}),
    lambda s: make(cloud={"password": s, "username": "u"}, session={"qos": 2}),
    lambda s: make(cloud={"password": s, "username": "u", "cert": "c.pem"}),
    lambda s: make(cloud={"password": s, "username": "u", "type": "nimbus"}),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=secrets, scenario=st.sampled_from(range(len(SCENARIOS))))
def test_secrets_never_in_config_errors(secret, scenario, logs):
    del logs[:]
    with pytest.raises(ConfigError) as e:
        Device(SCENARIOS[scenario](secret))
    assert secret not in str(e.value)
    assert secret not in repr(e.value)
    assert not any(secret in line for line in logs)


@settings(max_examples=50, deadline=None)
@given(secret=secrets)
def test_secret_in_a_broken_file_is_not_quoted(secret, tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "config.json"
    p.write_text('{"cloud": {"type": "mqtt", "password": %s' % json.dumps(secret))
    with pytest.raises(ConfigError) as e:
        config.load(str(p))
    # the message names the file: only what is left of it once the path is
    # removed can have come from the file's content
    assert secret not in str(e.value).replace(str(p), "")


@pytest.mark.parametrize("key", ["password", "secret", "device_key", "token", "api_token"])
def test_secret_named_fields_not_quoted_with_choices(key):
    value = "Zq7-very-private-value"
    with pytest.raises(ConfigError) as e:
        config.get({key: value}, key, str, choices=("a", "b"))
    assert str(e.value).startswith("cloud.%s:" % key)
    assert value not in str(e.value)


def test_plain_fields_are_quoted_with_choices():
    # the counterpart of the test above: a non-secret value is shown to help
    with pytest.raises(ConfigError) as e:
        config.get({"mode": "fast"}, "mode", str, choices=("a", "b"))
    assert "fast" in str(e.value)


def test_checked_password_is_masked_in_logs(logs):
    pw = "s3cret-Passw0rd"
    Device(make(cloud={"username": "u", "password": pw}))
    log.warn("login with %s failed", pw)
    log.error("connect: %s", OSError("server said: bad password %s" % pw))
    assert logs and not any(pw in line for line in logs)


# Every file a config names is opened at load, so a wrong path is named at start, not retried
# as "connect failed: OSError 2" forever.  Checked here and on the MicroPython unix port.
FILE_CHECK = """
import json, os
from iotlink import clouds
from iotlink.apis import alientek
os.chdir(%r)
pem = b"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
for name, data in (("ca.pem", pem), ("ca.der", b"\\x30\\x82\\x01\\x0a"), ("notes.txt", b"hello"),
                   ("empty.der", b""), ("bundle.pem", b"## Bundle of CA Root Certificates\\n" * 30 + pem)):
    with open(name, "wb") as f:
        f.write(data)
mqtt = {"type": "mqtt", "host": "h", "client_id": "c", "tls": True}
cases = [dict(mqtt, ca="ca.pem"), dict(mqtt, ca="ca.der"), dict(mqtt, ca="missing.der"),
         dict(mqtt, ca="notes.txt"), dict(mqtt, ca="empty.der"), dict(mqtt, ca="."),
         dict(mqtt, ca="ca.der", cert="nope.crt", key="ca.pem"),
         dict(mqtt, ca="ca.der", cert="ca.pem", key="notes.txt"),
         dict(mqtt, ca="ca.der", cert="ca.pem", key="ca.der"),
         dict(mqtt, ca="bundle.pem"),
         {"type": "alientek", "token": "t", "org_id": 1, "ca": "gone.der"}]
out = []
for c in cases:
    try:
        if c["type"] == "alientek":
            alientek.Session({"cloud": c})
        else:
            clouds.load({"cloud": c})
        out.append("ok")
    except ValueError as e:
        out.append(str(e))
print(json.dumps(out))
"""

FILE_CHECK_EXPECTED = [
    "ok", "ok",
    "cloud.ca: missing.der: file not found or not readable",
    "cloud.ca: notes.txt: not a PEM or DER file",
    "cloud.ca: empty.der: not a PEM or DER file",
    "cloud.ca: .: file not found or not readable",
    "cloud.cert: nope.crt: file not found or not readable",
    "cloud.key: notes.txt: not a PEM or DER file",
    "ok",
    "ok",   # a bundle with comment lines before its first BEGIN (certifi's cacert.pem)
    "cloud.ca: gone.der: file not found or not readable",
]


def test_referenced_files_are_checked_at_load_on_cpython_and_micropython(tmp_path, upy_run, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the CPython run changes directory too
    assert upy_run.same_as_cpython(FILE_CHECK % str(tmp_path)) == FILE_CHECK_EXPECTED
