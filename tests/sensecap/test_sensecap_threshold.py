"""firmware/examples/sensecap_threshold.py on the unix board through the local
OpenStream: the LED follows a measurement across the threshold, with hysteresis."""

from iotlink_tools.sims.sensecap import WEATHER, LEAK

from .sc_helpers import start_example


def test_led_switches_on_and_off_across_the_threshold(sim, tmp_path):
    cfg = sim.demo_config("thr1", filters=[{"eui": WEATHER}], status=False)
    cfg["app"].update({"threshold": 30.0, "hysteresis": 1.0, "run_seconds": 30})
    fw = start_example(tmp_path, cfg)
    try:
        fw.expect(r"^STATUS up")
        sim.publish_reading(WEATHER, 4097, 25.0)
        fw.expect(r"^LED off")                       # first reading: output defined
        sim.publish_reading(WEATHER, 4098, 95)       # another measurement: ignored
        sim.publish_reading(WEATHER, 4097, 30.4)
        fw.expect(r"^LED on")
        fw.expect(r"^OUTPUT on 30.4")
        for v in (29.5, 29.0):                       # inside the band: stays on
            sim.publish_reading(WEATHER, 4097, v)
            fw.expect(r"^READING %s 4097 %s" % (WEATHER, v))
        sim.publish_reading(WEATHER, 4097, 28.9)
        fw.expect(r"^LED off")
        sim.publish_reading(WEATHER, 4097, "31.5", strings=True)   # the reference page's form
        fw.expect(r"^LED on")
        sim.publish_raw("/device_sensor_data/%s/%s/1/vs/4097" % (sim.org, WEATHER), b"{broken")
        sim.publish_reading(WEATHER, 4097, "n/a", strings=True)
        sim.publish_reading(WEATHER, 4097, 12.0)
        fw.expect(r"^LED off")
    finally:
        fw.kill()
    out = "\n".join(fw.all)
    switches = [l for l in fw.all if l.startswith("LED ")]
    assert switches == ["LED off", "LED on", "LED off", "LED on", "LED off"], out
    assert "value is not a number" in out and "payload is not UTF-8 JSON" in out


def test_leak_alarm_and_stale_readings_switch_off(sim, tmp_path):
    cfg = sim.demo_config("thr2", filters=[{"eui": LEAK}], status=False)
    cfg["app"] = {"eui": LEAK.lower(), "measurement": 4116, "threshold": 0.5, "above": True,
                  "stale_s": 2, "run_seconds": 30}
    fw = start_example(tmp_path, cfg)
    try:
        fw.expect(r"^STATUS up")
        sim.publish_reading(LEAK, 4116, True)          # water: alarm on
        fw.expect(r"^LED on")
        fw.expect(r"^OUTPUT off stale", timeout=6)     # nothing for 2 s
        sim.publish_reading(LEAK, 4116, "true", strings=True)
        fw.expect(r"^LED on")
        sim.publish_reading(LEAK, 4116, False)
        fw.expect(r"^LED off")
    finally:
        fw.kill()


def test_below_mode_is_a_thermostat(sim, tmp_path):
    cfg = sim.demo_config("thr4", filters=[{"eui": WEATHER, "measurement": 4097}], status=False)
    cfg["app"].update({"threshold": 18, "hysteresis": 1, "above": False, "run_seconds": 30})
    fw = start_example(tmp_path, cfg)
    try:
        fw.expect(r"^STATUS up")
        for v, want in ((17.5, "on"), (18.5, None), (19.0, None), (19.2, "off"), (18.4, None), (18.0, "on")):
            sim.publish_reading(WEATHER, 4097, v)
            fw.expect(r"^READING %s 4097 %s" % (WEATHER, v))
            if want:
                fw.expect(r"^OUTPUT %s %s" % (want, v))
    finally:
        fw.kill()
    assert [l for l in fw.all if l.startswith("OUTPUT")] == ["OUTPUT on 17.5", "OUTPUT off 19.2", "OUTPUT on 18.0"]


def test_config_mistake_is_reported_at_start(sim, tmp_path):
    cfg = sim.demo_config("thr3")
    cfg["app"]["threshold"] = "hot"
    fw = start_example(tmp_path, cfg)
    try:
        out = fw.finish(timeout=15)
    finally:
        fw.kill()
    assert "app.threshold: must be a number" in out and sim.key not in out
