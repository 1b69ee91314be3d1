"""The Session's dead-link path on the unix port: the local 原子云 keeps the
TCP connection open but goes silent (no pong, no data).  The board must
declare the link lost 1.5 x keepalive after the last frame it received (not
at the first unanswered ping), reconnect after its backoff and subscribe
again, so device data flows on the new connection."""

import json

from .conftest import NUMBER, PASSWORD

KEEPALIVE_S = 2
BACKOFF_MIN = 400
BACKOFF_MAX = 800

BOARD = """
import json, time
from iotlink.apis import alientek
s = alientek.Session(json.loads(%r))
T0 = time.ticks_ms()

def t():
    return time.ticks_diff(time.ticks_ms(), T0)

@s.on("status")
def status(ev, detail):
    print("STATUS", ev, t(), detail)

got = []

@s.on("data")
def data(req):
    got.append(req.params)
    print("DATA", t(), req.params.decode())

s.connect()
while b"after" not in got and t() < 30000:
    s.poll(50)
print("STATS", json.dumps(s.stats))
s.close()
"""


def test_silent_link_is_declared_dead_and_recovers(cloud, procs):
    cfg = {"cloud": {"type": "alientek", "token": cloud.token, "org_id": next(iter(cloud.orgs)),
                     "api": cloud.base + "/api", "ws": cloud.base.replace("http", "ws") + "/connection",
                     "devices": [NUMBER], "keepalive": KEEPALIVE_S},
           "session": {"backoff_min_ms": BACKOFF_MIN, "backoff_max_ms": BACKOFF_MAX}}
    board = procs(BOARD % json.dumps(cfg), "board")
    board.expect(r"^STATUS up")
    cloud.wait_subscribed(NUMBER)
    old = cloud.ws[0]
    link = cloud.device_login(NUMBER, PASSWORD, lambda data: None)
    link.send(b"before")
    old.silence()                    # right after the frame went out: the last thing the board hears
    pings_at_silence = old.pings
    m = board.expect(r"^DATA (\d+) before")
    t_last = int(m.group(1))
    m = board.expect(r"^STATUS down (\d+) (.*)$", timeout=15)
    t_down = int(m.group(1))
    assert "1.5 x keepalive" in m.group(2)
    ka = KEEPALIVE_S * 1000
    # not before 1.5 x keepalive of silence (pings went unanswered meanwhile), and not much after
    assert ka * 3 // 2 - 100 <= t_down - t_last <= ka * 3 // 2 + 600, (t_last, t_down)
    assert old.pings > pings_at_silence
    m = board.expect(r"^STATUS up (\d+)", timeout=10)
    print("silence to link down %d ms (keepalive %d ms), down to up %d ms"
          % (t_down - t_last, ka, int(m.group(1)) - t_down))
    assert BACKOFF_MIN // 2 - 50 <= int(m.group(1)) - t_down <= BACKOFF_MAX + 2000
    # the subscription is sent again on the new connection: device data reaches the board
    cloud.wait(lambda: any(NUMBER in c.subs for c in cloud.ws if c is not old))
    link.send(b"after")
    board.expect(r"^DATA \d+ after")
    out = board.finish()
    stats = json.loads(out.split("STATS ", 1)[1].splitlines()[0])
    assert stats["connects"] == 2 and stats["reconnects"] == 1 and stats["link_errors"] == 1
    assert stats["pings"] >= 1
    cloud.wait(lambda: old not in cloud.ws)   # the silent connection was closed by the board
    link.close()
