# Standard scenario done by hand with raw umqtt.simple (the baseline):
# connect, subscribe, 1 command answered (JSON in, JSON reply), 10 QoS 1 reports.
# argv: port, mode ("min" or "measure"), nodelay (1: TCP_NODELAY on the socket), rate count
import sys
import gc
import time
gc.collect()
A0 = gc.mem_alloc()
import json
from umqtt.simple import MQTTClient

port, mode, nodelay = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
got = []
c = MQTTClient(b"bench", "127.0.0.1", port, keepalive=60)


def cb(topic, msg):
    got.append((topic, msg))


def answer(topic, msg):
    body = json.loads(msg)
    name = topic.split(b"/")[-1].decode()
    reply = {"id": body.get("id"), "ok": True, "name": name, "data": {"ok": 1}}
    c.publish(b"iotlink/bench/up/reply", json.dumps(reply), qos=1)


c.set_callback(cb)
c.connect()
if nodelay:
    c.sock.setsockopt(6, 1, 1)   # IPPROTO_TCP, TCP_NODELAY, as the Device does
c.subscribe(b"iotlink/bench/down/#", 1)
t0 = time.ticks_ms()
while not got and time.ticks_diff(time.ticks_ms(), t0) < 20000:
    c.check_msg()
    time.sleep_ms(20)
if not got:
    print("INCOMPLETE")
    sys.exit(1)
answer(*got[0])
payload = {"temperature": 21.5, "humidity": 40}
topic = b"iotlink/bench/up/report"
for i in range(10):
    c.publish(topic, json.dumps(payload), qos=1)
gc.collect()
print("SESSION_HEAP", gc.mem_alloc() - A0)
if mode == "measure":
    n = 200
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    for i in range(n):
        c.publish(topic, json.dumps(payload), qos=1)
    after = gc.mem_alloc()
    gc.enable()
    print("PER_REPORT_ALLOC", (after - before) // n)
    k = 50
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    for i in range(k):
        answer(*got[0])
    after = gc.mem_alloc()
    gc.enable()
    print("PER_COMMAND_ALLOC", (after - before) // k)
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    gc.collect()
    t0 = time.ticks_us()
    done = 0
    while done < n and time.ticks_diff(time.ticks_us(), t0) < 2000000:   # at most ~2 s
        c.publish(topic, json.dumps(payload), qos=1)
        done += 1
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("RATE", done * 1000000 // max(dt, 1))
c.disconnect()
print("DONE")
