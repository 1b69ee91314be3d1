# Standard scenario done by hand with raw umqtt.simple (the baseline).
import sys
import gc
import time
import json
from umqtt.simple import MQTTClient

port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gc.collect()
a0 = gc.mem_alloc()
answered = []
c = MQTTClient(b"bench", "127.0.0.1", port, keepalive=60)


def cb(topic, msg):
    answered.append(topic)


c.set_callback(cb)
c.connect()
c.subscribe(b"iotlink/bench/down/#", 1)
gc.collect()
print("CONNECTED_HEAP", gc.mem_alloc() - a0)
t0 = time.ticks_ms()
while not answered and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    c.check_msg()
    time.sleep_ms(50)
c.publish(b"iotlink/bench/up/reply", json.dumps({"id": 1, "ok": True, "data": {"ok": 1}}), qos=1)
payload = {"temperature": 21.5, "humidity": 40}
topic = b"iotlink/bench/up/report"
c.publish(topic, json.dumps(payload), qos=1)
gc.collect()
before = gc.mem_alloc()
gc.disable()
t0 = time.ticks_us()
for i in range(n):
    c.publish(topic, json.dumps(payload), qos=1)
dt = time.ticks_diff(time.ticks_us(), t0)
after = gc.mem_alloc()
gc.enable()
print("PER_REPORT_ALLOC", (after - before) // n)
print("RATE", n * 1000000 // max(dt, 1))
print("DONE", len(answered), n + 1)
