"""A local SenseCAP Data OpenStream for tests and offline work.

Real mosquitto does the MQTT; ``mqtt_front`` in front of it checks what
OpenStream documents at the door:

* client id ``org-<OrgID>-<random>`` (random part: digits and lowercase
  letters), else CONNACK 2;
* username ``org-<OrgID>`` of a known organisation and its API access key as
  the password, else CONNACK 4 (which code the real broker sends for which
  mistake is not documented: this stand-in's choice);
* subscriptions only under ``/device_sensor_data/<its OrgID>/`` and
  ``/device_status_event/<its OrgID>/`` (else SUBACK 0x80);
* no publishing at all: OpenStream documents no uplink topic, so a PUBLISH
  closes the link (whether the real broker drops or refuses it is unverified);
* one live link per client id (a second connection with the same id closes
  the first, as MQTT brokers do).

Behind the door a platform client publishes what LoRaWAN devices of the demo
organisation send: a weather station (eight measurements per uplink with one
timestamp, JSON numbers), a tracker (position, a BLE beacon scan list, an
event list, values and timestamps as strings, as on the reference page) and a
leak sensor (a boolean), plus status messages (battery, signal, charging
state, interval).  ``publish_reading()`` sends a chosen reading at once.

Needs paho-mqtt on the host.
"""

import json
import os
import re
import secrets
import sys
import tempfile
import threading
import time

from . import common
from .base import MqttSim

_CID = re.compile(r"^org-([0-9A-Za-z]+)-([0-9a-z]+)$")
DEMO_ORG = "416358930172"
WEATHER = "2CF7F1C0440000A1"    # S2120 8-in-1 weather station
TRACKER = "2CF7F1C0530000B2"    # T1000 tracker
LEAK = "2CF7F1C0610000C3"       # water leak sensor
DEMO_EUIS = (WEATHER, TRACKER, LEAK)


def _ms():
    return int(time.time() * 1000)


