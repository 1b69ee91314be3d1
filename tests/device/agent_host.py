"""Host side of the device tests: start agent.py on the unix port and follow it."""

import json
import os
import time

from iotlink_tools import upy

AGENT = os.path.join(os.path.dirname(__file__), "agent.py")
BASE = "iotlink/dev1"


def write_config(tmp_path, port, **cloud):
    c = {"type": "mqtt", "host": "127.0.0.1", "port": port, "client_id": "dev1", "keepalive": 10}
    c.update(cloud)
    cfg = {"cloud": c, "session": {"backoff_min_ms": 200, "backoff_max_ms": 1000}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


class Agent(upy.Follow):
    """The agent script running on micropython; lines collected in a thread."""

    def __init__(self, cfg_path, run_ms, report_ms=0, extra_path=()):
        super().__init__(AGENT, args=(cfg_path, str(run_ms), str(report_ms)), extra_path=extra_path)

    def wait_line(self, prefix, timeout=15, count=1):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                hits = [l for l in self.lines if l.startswith(prefix)]
                if len(hits) >= count:
                    return hits[count - 1]
                left = end - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not hits):
                    raise AssertionError("no %r line; output:\n%s" % (prefix, "\n".join(self.lines)))
                self.cv.wait(min(left, 0.2))

    def finish(self, timeout=60):
        self.p.wait(timeout)
        time.sleep(0.1)
        assert self.p.returncode == 0, "\n".join(self.lines)
        stats = [l for l in self.lines if l.startswith("STATS ")]
        return json.loads(stats[-1][6:])
