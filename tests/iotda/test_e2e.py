"""A device on the MicroPython unix port against the local IoTDA over TLS."""

import json
import time


from .conftest import Lines, device_config, script


HANDLERS = r"""
from iotlink.clouds import iotda_events, iotda_gateway, iotda_ota, iotda_shadow

@dev.command
def cmd(req):
    n = req.name
    if n == 'echo':
        return {'got': req.params, 'service': req.service, 'target': req.target}
    if n == 'boom':
        raise ValueError('boom')
    if n == 'shadow':
        dev.publish(*iotda_shadow.shadow_get(cloud, 'sh1', req.params.get('service')), qos=1)
        return {}
    if n == 'clock':
        clock.set(1000)
        dev.publish(*iotda_events.time_sync_request(cloud, clock.now_ms()), qos=1)
        return {}
    if n == 'now':
        return {'now_ms': clock.now_ms()}
    if n == 'gateway':
        kids = {}
        for i in range(250):
            kids['child%03d' % i] = {'meter': {'v': i}}
        out = iotda_gateway.sub_reports(cloud, kids, clock.now())
        for t, p in out:
            dev.publish(t, p, 1)
        return {'messages': len(out)}
    if n == 'kids':
        now = clock.now()
        for t, p in [iotda_gateway.sub_add(cloud, [{'node_id': 'n1', 'product_id': 'p'}], now, 'e-add'),
                     iotda_gateway.sub_status(cloud, {'p_n1': 'ONLINE', 'ghost': 'OFFLINE'}, now)[0],
                     iotda_gateway.sub_delete(cloud, ['p_n1', 'ghost'], now, 'e-del')]:
            dev.publish(t, p, 1)
        return {}
    if n == 'exit':
        stop.append(1)
        return {}

@dev.on('set')
def on_set(req):
    if 'bad' in req.params:
        raise ValueError('read only')
    print('SET', req.service, json.dumps(req.params))

@dev.on('message')
def on_msg(req):
    if isinstance(req.params, dict):
        print('MSG dict', req.name, json.dumps(req.params))
    else:
        print('MSG raw', req.params)

@dev.on('event')
def on_event(req):
    print('EVENT', req.service, req.name, json.dumps(req.params), req.target)

@dev.on('ota')
def on_ota(req):
    print('OTA', req.name, req.params['version'])
    dev.publish(*iotda_ota.progress(cloud, iotda_ota.OTA_OK, req.params['version'], clock.now(), 100), qos=1)

dev.report({'temp': 21.5, 'hum': 40})
dev.report({'level': 80}, 'Battery')
"""


