"""A plain MQTT broker (a real mosquitto) with a console on the project's
topic convention (README, "Plain MQTT topic convention"): it prints every
uplink under iotlink/#; `iotlink run` uses it as the operator's end."""

import json
import sys

from .. import broker
from ..console import Console
from . import common

DEMO_DEVICE = "demo-board"


class Sim:
    """``Sim(port=0).start()``: mosquitto on ``port`` (0 = a free one) and a
    console subscribed to ``iotlink/#``."""

    def __init__(self, workdir=None, port=0, host="127.0.0.1"):
        self.workdir = workdir
        self.host = host
        self.broker = broker.Mosquitto(port=port or None, workdir=workdir)
        self.console = None
        self.base = "iotlink/%s/" % DEMO_DEVICE
        self._n = 0

    @property
    def port(self):
        return self.broker.port

    def start(self):
        self.broker.start()
        self.console = Console(self.port).subscribe("iotlink/#")
        return self

    def stop(self):
        if self.console:
            self.console.close()
        self.broker.stop()

    # ----- `iotlink run` ---------------------------------------------------

    @classmethod
    def demo(cls, workdir, port=0):
        sim = cls(port=port).start()
        up = sim.base + "up/"
        common.follow(sim.console.messages,
                      lambda m: "%s %s" % (m[0], common.text(m[1])) if m[0].startswith(up) else None)
        print("local broker: mosquitto on 127.0.0.1:%d (watch: mosquitto_sub -p %d -t '%s#' -v)"
              % (sim.port, sim.port, sim.base), flush=True)
        return sim

    def run_config(self):
        return {"cloud": {"type": "mqtt", "host": "127.0.0.1", "port": self.port,
                          "client_id": DEMO_DEVICE, "keepalive": 30}}

    def wait_online(self, timeout):
        self.console.wait(lambda t, p: t == self.base + "status" and p == b"online", timeout=timeout)

    def _call(self, sub, params):
        self._n += 1
        body = {"id": "op-%d" % self._n, "params": params}
        print("  cloud -> %sdown/%s %s" % (self.base, sub, json.dumps(body)), flush=True)
        self.console.publish(self.base + "down/" + sub, json.dumps(body))
        _, p = self.console.wait(lambda t, p: t == self.base + "up/reply"
                                 and json.loads(p).get("id") == body["id"], timeout=10)
        return json.loads(p)

    def demo_command(self, name, params):
        return self._call("command/" + name, params)

    def demo_set(self, props):
        return self._call("set", props)

    def demo_get(self, names):
        return self._call("get", names)

    def demo_steps(self):
        return common.operator_steps(self)


def main(argv=None):
    ap = common.parser("mqtt", "A plain MQTT broker (mosquitto) that prints every uplink under iotlink/#.",
                       port=0)
    a = ap.parse_args(argv)
    sim = Sim(port=a.port or None, host=a.host)

    def show():
        print("plain MQTT broker (mosquitto) on 127.0.0.1:%d; uplinks under iotlink/#" % sim.port)
        print("try: mosquitto_sub -p %d -t 'iotlink/#' -v" % sim.port)
        print("Ctrl-C to stop", flush=True)
        common.follow(sim.console.messages, lambda m: "%s %s" % (m[0], common.text(m[1])))
    return common.serve("iotlink sim mqtt", sim, (a.port,), a.host, show)


if __name__ == "__main__":
    sys.exit(main())
