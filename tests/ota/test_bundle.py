"""The pure parts of ota_app and ota_install on CPython: the manifest checks, the streaming
unpacker fed a bundle built by `iotlink ota pack`'s builder in any chunking,
and the failure kinds with the codes each cloud reports them as."""

import hashlib
import io
import json
import struct

import pytest

from iotlink import ota_app, ota_install
from iotlink.ota_app import Refused
from iotlink.ota_install import Unpacker, check_manifest
from iotlink_tools import ota

H = "a" * 64


def _m(**kw):
    m = {"format": 1, "name": "demo", "version": "1.1.0", "port": "unix", "arch": None, "mpy": None,
         "size": 3, "files": [["main.py", 3, H]]}
    m.update(kw)
    return m


class Store:
    """Where unpacked files go in these tests: memory."""

    def __init__(self):
        self.files = {}

    def open(self, path):
        store = self

        class F(io.BytesIO):
            def close(self):
                store.files[path] = self.getvalue()
                io.BytesIO.close(self)
        return F()


def _src(tmp_path):
    d = tmp_path / "app"
    (d / "data").mkdir(parents=True)
    (d / "main.py").write_text("print('hello')\n")
    (d / "sensors.py").write_text("def read():\n    return 1\n")
    (d / "data" / "empty.txt").write_text("")
    (d / "data" / "table.bin").write_bytes(bytes(range(256)) * 9)
    return str(d)


def _unpack(blob, chunk, port=("unix", "x64", 6)):
    st = Store()
    u = Unpacker(lambda m: check_manifest(m, *port), st.open)
    for i in range(0, len(blob), chunk):
        u.feed(blob[i:i + chunk])
    u.finish()
    return u, st


@pytest.mark.parametrize("chunk", [1, 7, 10, 11, 512, 1024, 1 << 20])
def test_pack_then_unpack_in_any_chunking(tmp_path, chunk):
    blob, m = ota.build([_src(tmp_path)], "1.1.0", "unix", "demo")
    u, st = _unpack(blob, chunk)
    assert u.manifest == m
    assert set(st.files) == {"main.py", "sensors.mpy", "data/empty.txt", "data/table.bin"}
    assert st.files["main.py"] == b"print('hello')\n"        # main.py stays source
    assert st.files["sensors.mpy"][:1] == b"M"                # compiled for the board
    for path, n, h in m["files"]:
        assert len(st.files[path]) == n and hashlib.sha256(st.files[path]).hexdigest() == h
    assert u.written == m["size"]
    assert (m["arch"], m["port"]) == ("x64", "unix")


def test_bundle_for_another_arch_or_mpy_version_refused_before_any_file(tmp_path):
    blob, _ = ota.build([_src(tmp_path)], "1.1.0", "esp32", "demo")
    with pytest.raises(Refused) as e:
        _unpack(blob, 100, ("esp32", "armv6m", 6))
    assert e.value.kind == "type" and "xtensawin" in str(e.value)
    with pytest.raises(Refused) as e:
        _unpack(blob, 100, ("esp32", "xtensawin", 5))
    assert e.value.kind == "type" and ".mpy version" in str(e.value)
    u, _ = _unpack(blob, 100, ("esp32", "xtensawin", 6))
    assert u.manifest["board"] == "esp32"


def _corrupt(blob, edit):
    n = struct.unpack(">I", blob[6:10])[0]
    m = json.loads(blob[10:10 + n])
    edit(m)
    head = json.dumps(m).encode()
    return blob[:6] + struct.pack(">I", len(head)) + head + blob[10 + n:]


@pytest.mark.parametrize("what,mangle,text", [
    ("truncated", lambda b: b[:-1], "ends before its last file"),
    ("trailing bytes", lambda b: b + b"x", "longer than its manifest"),
    ("flipped byte", lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:], "does not match"),
    ("not a bundle", lambda b: b"PK\x03\x04" + b[4:], "not an iotlink bundle"),
    ("manifest length absurd", lambda b: b[:6] + struct.pack(">I", 1 << 20) + b[10:], "out of range"),
    ("manifest not JSON", lambda b: b[:6] + struct.pack(">I", 3) + b"{x}" + b[10:], "not JSON"),
    ("total size lies", lambda b: _corrupt(b, lambda m: m.update(size=m["size"] + 1)), "not the sum"),
    ("file size lies", lambda b: _corrupt(b, lambda m: (m["files"][0].__setitem__(1, m["files"][0][1] + 2),
                                                       m.update(size=m["size"] + 2))), ""),
])
def test_bad_bundles_refused_as_verify(tmp_path, what, mangle, text):
    blob, _ = ota.build([_src(tmp_path)], "1.1.0", "unix", "demo")
    with pytest.raises(Refused) as e:
        _unpack(mangle(blob), 333)
    assert e.value.kind in ("verify", "type"), what
    assert text in str(e.value), (what, str(e.value))


@pytest.mark.parametrize("path", ["../main.py", "/main.py", "a//b.py", "boot.py", ".ota/state.json",
                                  "lib/iotlink/ota_app.mpy", "lib/iotlink/ota_install.py", "a\\b.py", "./x.py", ""])
def test_paths_the_recovery_needs_or_outside_the_board_are_refused(path):
    with pytest.raises(Refused) as e:
        check_manifest(_m(files=[[path, 3, H]]), "unix", "x64", 6)
    assert e.value.kind == "verify"