def test_device_round_trips(iotda, test_ca, upy_run):
    d = "dev_e2e"
    cfg = device_config(iotda, d, test_ca["ca_der"], sw_version="1.0.0", fw_version="fw-1")
    out = Lines(upy_run.start(script(cfg, HANDLERS, seconds=60)))
    out.expect(r"^UP True")
    # version_report after CONNACK, reports with the configured default service
    iotda.wait_uplink(d, "events/up")
    assert iotda.events_up(d, "version_report")[0]["paras"] == {"sw_version": "1.0.0",
                                                                 "fw_version": "fw-1"}
    iotda.wait_uplink(d, "properties/report")
    deadline = time.monotonic() + 5
    while "Battery" not in iotda.reported.get(d, {}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert iotda.reported[d] == {"default": {"temp": 21.5, "hum": 40}, "Battery": {"level": 80}}

    # commands: the response topic carries the same request id (checked by the sim's waiter)
    r = iotda.send_command(d, "Switch", "echo", {"a": 1}, timeout=5)
    assert r == {"result_code": 0, "response_name": "echo",
                 "paras": {"got": {"a": 1}, "service": "Switch", "target": None}}
    r = iotda.send_command(d, "Switch", "echo", {}, timeout=5, target="child007")
    assert r["paras"]["target"] == "child007"
    r = iotda.send_command(d, "Switch", "boom", {}, timeout=5)
    assert r["result_code"] == 1 and "boom" in r["paras"]["error"]
    r = iotda.request(d, "commands", b"{not json", timeout=5)
    assert r["result_code"] == 1 and "JSON" in r["paras"]["error"]
    r = iotda.request(d, "commands", {"command_name": "echo", "paras": [1, 2]}, timeout=5)
    assert r == {"result_code": 1, "response_name": "echo",
                 "paras": {"error": "paras must be a JSON object"}}
    r = iotda.request(d, "commands", {"command_name": 7, "paras": {}}, timeout=5)
    assert r["result_code"] == 1
    r = iotda.request(d, "commands", {"command_name": "echo", "service_id": "Switch"}, timeout=5)
    assert r == {"result_code": 0, "response_name": "echo",
                 "paras": {"got": {}, "service": "Switch", "target": None}}

    # property set / get
    assert iotda.set_properties(d, "default", {"temp": 30}, timeout=5) == \
        {"result_code": 0, "result_desc": "success"}
    out.expect(r'^SET None \{"temp": ?30\}')
    r = iotda.set_properties(d, "default", {"bad": 1}, timeout=5)
    assert r["result_code"] == 1 and "read only" in r["result_desc"]
    r = iotda.request(d, "properties/set", {"services": [
        {"service_id": "a", "properties": {}}, {"service_id": "b", "properties": {}}]}, timeout=5)
    assert r["result_code"] == 1
    r = iotda.request(d, "properties/set", {"services": [{"service_id": "a", "properties": 5}]},
                      timeout=5)
    assert r["result_code"] == 1
    assert iotda.get_properties(d, "default", timeout=5) == {"services": [
        {"service_id": "default", "properties": {"temp": 30, "hum": 40}}]}
    assert iotda.get_properties(d, "Battery", timeout=5) == {"services": [
        {"service_id": "Battery", "properties": {"level": 80}}]}
    # no service_id asks for every service (answered from the last reports)
    every = iotda.get_properties(d, timeout=5)["services"]
    assert sorted(every, key=lambda s: s["service_id"]) == [
        {"service_id": "Battery", "properties": {"level": 80}},
        {"service_id": "default", "properties": {"temp": 30, "hum": 40}}]

    # messages down: never assumed JSON
    iotda.send_message(d, b"\x00\xffhello")
    out.expect(r"^MSG raw b'\\x00\\xffhello'")
    iotda.send_message(d, {"name": "greeting", "id": "m1", "content": "hi"})
    out.expect(r'^MSG dict greeting .*"content": ?"hi"')
    iotda.send_message(d, b'{"no_content": 1}')
    out.expect(r"^MSG raw b'\{\"no_content\": 1\}'")

    # events: unknown ones reach the app's event handler or nothing; garbage is dropped
    iotda.send_event(d, "$mystery", "whatever", {"x": 1})
    out.expect(r'^EVENT \$mystery whatever \{"x": ?1\} None')
    iotda._down(d, "events/down", b"\xff\xfe not json")
    iotda._down(d, "events/down", {"services": "nope"})
    iotda.send_event(d, "$log", "log_config", {"switch": "on", "end_time": "20300101T000000Z"})
    out.expect(r'^EVENT \$log log_config')

    # OTA: version_query answered by the library, upgrade delivered to the app
    n = len(iotda.events_up(d, "version_report"))
    iotda.query_version(d)
    deadline = time.monotonic() + 5
    while len(iotda.events_up(d, "version_report")) == n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(iotda.events_up(d, "version_report")) == n + 1
    iotda.upgrade(d, "1.1.0", "https://example.invalid/fw.bin", 1234, "ab" * 32, v2=True)
    out.expect(r"^OTA firmware_upgrade_v2 1\.1\.0")
    deadline = time.monotonic() + 5
    while not iotda.events_up(d, "upgrade_progress_report") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert iotda.events_up(d, "upgrade_progress_report")[0]["paras"] == \
        {"result_code": 0, "version": "1.1.0", "progress": 100}

    # shadow get: request built by the codec, answer delivered as an event
    iotda.set_desired(d, "default", {"temp": 25})
    assert iotda.send_command(d, "Switch", "shadow", {"service": "default"}, timeout=5)["result_code"] == 0
    m = out.expect(r"^EVENT None shadow (\[.*\]) None")
    sh = json.loads(m.group(1))
    assert sh[0]["service_id"] == "default"
    assert sh[0]["desired"]["properties"] == {"temp": 25}
    assert sh[0]["reported"]["properties"] == {"temp": 21.5, "hum": 40}
    assert sh[0]["version"] == 1

    # time sync: the clock jumps from 1970 to the server's time
    iotda.send_command(d, "Switch", "clock", {}, timeout=5)
    time.sleep(0.5)
    before = time.time() * 1000
    now = iotda.send_command(d, "Switch", "now", {}, timeout=5)["paras"]["now_ms"]
    after = time.time() * 1000
    assert before - 1000 <= now <= after + 1000

    # gateway: 250 children in 3 messages of at most 100
    k = len(iotda.uplinks)
    assert iotda.send_command(d, "Switch", "gateway", {}, timeout=10)["paras"] == {"messages": 3}
    deadline = time.monotonic() + 5
    while len(iotda.reported) < 250 and time.monotonic() < deadline:
        time.sleep(0.05)
    batches = [json.loads(p) for dd, r, p in iotda.uplinks[k:]
               if dd == d and r == "gateway/sub_devices/properties/report"]
    assert [len(b["devices"]) for b in batches] == [100, 100, 50]
    assert iotda.reported["child249"] == {"meter": {"v": 249}}

    # gateway child management: the platform's answers reach the event handler
    iotda.send_command(d, "Switch", "kids", {}, timeout=5)
    m = out.expect(r"^EVENT \$sub_device_manager add_sub_device_response (\{.*\}) None")
    assert [x["device_id"] for x in json.loads(m.group(1))["successful_devices"]] == ["p_n1"]
    m = out.expect(r"^EVENT \$sub_device_manager sub_device_update_status_response (\{.*\}) None")
    st = json.loads(m.group(1))
    assert st["successful_devices"] == [{"device_id": "p_n1", "status": "ONLINE"}]
    assert [x["device_id"] for x in st["failed_devices"]] == ["ghost"]
    m = out.expect(r"^EVENT \$sub_device_manager delete_sub_device_response (\{.*\}) None")
    dl = json.loads(m.group(1))
    assert dl["successful_devices"] == ["p_n1"] and dl["failed_devices"][0]["device_id"] == "ghost"

    iotda.send_command(d, "Switch", "exit", {}, timeout=5)
    text = out.finish()
    stats = json.loads(text.split("STATS ", 1)[1].splitlines()[0])
    assert stats["link_errors"] == 0 and stats["connects"] == 1
    assert "Traceback" not in text and "e2e-secret-1" not in text


SIGN1 = r"""
@dev.command
def cmd(req):
    stop.append(1)
    return {'client_id': cloud.credentials(clock.now())[0]}
"""


def test_sign_type_1_with_pem_bundle(iotda, test_ca, upy_run):
    cfg = device_config(iotda, "dev_sign1", test_ca["ca"], sign_type=1)
    out = Lines(upy_run.start(script(cfg, SIGN1, seconds=20)))
    out.expect(r"^UP True")
    r = iotda.send_command("dev_sign1", "s", "who", {}, timeout=5)
    assert r["paras"]["client_id"] == "dev_sign1_0_1_" + time.strftime("%Y%m%d%H", time.gmtime())
    out.finish()
    info = [i for i, code in iotda.front.connects if i["username"] == "dev_sign1"]
    assert info[-1]["tls"] and info[-1]["keepalive"] == 120 and not info[-1]["will"]


def test_refusals_reach_the_app(iotda, test_ca, upy_run):
    """Wrong secret -> AuthError 4; sign_type 1 with a clock 3 h off -> 4;
    unknown device -> 5.  Nothing secret is printed."""
    good = device_config(iotda, "dev_skew", test_ca["ca_der"])
    bad_pw = json.loads(json.dumps(good))
    bad_pw["cloud"]["secret"] = "not-the-secret"
    skew = json.loads(json.dumps(good))
    skew["cloud"]["sign_type"] = 1
    unknown = json.loads(json.dumps(good))
    unknown["cloud"]["device_id"] = "nobody_here"
    r = upy_run.run("""
import json, time
import iotlink
from iotlink import clock
for name, cfg, shift in json.loads(%r):
    if shift:
        clock.set((time.time() + shift) * 1000)
    try:
        iotlink.connect(cfg)
        print(name, 'connected')
    except iotlink.AuthError as e:
        print(name, 'refused', e.code, str(e))
""" % json.dumps([["bad_pw", bad_pw, 0], ["skew", skew, 3 * 3600], ["unknown", unknown, 0]]))
    lines = [l for l in r.stdout.splitlines() if not l.startswith("iotlink ")]
    assert [l.split()[:3] for l in lines] == [["bad_pw", "refused", "4"], ["skew", "refused", "4"],
                                             ["unknown", "refused", "5"]]
    assert "not-the-secret" not in r.stdout + r.stderr
    assert "skew-secret" not in r.stdout + r.stderr


def test_bootstrap_then_connect(iotda, test_ca, upy_run):
    """IoTDP flow: ask bootstrap/down for the address, then connect there."""
    iotda.bootstrap_address = "127.0.0.1:%d" % iotda.tls_port
    cfg = device_config(iotda, "dev_plain", test_ca["ca_der"], bootstrap=True,
                        bootstrap_keyword="kw1", sw_version="7")
    cfg["cloud"]["port"] = iotda.port  # the "IoTDP" endpoint: the plain listener
    cfg["cloud"]["tls"] = False
    r = upy_run.run("""
import json, time
import iotlink
from iotlink.clouds import iotda_bootstrap
cfg = json.loads(%r)
dev = iotlink.connect(cfg)
got = []
dev.on('event', lambda req: got.append(req.params) if req.name == 'bootstrap' else None)
end = time.ticks_add(time.ticks_ms(), 5000)
while not got and time.ticks_diff(end, time.ticks_ms()) > 0:
    dev.poll(50)
dev.disconnect()
cfg2 = iotda_bootstrap.bootstrapped(cfg, got[0])
cfg2['cloud']['tls'] = True
c = cfg2['cloud']
print('ADDR', c['host'], c['port'], c['bootstrap'])
dev2 = iotlink.connect(cfg2)
dev2.report({'x': 1})
dev2.poll(300)
print('UP2', dev2.connected)
""" % json.dumps(cfg))
    assert "ADDR 127.0.0.1 %d False" % iotda.tls_port in r.stdout
    assert "UP2 True" in r.stdout
    i, p = iotda.wait_uplink("dev_plain", "bootstrap/up")
    assert json.loads(p) == {"baseStrategyKeyword": "kw1"}
    # in bootstrap mode nothing else is sent before the answer
    assert not [u for u in iotda.uplinks[:i] if u[0] == "dev_plain"]
    assert iotda.events_up("dev_plain", "version_report")[0]["paras"] == {"sw_version": "7"}
    iotda.wait_uplink("dev_plain", "properties/report", since=i)
    assert iotda.reported["dev_plain"] == {"default": {"x": 1}}
