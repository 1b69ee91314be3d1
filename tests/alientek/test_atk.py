"""The ATK module driver on the unix port, against the simulated module on a
pseudo-terminal logged in to the local 原子云."""

from iotlink_tools.sims.alientek import AppClient

from .conftest import NUMBER, PASSWORD, upy_script

DTU = """
import sys, time
sys.path.append(%r)
from ptyuart import PtyUart
from iotlink.drivers.atk import ATK
m = ATK(PtyUart(%r), %r, %r, timeout_ms=3000, guard_ms=60, boot_ms=2000,
        backoff_min_ms=100, backoff_max_ms=400)
stop = []
ups = [0]

@m.on("status")
def status(ev, detail):
    if ev == "up":
        ups[0] += 1
    print("STATUS", ev, ups[0])

@m.on("data")
def data(req):
    print("DATA", req.params)
    if req.params == b"quit":
        stop.append(1)
    elif req.params == b"boom":
        raise ValueError("handler bug")
    else:
        m.send(b"echo:" + req.params)

m.connect()
t0 = time.ticks_ms()
while not stop and time.ticks_diff(time.ticks_ms(), t0) < 30000:
    m.poll(50)
m.send(b"bye")
m.close()
print("STATS", m.stats)
"""


def test_driver_data_both_ways_drop_and_close(cloud, module, procs):
    from .conftest import UPY
    app = AppClient(cloud)
    app.subscribe(NUMBER)
    p = procs(DTU % (UPY, module.path, NUMBER, PASSWORD), "dtu")
    p.expect(r"^STATUS up 1")
    assert module.log[-1] == 'AT+ATKCLDSTA="%s","%s"' % (NUMBER, PASSWORD)
    cloud.wait(lambda: (4, NUMBER) in app.events)
    app.send(NUMBER, b"hello \xd5\xfd")
    p.expect(r"^DATA b'hello \\xd5\\xfd'")
    cloud.wait(lambda: (NUMBER, b"echo:hello \xd5\xfd") in app.data)
    app.send(NUMBER, b"boom")                        # a handler that raises: loop goes on
    p.expect(r"^DATA b'boom'")
    # the cloud link dies: the driver resets the module and logs in again
    module.drop_link()
    p.expect(r"^STATUS down")
    p.expect(r"^STATUS up 2", timeout=10)
    assert "+++" in module.log and "AT+RST" in module.log and module.logins == 2
    cloud.wait(lambda: app.events.count((4, NUMBER)) == 2 and (5, NUMBER) in app.events)
    app.send(NUMBER, b"again")
    cloud.wait(lambda: (NUMBER, b"echo:again") in app.data)
    app.send(NUMBER, b"quit")
    out = p.finish()
    assert "'handler_errors': 1" in out and "'reconnects': 1" in out
    cloud.wait(lambda: (NUMBER, b"bye") in app.data)
    assert module.log[-1] == "AT+ATKCLDCLS"
    cloud.wait(lambda: not cloud.online(NUMBER))
    # what the device sent is in the history, newest first
    hist = [b for _, _, b in cloud.devices[NUMBER].packets]
    assert hist == [b"bye", b"echo:again", b"echo:hello \xd5\xfd"]
    app.close()


def test_login_timeout_and_refusal(cloud, module, upy_run):
    module.mute = True
    out = upy_script(upy_run, """
import time
from ptyuart import PtyUart
from iotlink.drivers.atk import ATK
u = PtyUart(%r)
m = ATK(u, %r, %r, timeout_ms=700)
t0 = time.ticks_ms()
try:
    m.connect()
except OSError as e:
    print("TIMEOUT", time.ticks_diff(time.ticks_ms(), t0), e)
print("CONNECTED", m.connected)
""" % (module.path, NUMBER, PASSWORD))
    ms = int(out.split("TIMEOUT ")[1].split()[0])
    assert 650 <= ms < 1500 and "no CLOUD CONNECTED within 700 ms" in out and "CONNECTED False" in out
    assert PASSWORD not in out.replace('"%s"' % PASSWORD, "")
    module.mute = False
    out = upy_script(upy_run, """
from ptyuart import PtyUart
from iotlink.drivers.atk import ATK
m = ATK(PtyUart(%r), %r, "87654321", timeout_ms=2000)
try:
    m.connect()
except OSError as e:
    print("REFUSED", e)
""" % (module.path, NUMBER))
    assert "REFUSED ATK module: login refused" in out and "87654321" not in out
    assert not cloud.online(NUMBER)
