# Standard scenario, an asyncio MQTT peer (mqtt_as 0.8.3 or mqtt_async 0.7b4):
# connect, subscribe, 1 command answered (JSON in, JSON reply), 10 QoS 1
# reports, each publish awaited until its PUBACK.
# argv: peer ("mqtt_as" or "mqtt_async"), broker port, mode ("min" or
#       "measure": allocation per acknowledged publish, rates with 1 and 8 in flight)
# The unix port lacks machine.unique_id and network: stand-ins (standins/);
# mqtt_async also gets the broker's address as a lwIP port would give it.
import sys
import gc
import time
gc.collect()
A0 = gc.mem_alloc()
import json
import asyncio
import peer_machine
sys.modules["machine"] = peer_machine   # stand-in: machine.unique_id

peer, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
got = []
TOPIC = b"iotlink/bench/up/report"


def on_msg(topic, msg, retained=False, *more):
    got.append((topic, msg))


if peer == "mqtt_as":
    from mqtt_as import MQTTClient, config
    config["server"] = "127.0.0.1"
    config["port"] = port
    config["client_id"] = "bench"
    config["keepalive"] = 60
    config["subs_cb"] = on_msg
    config["queue_len"] = 0
    client = MQTTClient(config)

    async def connect():
        await client.connect(quick=True)
else:
    from mqtt_async import MQTTClient, config
    config.server = "127.0.0.1"
    config.port = port
    config.client_id = "bench"
    config.keepalive = 60
    config.subs_cb = on_msg
    client = MQTTClient(config)

    def lookup():
        # stand-in for the port difference: mqtt_async takes getaddrinfo's
        # address as the (ip, port) tuple lwIP ports give; the unix port
        # gives a struct sockaddr
        client._addr = ("127.0.0.1", port)

    client._dns_lookup = lookup

    async def connect():
        await client.connect()


async def answer(topic, msg):
    body = json.loads(msg)
    name = topic.split(b"/")[-1].decode()
    reply = {"id": body.get("id"), "ok": True, "name": name, "data": {"ok": 1}}
    await client.publish(b"iotlink/bench/up/reply", json.dumps(reply), qos=1)


async def worker(payload, end, count):
    while time.ticks_diff(end, time.ticks_us()) > 0:
        await client.publish(TOPIC, json.dumps(payload), qos=1)
        count[0] += 1


async def rate(window, payload):
    count = [0]
    t0 = time.ticks_us()
    end = time.ticks_add(t0, 2000000)   # ~2 s
    await asyncio.gather(*[worker(payload, end, count) for _ in range(window)])
    return count[0] * 1000000 // max(time.ticks_diff(time.ticks_us(), t0), 1)


async def main():
    await connect()
    await client.subscribe(b"iotlink/bench/down/#", 1)
    t0 = time.ticks_ms()
    while not got and time.ticks_diff(time.ticks_ms(), t0) < 20000:
        await asyncio.sleep_ms(20)
    if not got:
        print("INCOMPLETE")
        sys.exit(1)
    await answer(*got[0])
    payload = {"temperature": 21.5, "humidity": 40}
    for i in range(10):
        await client.publish(TOPIC, json.dumps(payload), qos=1)
    gc.collect()
    print("SESSION_HEAP", gc.mem_alloc() - A0)
    if mode == "measure":
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for i in range(30):     # each awaited until its PUBACK
            await client.publish(TOPIC, json.dumps(payload), qos=1)
        print("PER_REPORT_ALLOC", (gc.mem_alloc() - before) // 30)
        gc.enable()
        print("RATE1", await rate(1, payload))
        print("RATE8", await rate(8, payload))
    print("DONE")
    sys.exit(0)     # the peers' background tasks would keep the loop running


asyncio.run(main())
