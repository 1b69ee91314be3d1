"""The codec gives the same topics, payloads, requests and actions on the
MicroPython unix port as on CPython (where the rest of the codec tests run)."""

import json

CODE = r"""
import json
from iotlink.clouds import iotkit, iotkit_config, iotkit_gateway

def show(x):
    if isinstance(x, (bytes, bytearray)):
        x = bytes(x).decode()
        try:
            return json.loads(x)
        except ValueError:
            return x
    if isinstance(x, (list, tuple)):
        return [show(i) for i in x]
    if hasattr(x, "kind"):
        return [x.kind, x.name, show(x.params), x.service, x.target, x.rid, x.error]
    if isinstance(x, str) and x[:1] in "{[":
        return json.loads(x)
    return x

c = iotkit.Cloud({"cloud": {"type": "iotkit", "product_key": "hbtgIA0SuVw9lxjB",
                            "device_name": "AA:BB:CC:DD:22", "model": "GW01",
                            "product_secret": "mySecret0123456789abcdefghijklmn"}})
B = b"/sys/hbtgIA0SuVw9lxjB/AA:BB:CC:DD:22/"
K = b"/sys/Rf4QSjbm65X45753/TEST_SW_000005/"
out = [c.credentials(0), c.subscriptions(), c.report({"volt": 26, "s": "\u00e9"}, None, 0),
       c.event("overheat", {"temp": 91.5}, 0), iotkit_config.config_get(c),
       iotkit_gateway.register(c, "Rf4QSjbm65X45753", "TEST_SW_000005", "S01"), iotkit_gateway.register(c, "Rf4QSjbm65X45753", "k2", "S01")]
for t, p in [(B + b"s/register_reply", b'{"id":"4","method":"thing.lifetime.register_reply","code":0,"data":{}}'),
             (B + b"c/register_reply", b'{"id":null,"method":"null_reply","code":500,"data":null}'),
             (B + b"s/event/property/post_reply", b'{"id":"1","method":"thing.event.property.post_reply","code":0}'),
             (B + b"c/event/overheat_reply", b'{"id":"2","method":"thing.event.overheat_reply","code":3}'),
             (B + b"c/config/get_reply", b'{"id":"3","method":"thing.config.get_reply","code":0,"data":{"i":1}}'),
             (B + b"c/event/property/post_reply", b"garbage"),
             (B + b"c/deregister", b'{"id":"d","method":"thing.lifetime.deregister","params":{"productKey":"Rf4QSjbm65X45753","deviceName":"TEST_SW_000005"}}')]:
    r = c.decode(t, p)
    out.append(show(r))
    out.append(show(c.system(r, 0)))
iotkit_gateway.register(c, "Rf4QSjbm65X45753", "TEST_SW_000005", "S01")
for t, p in [(B + b"c/service/reboot", b'{"id":"1757401234567003","method":"thing.service.reboot","params":{"delay":5}}'),
             (B + b"c/service/property/set", b'{"id":"s","method":"thing.service.property.set","params":{"powerstate":1}}'),
             (B + b"c/service/property/get", b'{"id":7,"method":"thing.service.property.get","params":["volt"]}'),
             (B + b"c/config/set", b'{"id":"c","method":"thing.config.set","params":{"interval":60}}'),
             (K + b"c/service/ping", b'{"id":"k","method":"thing.service.ping"}'),
             (B + b"c/service/x", b'{"id":"e","method":"thing.service.x","params":[1]}'),
             (B + b"c/service/x", b'\xff\xfe'),
             (B + b"c/service/x", b'{"id":"m","params":{}}')]:
    r = c.decode(t, p)
    out.append(show(r))
    out.append(show(c.reply(r, None if r.error else {"ok": 1}, r.error)))
out.append(show(iotkit_gateway.deregister(c, "TEST_SW_000005")))
out.append([c.acks, c.nacks, show(iotkit_gateway.children(c))])
print(json.dumps(show(out)))
"""


def test_same_results_on_both(upy_run):
    cpython = upy_run.same_as_cpython(CODE)
    assert cpython[0] == ["hbtgIA0SuVw9lxjB_AA:BB:CC:DD:22_GW01", "AA:BB:CC:DD:22",
                          "ca970423a151a7757cdec99498ad0c31"]


HEAP = r"""
import gc, json
from iotlink.clouds import iotkit
c = iotkit.Cloud({"cloud": {"type": "iotkit", "product_key": "pk1", "device_name": "dev1",
                            "product_secret": "s3cret"}})
props = {"temperature": 21.5, "humidity": 40}
answers = (b'{"id":"%d","method":"thing.event.property.post_reply","code":0,"data":{}}',
           b'{"id": "%d", "method": "thing.event.property.post_reply", "code": 0, '
           b'"data": {"temperature": 21.5, "humidity": 40}}')
topics = (b"/sys/pk1/dev1/s/event/property/post_reply", b"/sys/pk1/dev1/c/event/property/post_reply")
n = 40
todo = []
gc.collect()
a = gc.mem_alloc()
gc.disable()
for i in range(n):
    todo.append(c.report(props, None, 0))
report = (gc.mem_alloc() - a) // n
gc.enable()
todo = [(topics[i % 2], answers[i % 2] % int(json.loads(p)["id"])) for i, (t, p) in enumerate(todo[-16:])]
gc.collect()
a = gc.mem_alloc()
gc.disable()
for t, p in todo:
    c.system(c.decode(t, p), 0)
answer = gc.mem_alloc() - a
gc.enable()
print(json.dumps([report, answer, c.acks, len(c._pending)]))
"""


def test_report_heap_and_its_answer_read_without_allocating(upy_run):
    """Per report the codec allocates its topic-less payload and the pending
    entry only; the platform's success answer to it is matched and counted
    without allocating at all (the Device reads one per report)."""
    report, answer, acks, pending = json.loads(upy_run.run(HEAP).stdout.strip().splitlines()[-1])
    assert acks == 16 and pending == 0
    assert answer <= 0  # popping the pending entries may even give some back
    assert report < 450
