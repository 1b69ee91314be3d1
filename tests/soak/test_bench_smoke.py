"""The benchmark's helpers give sane figures (no timing assertions: `iotlink
bench` itself is not run in CI)."""

import os

from iotlink_tools import bench


def test_scenarios_and_report_render(tmp_path):
    t = bench._mqtt_target(str(tmp_path))
    try:
        cfg = bench._write_cfg(str(tmp_path), "mqtt", t.cfg)
        iot = bench.run_script("scenario_iotlink.py", (cfg, "measure", 200), target=t)
        raw = bench.run_script("scenario_raw.py", (t.port, "measure", "1", 200), target=t)
        # too small a heap does not complete: the bisection has something to find
        assert bench.run_script("scenario_iotlink.py", (cfg, "min"), heap="8k", target=t) is None
        mpy = str(tmp_path / "mpy-bd")
        bench.compile_lib(mpy, with_umqtt=True)
        bd = bench.breakdown(cfg, iot["MODULES"].split(), mpy, str(tmp_path), t)
        # the same scenario with the library in a ROMFS image: bytecode used in
        # place, so the session holds less heap than with .mpy files loaded
        rom = str(tmp_path / "lib.romfs")
        assert bench.romfs_image(mpy, rom) > 20000
        from_mpy = bench.run_script("scenario_iotlink.py", (cfg, "min"), mpy_dir=mpy, target=t)
        from_rom = bench.run_script("scenario_iotlink.py", (cfg, "min"), romfs=rom, target=t)
    finally:
        t.close()
    assert from_mpy and from_rom
    assert int(from_rom["IMAGE_HEAP"]) >= os.path.getsize(rom)
    assert int(from_rom["SESSION_HEAP"]) < int(from_mpy["SESSION_HEAP"]) * 3 // 4, (from_rom, from_mpy)
    assert bd, "the breakdown scenario did not complete"
    rows = dict(bd)
    assert rows["import iotlink.device"] > 0 and rows["import umqtt.simple"] > 0
    qstr = [b for what, b in bd if what.startswith("(of the above: the qstr pool")]
    # the interned names are part of the import rows, never more than all of them
    assert len(qstr) == 1 and 0 < qstr[0] < sum(b for what, b in bd if what.startswith("import "))
    assert iot and raw
    for r in (iot, raw):
        assert 0 < int(r["SESSION_HEAP"]) < 1 << 20
        assert 0 < int(r["PER_REPORT_ALLOC"]) < 1 << 16
        assert 0 < int(r["PER_COMMAND_ALLOC"]) < 1 << 16
        assert int(r["RATE"]) > 0
    mods = iot["MODULES"].split()
    assert "iotlink.device" in mods and "iotlink.clouds.mqtt" in mods and "umqtt.simple" in mods
    sizes = bench.compile_lib(str(tmp_path / "mpy"), with_umqtt=True)
    assert "iotlink/device.py" in sizes and "umqtt/simple.py" in sizes
    assert os.path.exists(tmp_path / "mpy" / "umqtt" / "simple.mpy")
    res = {"when": "now", "machine": "m", "micropython": "v", "skipped": {"x": "why"},
           "raw": {"min_heap": 30, "min_heap_mpy": 15, "per_report": 400, "rate_nodelay": 1000,
                   "rate_shipped": 20},
           "clouds": {"mqtt": {"min_heap_py": 100, "min_heap_mpy": 30, "per_report": 800, "rate": 900,
                               "modules": mods, "breakdown": [("import iotlink.device", 20000)]}},
           "sizes": {"xtensawin": {"iotlink/device.py": 100}, "armv6m": {"iotlink/device.py": 90}},
           "umqtt_size": {"xtensawin": 10, "armv6m": 9}}
    md = bench.render(res)
    assert "| minimum heap within 2.5 x raw (from .mpy) | mqtt | 30 KiB = 2.0 x | met |" in md
    assert "| minimum heap within 2.5 x raw (from .py) | mqtt | 100 KiB = 3.3 x | MISSED |" in md
    assert "| allocation per report under 1024 B | mqtt | 800 B | met |" in md
    assert "Not measured: x (why)." in md
