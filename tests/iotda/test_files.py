"""$file_manager upload and download on the MicroPython unix port: an MQTT
Device against the local IoTDA, whose HTTPS side plays the object store.
A 100 KB file goes up and comes back, checked by SHA-256 at both ends; the
heap held during each transfer is printed (a figure, not a bound)."""

import hashlib
import json

import pytest

from .conftest import Lines, device_config, script
from .gate import DEVICE_SIDE, gate

BODY = DEVICE_SIDE + r"""
import gc, hashlib
from binascii import hexlify
from iotlink.drivers.iotda_files import Files
events = []
files = Files(dev, on_event=lambda req: events.append(req.name))

def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1024)
            if not b:
                break
            h.update(b)
    return hexlify(h.digest()).decode()

with open("big.bin", "wb") as f:
    row = bytearray(1024)
    for i in range(100):
        for j in range(1024):
            row[j] = (i * 7 + j * 13) & 255
        f.write(row)
del row
gc.collect()
base = gc.mem_alloc()
peak = [0]
def held(done, total):
    gc.collect()
    peak[0] = max(peak[0], gc.mem_alloc() - base)

r = files.upload("big.bin", "big.bin", wait_ms=10000, progress=held)
print("UPLOADED", json.dumps(r), sha_of("big.bin"))
print("HEAP upload", peak[0])
peak[0] = 0
gc.collect(); base = gc.mem_alloc()
r = files.download("big.bin", "copy.bin", wait_ms=10000, progress=held)
print("DOWN", json.dumps(r), sha_of("copy.bin"))
print("HEAP download", peak[0])
gate(GATE1)
r = files.download("fresh.bin", "fresh.bin", wait_ms=10000)
print("FRESH", json.dumps(r), sha_of("fresh.bin"))
for name in ("missing.bin",):
    try:
        files.download(name, "m.bin", wait_ms=10000)
    except ValueError as e:
        print("MISSING", e)
try:
    files.download("late.bin", "l.bin", wait_ms=300)
except OSError as e:
    print("NOANSWER", e)
gate(GATE2)
try:
    files.upload("big.bin", "big.bin", wait_ms=10000)
except OSError as e:
    print("REFUSED", e)
gate(GATE3)
try:
    files.download("big.bin", "copy.bin", wait_ms=10000)
except ValueError as e:
    print("CORRUPT", e, sha_of("copy.bin") == sha_of("big.bin"))
dev.poll(300)
print("EVENTS", json.dumps(events), dev.connected)
stop.append(1)
"""


