# Runs on the MicroPython unix port: the device through long outages.
# argv: config.json path, longest run time (ms), report interval (ms, 0 = none),
#       resolver control file ("-": the port's own resolver), heap sample
#       interval (ms, 0 = none)
# Same lines as agent_fault.py (REPORT, CMD, STATS) plus, each with the
# device's ticks_ms:
#   STATUS <event> <ms>
#   LOG <ms> <library log line>
#   DNS <ms> <host> <port> -> <address> | DNS <ms> <host> <port> failed <errno>
#   HEAP <ms> <bytes allocated after gc.collect()>
#
# The resolver stand-in: DNS cannot be broken on the test machine without
# touching its resolver, so with a control file the board's socket module is
# replaced by one whose getaddrinfo reads the file on every call.  A file
# holding an IPv4 address resolves the name to it (through the port's real
# getaddrinfo, so the result has the port's own format); "fail <n>" or no
# file raises OSError(<n>), as MicroPython does when the lookup fails: -202
# (EAI_FAIL) on the ESP32, -2 on lwIP ports such as the Pico W.
import sys
import gc
import json
import time

CTL = sys.argv[4]
if CTL != "-":
    import socket as _socket

    class _Resolver:
        def getaddrinfo(self, host, port, *args):
            try:
                with open(CTL) as f:
                    want = f.read().strip()
            except OSError:
                want = "fail -202"
            if want.startswith("fail"):
                code = int(want.split()[1])
                print("DNS", time.ticks_ms(), host, port, "failed", code)
                raise OSError(code)
            print("DNS", time.ticks_ms(), host, port, "->", want)
            return _socket.getaddrinfo(want, port, *args)

        def __getattr__(self, name):
            return getattr(_socket, name)

    sys.modules["socket"] = sys.modules["usocket"] = _Resolver()

from iotlink.device import Device
from iotlink import log

cfg_path, run_ms, report_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
heap_ms = int(sys.argv[5])
log.sink = lambda line: print("LOG", time.ticks_ms(), line)
dev = Device(cfg_path)
stop = []


@dev.command
def command(req):
    print("CMD", req.name, json.dumps(req.params))
    if req.name == "exit":
        stop.append(1)
        return {}
    return {"pong": req.params.get("n")}


@dev.on("status")
def on_status(event, detail):
    print("STATUS", event, time.ticks_ms())


dev.connect()
n = 0
t0 = time.ticks_ms()
next_report = next_heap = t0
while not stop and time.ticks_diff(time.ticks_ms(), t0) < run_ms:
    now = time.ticks_ms()
    if report_ms and time.ticks_diff(now, next_report) >= 0:
        dev.report({"n": n})
        print("REPORT", n, "queued" if not dev.connected else "")
        n += 1
        next_report = time.ticks_add(next_report, report_ms)
    if heap_ms and time.ticks_diff(now, next_heap) >= 0:
        gc.collect()
        print("HEAP", now, gc.mem_alloc())
        next_heap = time.ticks_add(next_heap, heap_ms)
    dev.poll(20)
t1 = time.ticks_ms()
while (len(dev._out) or not dev.connected) and time.ticks_diff(time.ticks_ms(), t1) < 10000:
    dev.poll(50)
dev.poll(100)
print("STATS", json.dumps(dev.stats))