class Sim(MqttSim):
    """``orgs``: {org_id: access_key}; by default one demo organisation with a
    fresh key.  ``interval``: seconds between demo uplinks (0 = only on request)."""

    def __init__(self, workdir=None, orgs=None, host="127.0.0.1", port=0, interval=0, seed=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="iotlink-sensecap-")
        self.orgs = dict(orgs) if orgs else {DEMO_ORG: secrets.token_hex(32).upper()}
        self.org = next(iter(self.orgs))
        self.host = host
        self._ports = (port, 0)
        self.tls = None
        self.interval = interval
        self.published = []    # (topic, payload bytes) sent by the platform
        self.mosq = self.front = self.client = None
        self._stop = threading.Event()
        self._n = 0
        self._rand = __import__("random").Random(seed)

    # ----- lifecycle -------------------------------------------------------

    def start(self):
        d = os.path.join(self.workdir, "mosquitto")
        os.makedirs(d, exist_ok=True)
        self._start_mqtt(name="openstream", broker_dir=d)
        if self.interval:
            threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self):
        self._stop.set()
        MqttSim.stop(self)



    @property
    def key(self):
        return self.orgs[self.org]

    def demo_config(self, suffix="demo01", **cloud):
        """config.json for a board of the demo organisation: every reading of
        its devices and their status, and the threshold example's app section."""
        c = {"type": "sensecap", "host": self.host, "port": self.port, "org_id": self.org,
             "access_key": self.key, "client_suffix": suffix, "keepalive": 30, "status": True}
        c.update(cloud)
        return {"cloud": c,
                "session": {"backoff_min_ms": 200, "backoff_max_ms": 2000},
                "app": {"eui": WEATHER, "measurement": 4097, "threshold": 30.0,
                        "hysteresis": 1.0}}

    # ----- `iotlink run`: the board runs the threshold example -------------

    @classmethod
    def demo(cls, workdir, port=0):
        sim = cls(workdir, port=port).start()
        print("local SenseCAP OpenStream: MQTT on 127.0.0.1:%d, organisation %s" % (sim.port, sim.org), flush=True)
        return sim

    def run_config(self):
        return self.demo_config()

    def wait_online(self, timeout):
        time.sleep(3)  # receive-only: nothing to see until it subscribes

    def demo_steps(self):
        """The weather station's temperature across the example's threshold, both ways."""
        def reading(v):
            def step():
                print("  cloud -> %s air temperature %.1f (threshold 30, hysteresis 1)" % (WEATHER, v),
                      flush=True)
                self.publish_reading(WEATHER, 4097, v)
            return step
        return [reading(v) for v in (25.0, 31.0, 29.5, 28.5, 30.2)]

    # ----- the door --------------------------------------------------------

    def _check(self, info):
        m = _CID.match(info["client_id"])
        if not m:
            return 2
        org = m.group(1)
        key = self.orgs.get(org)
        if key is None or info["username"] != "org-" + org or info["password"] is None:
            return 4
        if not secrets.compare_digest(info["password"], key.encode()):
            return 4
        info["org"] = org
        info["key"] = info["client_id"]
        return 0

    def _acl(self, info, topic, action):
        if action != "sub":
            return False
        org = info["org"]
        return topic.startswith("/device_sensor_data/%s/" % org) or \
            topic.startswith("/device_status_event/%s/" % org)

    # ----- the platform ----------------------------------------------------

    def publish_raw(self, topic, payload):
        """Any bytes on any topic, as the platform (for bad-input tests)."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.published.append((topic, payload))
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def publish_reading(self, eui, mid, value, channel=1, ts=None, strings=False, reserved="vs",
                        org=None):
        """One telemetry message now.  ``strings``: value and timestamp as JSON
        strings (the reference page's form) instead of numbers."""
        ts = _ms() if ts is None else ts
        body = {"value": _str(value) if strings else value, "timestamp": str(ts) if strings else ts}
        topic = "/device_sensor_data/%s/%s/%s/%s/%s" % (org or self.org, eui, channel, reserved, mid)
        self.publish_raw(topic, json.dumps(body))
        return ts

    def publish_status(self, eui, sid, value, ts=None, strings=False, reserved="vs"):
        ts = _ms() if ts is None else ts
        body = {"value": _str(value) if strings else value, "timestamp": str(ts) if strings else ts}
        self.publish_raw("/device_status_event/%s/%s/%s/%s" % (self.org, eui, reserved, sid),
                         json.dumps(body))
        return ts

    def uplink(self, eui=WEATHER):
        """One uplink of a demo device: all its measurements with one timestamp.
        Returns {measurement id: value as sent}."""
        r = self._rand
        ts = _ms()
        self._n += 1
        if eui == WEATHER:
            vals = {4097: round(r.uniform(18, 32), 1), 4098: r.randint(35, 90),
                    4099: r.randint(0, 60000), 4190: round(r.uniform(0, 9), 1),
                    4105: round(r.uniform(0, 12), 1), 4104: r.choice((0, 45, 90, 135, 180, 225, 270, 315)),
                    4113: round(r.uniform(0, 4), 1), 4101: r.randint(99000, 102500)}
            for mid, v in vals.items():
                self.publish_reading(eui, mid, v, ts=ts)
            if self._n % 3 == 1:
                self.publish_status(eui, 3000, r.randint(40, 100), ts=ts)
                self.publish_status(eui, 3017, r.choice((1, 2, 3)), ts=ts)
        elif eui == TRACKER:
            ble = [{"mac": "C3:00:00:3E:7D:%02X" % r.randint(0, 255), "rssi": str(r.randint(-95, -40))}
                   for _ in range(3)]
            vals = {4197: "%.6f" % r.uniform(113.9, 114.1), 4198: "%.6f" % r.uniform(22.5, 22.7),
                    4097: "%.1f" % r.uniform(15, 30), 4199: str(r.randint(0, 100))}
            for mid, v in vals.items():
                self.publish_reading(eui, mid, v, ts=ts, strings=True)
            self.publish_reading(eui, 5002, ble, ts=ts)
            vals[5002] = ble
            if self._n % 4 == 0:
                ev = [{"eventName": r.choice(("Start moving event.", "End movement event."))}]
                self.publish_reading(eui, 5003, ev, ts=ts)
                vals[5003] = ev
            self.publish_status(eui, 3000, str(r.randint(20, 100)), ts=ts, strings=True)
        elif eui == LEAK:
            vals = {4116: self._n % 5 == 0}
            self.publish_reading(eui, 4116, vals[4116], ts=ts)
            self.publish_status(eui, 3009, r.randint(-120, -60), ts=ts)
            self.publish_status(eui, 3900, 10, ts=ts)
        else:
            raise ValueError("not a demo device: %s" % eui)
        return vals

    def _loop(self):
        i = 0
        while not self._stop.wait(self.interval if i else 0.5):
            try:
                self.uplink(DEMO_EUIS[i % len(DEMO_EUIS)])
            except Exception as e:  # the broker went away while stopping
                if not self._stop.is_set():
                    print("sensecap sim: %s" % e, file=sys.stderr)
            i += 1


def _str(v):
    return v if isinstance(v, (str, list, dict)) else json.dumps(v)


# ----- command line ----------------------------------------------------------

_HELP = """commands:
  reading EUI MEASUREMENT_ID VALUE   publish one reading now (VALUE as JSON: 31.5, "31.5", true)
  status EUI STATUS_ID VALUE         publish one status message now
  uplink [EUI]                       one full uplink of a demo device (default the weather station)
  quit"""


def _line(sim, line):
    w = line.split(None, 3)
    if w[0] in ("reading", "status") and len(w) == 4:
        try:
            v = json.loads(w[3])
        except ValueError:
            v = w[3]
        f = sim.publish_reading if w[0] == "reading" else sim.publish_status
        f(w[1].upper(), int(w[2]), v)
        return "sent"
    if w[0] == "uplink":
        return json.dumps(sim.uplink(w[1].upper() if len(w) > 1 else WEATHER))
    return _HELP


def main(argv=None):
    p = common.parser("sensecap", "A local SenseCAP Data OpenStream (MQTT, receive-only).", port=11884)
    p.add_argument("--org", default=DEMO_ORG, help="organisation id of the demo org")
    p.add_argument("--key", help="its API access key (default: a fresh random one)")
    p.add_argument("--interval", type=float, default=10, help="seconds between demo uplinks (0 = none)")
    a = p.parse_args(argv)
    sim = Sim(os.path.abspath(a.dir), {a.org: a.key or secrets.token_hex(32).upper()},
              host=a.host, port=a.port, interval=a.interval)

    def show():
        print("local SenseCAP OpenStream: mqtt://%s:%d (no TLS, as the real one)" % (a.host, sim.port))
        print("  client id  org-%s-<digits and lowercase letters>" % sim.org)
        print("  username   org-%s" % sim.org)
        print("  password   %s  (the organisation's API access key)" % sim.key)
        print("  devices    %s (weather station), %s (tracker), %s (leak sensor)" % DEMO_EUIS)
        print("  topics     /device_sensor_data/%s/<EUI>/<channel>/<reserved>/<measurement id>" % sim.org)
        print("             /device_status_event/%s/<EUI>/<reserved>/<status id>" % sim.org)
        path = os.path.join(a.dir, "config.json")
        with open(path, "w") as f:
            json.dump(sim.demo_config(), f, indent=1)
        print("config.json for a board (also in %s):" % path)
        print(json.dumps(sim.demo_config(), indent=1))
        print(_HELP)
    return common.serve("iotlink sim sensecap", sim, (a.port,), a.host, show, lambda line: _line(sim, line), _HELP)


if __name__ == "__main__":
    sys.exit(main())
