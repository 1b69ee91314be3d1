# Standard scenario, iotlink: connect, subscribe, 1 command answered, N reports.
# argv: port, reports, mode ("heap" prints allocation figures, "rate" times reports)
import sys
import gc
import time
import iotlink

port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gc.collect()
a0 = gc.mem_alloc()
dev = iotlink.Device({"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": port,
                                "client_id": "bench", "keepalive": 60}})
answered = []


@dev.command
def cmd(req):
    answered.append(req.name)
    return {"ok": 1}


dev.connect()
gc.collect()
print("CONNECTED_HEAP", gc.mem_alloc() - a0)
t0 = time.ticks_ms()
while not answered and time.ticks_diff(time.ticks_ms(), t0) < 10000:
    dev.poll(50)
payload = {"temperature": 21.5, "humidity": 40}
dev.report(payload)
gc.collect()
before = gc.mem_alloc()
gc.disable()
t0 = time.ticks_us()
for i in range(n):
    dev.report(payload)
dt = time.ticks_diff(time.ticks_us(), t0)
after = gc.mem_alloc()
gc.enable()
print("PER_REPORT_ALLOC", (after - before) // n)
print("RATE", n * 1000000 // max(dt, 1))
print("DONE", answered, dev.stats["sent"])