@pytest.mark.parametrize("heap", [None, "128k"])  # 128k on 64-bit ~ a 32-bit board's 64k
def test_upload_and_download_100k(iotda, test_ca, upy_run, heap, tmp_path):
    did = "dev_files_%s" % (heap or "default")
    iotda.add_device(did, "files-secret-01")
    api = iotda.start_https()
    cfg = device_config(iotda, did, test_ca["ca_der"])
    fresh = bytes(range(256)) * 40
    old_event = iotda._event
    state = {}

    def late(d, target, s, recv):  # the platform never answers for late.bin
        if (s.get("paras") or {}).get("file_name") != "late.bin":
            old_event(d, target, s, recv)

    def step1():
        state["data"] = api.objects[(did, "big.bin")]
        api.put_object(did, "fresh.bin", fresh)
        iotda._event = late

    def step2():
        iotda._event = old_event
        api.url_ttl = -10            # an expired URL: the store refuses the PUT
        api.tampered.add((did, "big.bin"))  # damaged on the way: the SHA-256 check refuses it

    def step3():
        api.url_ttl = 3600

    body = BODY.replace("GATE1", str(gate(step1))).replace("GATE2", str(gate(step2))) \
        .replace("GATE3", str(gate(step3)))
    code = upy_run.write(script(cfg, body, seconds=90))
    if heap:   # a board-sized heap: the library as .mpy, as on a board
        from iotlink_tools import upy
        from iotlink_tools.bench import compile_lib
        mpy = str(tmp_path / "mpy")
        compile_lib(mpy, with_umqtt=True)
        out = Lines(upy.start(code, heap=heap, extra_path=(mpy,), cwd=upy_run.folder))
    else:
        out = Lines(upy_run.start(script(cfg, body, seconds=90)))
    try:
        up = out.expect(r"^UPLOADED ").string
        r = json.loads(up.split(" ", 1)[1].rsplit(" ", 1)[0])
        local_sha = up.rsplit(" ", 1)[1]
        assert r["size"] == 102400 and r["sha256"] == local_sha
        print(out.expect(r"^HEAP upload").string, "(heap %s)" % (heap or "default"))
        down = out.expect(r"^DOWN ").string
        assert down.rsplit(" ", 1)[1] == local_sha
        assert json.loads(down.split(" ", 1)[1].rsplit(" ", 1)[0])["size"] == 102400
        print(out.expect(r"^HEAP download").string, "(heap %s)" % (heap or "default"))
        data = state["data"] if "data" in state else api.objects[(did, "big.bin")]
        assert hashlib.sha256(data).hexdigest() == local_sha and len(data) == 102400

        f = out.expect(r"^FRESH ").string
        assert f.rsplit(" ", 1)[1] == hashlib.sha256(fresh).hexdigest()
        rec = api.files[did]["big.bin"]
        assert rec["verified"] is True
        assert rec["upload"]["result_code"] == 0 and rec["upload"]["status_code"] == 200
        assert rec["download"]["result_code"] == 0
        assert "the platform sent no download URL for missing.bin" in out.expect(r"^MISSING").string
        assert "no download URL for late.bin within 300 ms" in out.expect(r"^NOANSWER").string

        assert "upload of big.bin refused: HTTP 403" in out.expect(r"^REFUSED").string
        corrupt = out.expect(r"^CORRUPT").string
        # the corrupt download never replaced the good copy
        assert "SHA-256 mismatch" in corrupt and corrupt.endswith("True")
        ev = out.expect(r"^EVENTS ").string
        assert ev == "EVENTS [] True"   # no $file_manager answer reached the app's handler
        stats = json.loads(out.expect(r"^STATS ").string.split(" ", 1)[1])
        assert stats["handler_errors"] == 0 and stats["reconnects"] == 0
        assert api.files[did]["big.bin"]["upload"]["result_code"] == 1
        assert api.files[did]["big.bin"]["download"]["result_code"] == 1
    finally:
        api.url_ttl = 3600
        api.tampered.clear()
        iotda._event = old_event


def test_file_manager_codec():
    from iotlink.clouds import iotda, iotda_files as fm
    from iotlink.request import Request, EVENT
    c = iotda.Cloud({"cloud": {"type": "iotda", "host": "h", "device_id": "d1", "secret": "s3cret",
                               "verify": False}})
    t, p = fm.get_upload_url(c, "a.bin", "ab" * 32, 10, 1713058632, "kid")
    assert t == b"$oc/devices/d1/sys/events/up"
    body = json.loads(p)
    assert body["object_device_id"] == "kid"
    assert body["services"][0]["paras"] == {"file_name": "a.bin",
                                            "file_attributes": {"hash_code": "ab" * 32, "size": 10}}
    s = json.loads(fm.result(c, False, "a.bin", False, 404, "x" * 300, 0)[1])["services"][0]
    assert s["event_type"] == "download_result_report" and s["paras"]["result_code"] == 1
    assert len(s["paras"]["status_description"]) == 128
    ok = Request(EVENT, "get_upload_url_response", {"url": "https://o/b?s=1", "object_name": "a.bin"},
                 "$file_manager")
    assert fm.answer(ok, True, "a.bin") == ("https://o/b?s=1", "a.bin", {})
    assert fm.answer(ok, True, "other.bin") is None
    assert fm.answer(ok, False, "a.bin") is None
    with pytest.raises(ValueError, match="no upload URL for a.bin"):
        fm.answer(Request(EVENT, "get_upload_url_response", {"url": "ftp://x"}, "$file_manager"),
                  True, "a.bin")
