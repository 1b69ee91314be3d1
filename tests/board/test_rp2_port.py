"""The library on MicroPython's own rp2 port (Pico W image, emulated RP2040),
imported from the .mpy files `iotlink build --arch armv6m` makes: the spec's
credential vectors computed on the board, the codecs giving what the unix port
gives, the MD5 fallback, the config checks at boot."""

import json
import re
import struct
import time

import pytest

from iotlink_tools import upy

from ..alientek.test_frames import DOC_NUMBER
from ..iotda import test_micropython as iotda_codec
from ..iotda.test_vectors import (EXAMPLE_ID, EXAMPLE_NOW, GROUP_B64, GROUP_PW, DERIVED,
                                  VECTORS as IOTDA_VECTORS)
from ..iotkit import test_micropython as iotkit_codec
from ..iotkit.test_vectors import MPY as IOTKIT_MD5, RFC1321, VECTORS as IOTKIT_VECTORS
from ..sensecap import test_sensecap_upy as sensecap_codec
from ..sensecap.sc_helpers import ORG, KEY, base_cfg as sensecap_cfg
from ..thingscloud import test_micropython as thingscloud_codec
from ..thingscloud.test_codec import TOKEN, PKEY


def unix_port(code, folder):
    """The last JSON line ``code`` prints on the unix port, run in ``folder``."""
    path = folder / "unix.py"
    path.write_text(code)
    r = upy.run(str(path), timeout=60, cwd=str(folder))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_imported_from_mpy_on_the_rp2_port(rp2_lib):
    got = rp2_lib.last_json("""
import sys, json, iotlink, umqtt.simple
from iotlink import device, sign
print(json.dumps([sys.platform, sys.implementation._machine, iotlink.__file__, device.__file__,
                  umqtt.simple.__file__, sign.hashlib.__name__]))
""")
    assert got[0] == "rp2" and "Pico W" in got[1]
    assert got[2] == "/lib/iotlink/__init__.mpy" and got[3] == "/lib/iotlink/device.mpy"
    assert got[4] == "/lib/umqtt/simple.mpy"


CREDENTIALS = """
import json
from iotlink.clouds import iotda, thingscloud, sensecap, mqtt
out = {}
out["iotda_pw"] = [iotda.password(s, ts) for s, ts, _ in %(iotda_vectors)s]
out["iotda"] = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": %(example_id)r,
                                      "secret": "12345678", "ca": "ca.pem"}}).credentials(%(now)d)
g = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "myproduct_node01",
                           "scope_id": "scope9", "group_secret": %(group)r, "ca": "c"}})
out["iotda_group"] = [g.secret, g.credentials(%(now)d)]
out["thingscloud"] = thingscloud.Cloud({"cloud": {"type": "thingscloud", "host": "sh-3-mqtt.iot-api.com",
    "access_token": %(token)r, "project_key": %(pkey)r, "client_id": "tc_3c71bf1a2b3c"}}).credentials(0)
out["sensecap"] = sensecap.Cloud(json.loads(%(sensecap)r)).credentials(0)
out["mqtt"] = mqtt.Cloud({"cloud": {"type": "mqtt", "host": "h", "client_id": "c1", "username": "u",
                                    "password": "p"}}).credentials(0)
print(json.dumps(out))
"""


def test_credential_vectors_of_every_cloud_computed_on_the_board(rp2_lib):
    got = rp2_lib.last_json(CREDENTIALS % {
        "iotda_vectors": json.dumps(IOTDA_VECTORS), "example_id": EXAMPLE_ID, "now": EXAMPLE_NOW,
        "group": GROUP_B64, "token": TOKEN, "pkey": PKEY, "sensecap": json.dumps(sensecap_cfg())})
    assert got["iotda_pw"] == [v[2] for v in IOTDA_VECTORS]  # Huawei's documented example first
    assert got["iotda"] == [EXAMPLE_ID + "_0_0_2025041401", EXAMPLE_ID, IOTDA_VECTORS[0][2]]
    assert got["iotda_group"] == [DERIVED, ["myproduct_node01_0_scope9_0_2025041401", "myproduct_node01",
                                            GROUP_PW]]
    assert got["thingscloud"] == ["tc_3c71bf1a2b3c", TOKEN, PKEY]
    assert got["sensecap"] == ["org-%s-t1" % ORG, "org-%s" % ORG, KEY]
    assert got["mqtt"] == ["c1", "u", "p"]


