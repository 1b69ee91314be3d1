"""Every cloud codec keeps the one contract written down in clouds/base.py:
the same methods with the same signatures, the attributes Device reads, and
a clear error naming the cloud for what it lacks.  The same script runs on
CPython and on the MicroPython unix port."""

import inspect
import io
import json
import contextlib
import os
import re

import pytest

from iotlink import clouds
from iotlink.clouds import base
from iotlink_tools import paths, upy

CFGS = {
    "mqtt": {"type": "mqtt", "host": "h.example", "client_id": "c1"},
    "iotda": {"type": "iotda", "host": "h.example", "device_id": "d1", "secret": "s-Secret-1",
              "tls": False},
    "iotkit": {"type": "iotkit", "product_key": "pk1", "product_secret": "ps-Secret-1",
               "device_name": "dn1"},
    "thingscloud": {"type": "thingscloud", "host": "h.example", "access_token": "t-Token-1",
                    "project_key": "p-Key-1"},
    "sensecap": {"type": "sensecap", "org_id": "123", "access_key": "k-Key-1",
                 "client_suffix": "abc"},
}
METHODS = tuple(m for m, _ in base.METHODS)

SCRIPT = r"""
import json
from iotlink import clouds
CFGS = json.loads(%r)
NOW = 1700000000


def outcome(f):
    try:
        r = f()
        return ["ok", type(r[0]).__name__ if isinstance(r, tuple) else None]
    except Exception as e:
        return [type(e).__name__, str(e)]


out = {}
for kind in clouds.TYPES:
    c = clouds.load({"cloud": CFGS[kind]})
    cls = type(c)
    row = {"name": cls.NAME,
           "flags": [type(cls.RECEIVE_ONLY).__name__, type(cls.REPORT_AFTER_SET).__name__],
           "missing": [m for m in %r if not callable(getattr(c, m, None))]}
    # every call with the contract's full positional arity, as Device makes it
    row["report"] = outcome(lambda: c.report({"t": 1}, None, NOW, None))
    row["event"] = outcome(lambda: c.event("e", {"x": 1}, NOW, None))
    row["child_report"] = outcome(lambda: c.report({"t": 1}, None, NOW, "kid"))
    row["child_event"] = outcome(lambda: c.event("e", {"x": 1}, NOW, "kid"))
    row["key"] = [c.service_key(None), c.service_key("")]
    row["decode"] = outcome(lambda: (c.decode(b"not/a/topic/of/any/cloud", b"{}"),))
    out[kind] = row
print("OUT", json.dumps(out))
"""


def _script():
    return SCRIPT % (json.dumps(CFGS), METHODS)


def _cpython():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(_script(), {})
    return json.loads(buf.getvalue().split("OUT ", 1)[1])


def _micropython(tmp_path):
    path = tmp_path / "contract.py"
    path.write_text(_script())
    r = upy.run(str(path), cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.split("OUT ", 1)[1])


def test_a_config_for_every_cloud_type():
    assert set(CFGS) == set(clouds.TYPES)


@pytest.mark.parametrize("kind", clouds.TYPES)
def test_same_signatures_as_the_contract(kind):
    mod = __import__("iotlink.clouds." + kind, None, None, ("Cloud",))
    for m, params in base.METHODS:
        got = str(inspect.signature(getattr(mod.Cloud, m)))
        want = "(self%s)" % (", " + params if params else "")
        assert got == want, "%s.Cloud.%s%s, contract: %s" % (kind, m, got, want)
    for a in base.ATTRIBUTES:
        assert a in vars(mod.Cloud), "%s.Cloud.%s" % (kind, a)   # declared, not inherited or conjured
    assert mod.Cloud.NAME == kind


@pytest.mark.parametrize("run", ["cpython", "micropython"])
def test_every_codec_keeps_the_contract(run, tmp_path):
    out = _cpython() if run == "cpython" else _micropython(tmp_path)
    assert sorted(out) == sorted(clouds.TYPES)
    for kind, row in out.items():
        assert row["name"] == kind and row["missing"] == [], kind
        assert row["flags"] == ["bool", "bool"], kind
        assert row["key"] == ["", ""], kind
        assert row["decode"] == ["ok", "NoneType"], kind
    for kind in ("mqtt", "iotda", "iotkit", "thingscloud"):
        assert out[kind]["report"] == ["ok", "bytes"], kind
        assert out[kind]["event"] == ["ok", "bytes"], kind
    # what a cloud lacks: NotImplementedError naming it, never a TypeError
    assert out["mqtt"]["child_report"] == ["NotImplementedError", "mqtt: no sub-devices"]
    assert out["mqtt"]["child_event"] == ["NotImplementedError", "mqtt: no sub-devices"]
    assert out["thingscloud"]["child_report"] == ["ok", "bytes"]
    assert out["thingscloud"]["child_event"][0] == "NotImplementedError"
    assert out["thingscloud"]["child_event"][1].startswith("thingscloud: ")
    assert out["iotda"]["child_report"] == ["ok", "bytes"]
    assert out["iotda"]["child_event"] == ["ok", "bytes"]
    # iotkit: a child must be registered first, and it says so
    assert out["iotkit"]["child_report"] == ["ValueError", "unknown sub-device kid: register it first"]
    for what in ("report", "event", "child_report", "child_event"):
        kind, text = out["sensecap"][what]
        assert kind == "NotImplementedError" and text.startswith("sensecap: "), what


def test_no_attribute_magic_in_the_codecs():
    """No __getattr__ serving names, no methods installed on classes."""
    d = os.path.join(paths.LIB, "iotlink", "clouds")
    for name in sorted(os.listdir(d)):
        if name.endswith(".py"):
            with open(os.path.join(d, name)) as f:
                text = f.read()
            assert "__getattr__" not in text, name
            assert not re.search(r"\bsetattr\(", text), name
            assert "_LAZY" not in text, name
