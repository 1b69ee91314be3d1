"""Event-loop liveness: a 10 ms ticker task beside the asyncio session while
the broker is stopped, black-holed, slow and restarted, and while a TLS
handshake stalls.  The largest gap between ticks must stay under a quarter
of timeout_ms (a bound on behaviour: nothing in the driver may wait for the
network with the loop held).  The gaps of the blocking Device, polled with
poll(0) from a task, are printed beside it for comparison, not asserted."""

import time

import pytest

from iotlink_tools import upy
from iotlink_tools.faultproxy import FaultProxy

from .conftest import HERE
from ..fault.conftest import write_config

TIMEOUT_MS = 2000
BOUND_MS = TIMEOUT_MS // 4
AGENT = HERE + "/agent_live.py"


class Live(upy.Follow):
    """agent_live.py; each GAP line is filed under the phase the host is in."""

    def __init__(self, cfg, run_ms, driver):
        self.phase = "start"
        self.gaps = {}
        super().__init__(AGENT, args=(cfg, str(run_ms), driver))

    def on_line(self, line):
        if line.startswith("GAP "):
            g = self.gaps.setdefault(self.phase, 0)
            self.gaps[self.phase] = max(g, int(line[4:]))

    def wait_line(self, prefix, timeout=15, count=1):
        end = time.monotonic() + timeout
        with self.cv:
            while sum(1 for l in self.lines if l.startswith(prefix)) < count:
                assert time.monotonic() < end, "\n".join(self.lines)
                self.cv.wait(0.2)

    def during(self, phase, seconds):
        with self.cv:
            self.phase = phase
        time.sleep(seconds)


def run_phases(mosquitto, tmp_path, driver, tls, test_ca):
    port = mosquitto.tls_port if tls else mosquitto.port
    proxy = FaultProxy(port)
    extra = dict(tls=True, ca=test_ca["ca"], host="localhost") if tls else {}
    cfg = write_config(tmp_path, proxy.port, keepalive=2, timeout_ms=TIMEOUT_MS, **extra)
    agent = Live(cfg, 40000, driver)
    try:
        agent.wait_line("STATUS up")
        agent.during("up", 1.5)
        mosquitto.stop()
        agent.during("broker stopped", 3)
        mosquitto.start()
        agent.wait_line("STATUS up", count=2)
        agent.during("restarted", 1.5)
        proxy.blackhole()
        proxy.accept_mode = "blackhole"     # the reconnects meet silence too
        agent.during("black-holed", 6)
        proxy.accept_mode = None
        proxy.cut()
        agent.wait_line("STATUS up", count=3)
        proxy.slow(delay=0.05, chunk=1)
        agent.during("slow", 3)
        proxy.slow(delay=0, chunk=0)
        agent.during("after", 1)
    finally:
        agent.p.kill()
        agent.p.wait(10)
        proxy.close()
    return agent


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_loop_stays_live_beside_the_session(mosquitto, tmp_path, test_ca, tls):
    aio = run_phases(mosquitto, tmp_path, "aio", tls, test_ca)
    blocking = run_phases(mosquitto, tmp_path, "blocking", tls, test_ca)
    print("\nlargest gap of a 10 ms ticker (ms), timeout_ms %d, %s:" % (TIMEOUT_MS, "TLS" if tls else "plain"))
    print("%-16s %8s %8s" % ("phase", "aio", "poll(0)"))
    for phase in aio.gaps:
        print("%-16s %8d %8s" % (phase, aio.gaps[phase], blocking.gaps.get(phase, "no tick")))
    assert len(aio.gaps) >= 6, aio.lines
    worst = max(aio.gaps.values())
    assert worst < BOUND_MS, (aio.gaps, aio.lines[-40:])