@pytest.mark.parametrize("hide", [False, True], ids=["firmware-hashlib.md5", "without-md5-pure-fallback"])
def test_iotkit_md5_vectors_with_and_without_hashlib_md5(rp2_lib, hide):
    """The Pico W image has hashlib.md5; firmware without it is made by hiding it
    before the library loads, as on a build with MICROPY_PY_HASHLIB_MD5 off."""
    got = rp2_lib.last_json(IOTKIT_MD5 % (hide, json.dumps([list(v[:4]) for v in IOTKIT_VECTORS]),
                                          json.dumps([t for t, _ in RFC1321])), timeout=300)
    assert got["pure"] is hide
    assert got["creds"] == [[v[4], v[5], v[6]] for v in IOTKIT_VECTORS]
    assert got["rfc"] == [d for _, d in RFC1321]


ALIENTEK = """
import json
from iotlink.apis import alientek as A
f = A.frame(A.TO_DTU, "18846494908532689575", "\\u5f00")
print(json.dumps([f.hex(), A.parse(b"\\x06" + f[1:21] + b"ALIENTEK-HRTDT")[1:2]]))
"""

CODECS = {
    "iotda": iotda_codec.CODE,
    "iotkit": iotkit_codec.CODE,
    "thingscloud": thingscloud_codec.CODE,
    "sensecap": sensecap_codec.CODE % json.dumps(sensecap_cfg(status=[3000, 3017],
                                                              filters=[{"eui": "2cf7f12210400083"}, {}])),
}


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_codec_round_trips_same_as_the_unix_port(rp2_lib, cert_files):
    """decode / reply / report of every MQTT cloud's codec, one boot for all."""
    for name, code in CODECS.items():
        on_board = rp2_lib.last_json(code, timeout=300)
        on_unix = unix_port(code, cert_files)
        if name == "sensecap":
            # the script's own literal 1.5e12 is a 32-bit float on the board: a different input
            assert on_unix[19][1] == 1500000000000
            on_unix[19][1] = int(float32(1.5e12))
        assert on_board == on_unix, name
    got = rp2_lib.last_json(ALIENTEK)
    assert got == [("03" + DOC_NUMBER.hex() + "\u5f00".encode().hex()), ["18846494908532689575"]]


BROKEN = {"cloud": {"type": "iotda", "host": "127.0.0.1", "secret": "s", "ca": "ca.der"}}


def test_broken_config_names_the_field_and_stays_at_the_repl(rp2_lib):
    """firmware/main.py after a hard reset, with a config lacking cloud.device_id:
    the field is printed, the board stays at its REPL and does not reset again."""
    from iotlink_tools import paths
    import os
    files = [(os.path.join(paths.FIRMWARE, "main.py"), "main.py"),
             (os.path.join(paths.FIRMWARE, "boot.py"), "boot.py"),
             (os.path.join(paths.BOARDS, "generic", "board.py"), "board.py"),
             (os.path.join(paths.BOARDS, "picow", "board.json"), "board.json"),
             (json.dumps(BROKEN).encode(), "config.json")]
    rp2_lib.board.put(files)
    emulator = rp2_lib.emulator
    rp2_lib.board.close()
    before = len(emulator.serial())
    from iotlink_tools.emu.board import Board
    with Board(emulator.port) as b:
        b.transport.enter_raw_repl(soft_reset=False)
        b.transport.exec_raw_no_follow("import machine; machine.reset()")
    emulator.wait_reset(1)
    end = time.monotonic() + 60
    while ">>> " not in emulator.serial()[before:].partition("config problem")[2] and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(3)  # a boot loop would start main.py again here
    after = emulator.serial()[before:]
    problem = after.find("config problem")
    assert problem >= 0 and re.search(r"config problem.*cloud\.device_id", after), after[-1500:]
    settled = after[problem:]
    # printed once, then the REPL's banner and prompt; no second boot.  (The LED blink
    # prints "[CYW43] Failed to start": the radio chip that drives the LED is not emulated.)
    assert settled.count("config problem") == 1, settled
    assert settled.count("MicroPython v1.28.0") == 1 and settled.rstrip().endswith(">>>"), settled
    assert emulator.resets == 1
    rp2_lib.board = Board(emulator.port)
    assert rp2_lib.run("print(6 * 7)", timeout=30).strip() == "42"  # the REPL answers