@pytest.mark.parametrize("m,kind", [
    (_m(format=2), "type"),
    (_m(version=""), "verify"),
    (_m(files=[]), "verify"),
    (_m(files=[["a.py", 3, H], ["a.py", 0, H]]), "verify"),
    (_m(files=[["a.py", 3, "xyz"]]), "verify"),
    (_m(files=[["a.py", -3, H]], size=-3), "verify"),
    (_m(files=[["a.py", True, H]], size=1), "verify"),
    (_m(port="rp2"), "type"),
    (_m(arch="armv6m", mpy=6), "type"),
])
def test_manifest_checks(m, kind):
    with pytest.raises(Refused) as e:
        check_manifest(m, "unix", "x64", 6)
    assert e.value.kind == kind


def test_space_is_checked_against_the_manifest():
    check_manifest(_m(), "unix", "x64", 6, free=3 + 8192)
    with pytest.raises(Refused) as e:
        check_manifest(_m(), "unix", "x64", 6, free=3 + 8191)
    assert e.value.kind == "storage"
    check_manifest(_m(port="any"), "esp32", "xtensawin", 6)   # .py only: any board


@pytest.mark.parametrize("exc,kind", [
    (OSError(28), "storage"), (OSError(110), "timeout"), (OSError("HTTP 302"), "download"),
    (OSError(111), "download"), (OSError("download cut short at 5 of 9 bytes"), "signal"),
    (OSError(104), "signal"), (ValueError("SHA-256 mismatch"), "verify"), (MemoryError(), "memory"),
    (Refused("busy", "x"), "busy"), (KeyError("x"), "internal"),
])
def test_failure_kinds(exc, kind):
    assert ota_install.kind_of(exc) == kind


def test_every_kind_has_an_iotda_result_code_from_the_spec():
    from iotlink.clouds import iotda_ota
    kinds = [v for k, v in vars(ota_app).items() if k.isupper() and isinstance(v, str) and k not in
             ("MAGIC", "DIR", "NEW", "OLD", "STATE")]
    assert set(kinds) | {"ok"} == set(iotda_ota.CODES)
    assert iotda_ota.CODES["verify"] == 7 and iotda_ota.CODES["storage"] == 5
    assert iotda_ota.CODES["timeout"] == 6 and iotda_ota.CODES["install"] == 10
    assert iotda_ota.CODES["type"] == 8 and iotda_ota.CODES["ok"] == 0
    assert set(iotda_ota.CODES.values()) <= {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}


def test_options_name_the_field():
    from iotlink.errors import ConfigError
    assert ota_app.options({})["good_s"] == 60
    with pytest.raises(ConfigError, match="app.ota.good_s"):
        ota_app.options({"good_s": "soon"})
    with pytest.raises(ConfigError, match="app.ota.max_boots"):
        ota_app.options({"max_boots": 0})
    with pytest.raises(ConfigError, match="app.ota.ca"):
        ota_app.options({"ca": "/nonexistent/ca.pem"})


def test_mangled_bundles_only_ever_raise_refused(tmp_path):
    """Bad input never escapes as anything but Refused (which the cloud
    modules report): random flips, cuts, insertions and manifest edits."""
    import random
    blob, _ = ota.build([_src(tmp_path)], "1.1.0", "unix", "demo")
    n = struct.unpack(">I", blob[6:10])[0]
    rnd = random.Random(18)
    junk = [None, True, -1, 1 << 40, "x", [], {}, [["a", 1]], [[1, 2, 3]], "../x", 1.5]
    outcomes = set()
    for i in range(400):
        b = bytearray(blob)
        op = i % 4
        if op == 0:
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 1:
            b = b[:rnd.randrange(len(b))]
        elif op == 2:
            at = rnd.randrange(len(b))
            b[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 9)))
        else:
            m = json.loads(blob[10:10 + n])
            key = rnd.choice(["format", "name", "version", "size", "files", "port", "arch", "mpy"])
            m[key] = json.loads(json.dumps(rnd.choice(junk)))
            if rnd.random() < 0.5 and isinstance(m.get("files"), list) and m["files"]:
                f0 = m["files"][0]
                if isinstance(f0, list) and len(f0) == 3:
                    f0[rnd.randrange(3)] = json.loads(json.dumps(rnd.choice(junk)))
            head = json.dumps(m).encode()
            b = bytearray(blob[:6] + struct.pack(">I", len(head)) + head + blob[10 + n:])
        try:
            _unpack(bytes(b), rnd.choice([1, 3, 64, 1024, 1 << 20]))
            outcomes.add("ok")
        except Refused as e:
            outcomes.add(e.kind)
    assert {"verify", "type"} <= outcomes


def test_mangled_bundles_on_the_unix_port(tmp_path, upy_run):
    """The same on MicroPython (its json and memoryview differ from CPython's)."""
    blob, _ = ota.build([_src(tmp_path)], "1.1.0", "unix", "demo")
    (tmp_path / "b.iotb").write_bytes(blob)
    r = upy_run.run("""
import random
from iotlink.ota_app import Refused
from iotlink.ota_install import Unpacker, check_manifest
blob = open("b.iotb", "rb").read()
class Sink:
    def write(self, b): pass
    def close(self): pass
random.seed(18)
kinds = {}
for i in range(300):
    b = bytearray(blob)
    if i % 2:
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
    else:
        b = b[:random.getrandbits(16) % len(b)]
    u = Unpacker(lambda m: check_manifest(m, "unix", "x64", 6), lambda p: Sink())
    try:
        step = (1, 7, 512, 4096)[i % 4]
        for j in range(0, len(b), step):
            u.feed(b[j:j + step])
        u.finish()
        k = "ok"
    except Refused as e:
        k = e.kind
    kinds[k] = kinds.get(k, 0) + 1
print("KINDS", sorted(kinds))
""")
    kinds = r.stdout.split("KINDS", 1)[1]
    assert "verify" in kinds
