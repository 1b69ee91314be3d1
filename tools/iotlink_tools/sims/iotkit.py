"""A local iotkit (iotkit.cc, the OpenIita "iita" IoT platform) for tests and
offline work.

Real mosquitto does the MQTT; ``mqtt_front`` in front of it checks CONNECT as
the platform's MQTT plugin does:

* clientId split on ``_`` into productKey, deviceName, model (fewer than three
  parts: CONNACK 2); no username or password: CONNACK 5; username other than
  the deviceName, unknown productKey, or password other than
  ``md5(productSecret + clientId)`` (hex, any case): CONNACK 4;
* the connecting device is registered automatically under its product (a
  deviceName on the ``refuse`` list fails registration: CONNACK 5);
* one live link per deviceName.

Behind the door the platform plays one of two server builds (``variant``):

* ``plugin`` (the built-in vert.x broker): a SUBSCRIBE of ``/sys/{pk}/{dn}/...``
  puts that device online and routes its downlinks to this connection
  (filters of fewer than five ``/`` parts are refused), UNSUBSCRIBE or
  DISCONNECT takes it offline, a dropped link does not; answers to uplinks
  are the request topic + ``_reply`` (``/s/..._reply``), written straight into
  the device's connection as the plugin does; methods the plugin does not know
  (config/get, deregister) get no answer;
* ``emqx``: a device is online once it publishes and offline when its link
  goes; answers go to ``/c/..._reply`` through the broker; config/get and
  gateway deregister are answered as the protocol document describes.

Uplinks are dispatched on the payload ``method`` only (never the topic
suffix); a failed sub-device registration is answered with the platform's
``{"id": null, "method": "null_reply", "code": 500, "data": null}`` (the code
is this stand-in's choice).  Services, property set/get, config push and
sub-device deregister are sent as the platform sends them, and wait for the
device's ``*_reply`` with the same id.

Needs paho-mqtt on the host.
"""

import hashlib
import json
import os
import struct
import sys
import threading
import time
import uuid

from .. import certs, mqtt_front
from . import common
from .base import MqttSim
from ..mqtt_front import PUBLISH, SUBSCRIBE, body_of, parse_subscribe, varint

UNSUBSCRIBE, DISCONNECT = 10, 14
PLUGIN, EMQX = "plugin", "emqx"
VARIANTS = (PLUGIN, EMQX)
CMD_TIMEOUT = 20.0
REGISTER_FAILED = 500
DEMO_PRODUCT = "iotlinkDemoProd1"
DEMO_DEVICE = "iotlink-demo-01"
DEMO_MODEL = "mpy"


class Timeout(Exception):
    """The device did not answer in time."""


class Offline(Exception):
    """No route to the device (the platform's "destination not found")."""


def password(product_secret, client_id):
    return hashlib.md5((product_secret + client_id).encode()).hexdigest()


def publish_packet(topic, payload):
    """A QoS 0 PUBLISH (no packet id: nothing to collide with the broker's)."""
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + payload
    return b"\x30" + varint(len(body)) + body


def parse_publish(pkt):
    b = body_of(pkt)
    n = struct.unpack_from("!H", b, 0)[0]
    i = 2 + n + (2 if (pkt[0] >> 1) & 3 else 0)
    return bytes(b[2:2 + n]).decode(errors="replace"), bytes(b[i:])


def parse_unsubscribe(pkt):
    b = body_of(pkt)
    i, out = 2, []
    while i < len(b):
        n = struct.unpack_from("!H", b, i)[0]
        out.append(bytes(b[i + 2:i + 2 + n]).decode(errors="replace"))
        i += 2 + n
    return out


class _Conn(mqtt_front._Conn):
    """A front connection that also shows the platform what passes (and lets
    it answer inside the connection, as the built-in broker does)."""

    def __init__(self, *a):
        super().__init__(*a)
        self.filters = set()

    def _from_client(self, pkt):
        kind = pkt[0] >> 4
        ok = mqtt_front._Conn._from_client(self, pkt)
        if ok:
            sim = self.front.sim
            if kind == PUBLISH:
                sim._uplink(self, *parse_publish(pkt))
            elif kind == SUBSCRIBE:
                _, filters = parse_subscribe(pkt, self.info["level"])
                sim._subscribed(self, [t.decode(errors="replace") for t, _ in filters])
            elif kind == UNSUBSCRIBE:
                sim._unsubscribed(self, parse_unsubscribe(pkt))
            elif kind == DISCONNECT:
                sim._disconnected(self)
        return ok

    def inject(self, topic, payload):
        """Only from this connection's own thread (uplink handling runs there)."""
        self.client.sendall(publish_packet(topic, payload))


class _Front(mqtt_front.Front):
    def __init__(self, sim, *a, **kw):
        self.sim = sim
        super().__init__(*a, **kw)

    def _accept(self, s, tls):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=_Conn(self, conn, tls).run, daemon=True).start()

    def _gone(self, conn):
        super()._gone(conn)
        if conn.info and conn.info.get("key"):
            self.sim._gone(conn)


class Sim(MqttSim):
    """The local platform.  ``products``: {productKey: productSecret} (default:
    one demo product).  ``tls``: a certs.make_ca() dict, or True to make a CA
    in ``workdir``."""

    def __init__(self, workdir=None, variant=PLUGIN, products=None, tls=None,
                 host="127.0.0.1", port=0, tls_port=0, doc_methods=None):
        if variant not in VARIANTS:
            raise ValueError("variant must be one of " + ", ".join(VARIANTS))
        self.workdir = workdir
        self.variant = variant
        self.doc_methods = variant == EMQX if doc_methods is None else doc_methods
        self.products = dict(products) if products else {DEMO_PRODUCT: uuid.uuid4().hex}
        self.tls = tls
        self.host = host
        self._ports = (port, tls_port)
        self.devices = {}    # deviceName -> {"pk", "model", "secret", "online", "parent"}
        self.refuse = set()  # deviceNames whose registration fails
        self.routes = {}     # deviceName -> _Conn its downlinks go to
        self.reported = {}   # deviceName -> {property: value}
        self.events = []     # (deviceName, event name, params)
        self.configs = {}    # deviceName -> config object (config/get answers)
        self.uplinks = []    # (deviceName, topic, body dict or raw bytes)
        self.replies = []    # device answers (*_reply bodies)
        self._waiters = {}
        self._n = 0
        self._cond = threading.Condition(threading.RLock())
        self.mosq = self.front = self.client = None

    # ----- lifecycle -------------------------------------------------------

    def start(self):
        if self.tls is True:
            folder = self.workdir or ".sim/iotkit"
            self.tls = certs.make_ca(folder)
            self.tls["ca_der"] = certs.pem_to_der(self.tls["ca"], os.path.join(folder, "ca.der"))
        self.tls = self.tls or None
        self._start_mqtt(front_cls=lambda *a, **kw: _Front(self, *a, **kw), name="iotkit-platform",
                         acl=True if self.variant == PLUGIN else None)
        return self




    def config(self, device_name=DEMO_DEVICE, product_key=None, model=DEMO_MODEL, tls=False,
               **extra):
        """A full device config dict (with "cloud" and "session") for this stand-in."""
        pk = product_key or next(iter(self.products))
        c = {"type": "iotkit", "host": self.host, "port": self.tls_port if tls else self.port,
             "product_key": pk, "product_secret": self.products[pk],
             "device_name": device_name, "model": model, "keepalive": 30}
        if tls:
            c.update(tls=True, host="localhost", ca=self.tls.get("ca_der") or self.tls["ca"])
        c.update(extra)
        return {"cloud": c, "session": {"backoff_min_ms": 200, "backoff_max_ms": 2000}}

    def demo_config(self):
        return self.config()

    def command(self, name, params=None, timeout=CMD_TIMEOUT):
        """Call service ``name`` on the demo device; the device's reply (a dict)."""
        return self.invoke(DEMO_DEVICE, name, params or {}, timeout)

    def set(self, props, timeout=CMD_TIMEOUT):
        """Property set on the demo device; its reply."""
        return self.set_properties(DEMO_DEVICE, props, timeout)

    def get(self, names, timeout=CMD_TIMEOUT):
        """Property get on the demo device; its reply (values under data and params)."""
        return self.get_properties(DEMO_DEVICE, names, timeout)

    def wait_online(self, timeout=20, device_name=DEMO_DEVICE):
        """Wait until the platform can reach the device (subscribed / has published)."""
        def up():
            d = self.devices.get(device_name)
            return d and d["online"] and (self.variant == EMQX or device_name in self.routes)
        self.wait(up, timeout, "%s online" % device_name)

    # ----- `iotlink run` (built-in broker variant) -------------------------

    @classmethod
    def demo(cls, workdir, port=0):
        sim = cls(workdir, port=port).start()
        print("local iotkit: MQTT on 127.0.0.1:%d" % sim.port, flush=True)
        # replies are shown with their request
        common.follow(sim.uplinks, lambda u: None if u[1].endswith("_reply") else "%s %s" % (u[1], common.text(u[2])))
        return sim

    def run_config(self):
        return self.demo_config()

    def _show(self, what, r):
        print("  cloud <- %s reply: %s" % (what, json.dumps(r)), flush=True)
        return r

    def demo_command(self, name, params):
        print("  cloud -> thing.service.%s %s" % (name, json.dumps(params)), flush=True)
        return self._show(name, self.command(name, params))

    def demo_set(self, props):
        print("  cloud -> thing.service.property.set %s" % json.dumps(props), flush=True)
        return self._show("set", self.set(props))

    def demo_get(self, names):
        print("  cloud -> thing.service.property.get %s" % json.dumps(names), flush=True)
        return self._show("get", self.get(names))

    def demo_steps(self):
        return common.operator_steps(self)

    # ----- the door --------------------------------------------------------

    def _check(self, info):
        cid = info["client_id"]
        parts = cid.split("_")
        if len(parts) < 3:
            return 2
        if info["username"] is None or info["password"] is None:
            return 5
        pk, dn, model = parts[0], parts[1], parts[2]
        secret = self.products.get(pk)
        if info["username"] != dn or secret is None:
            return 4
        if info["password"].decode(errors="replace").lower() != password(secret, cid):
            return 4
        if not self._register(pk, dn, model, None):
            return 5
        info["key"] = dn
        info["dn"] = dn
        return 0

    def _acl(self, info, topic, action):
        # the plugin takes productKey and deviceName from parts 2 and 3 of a filter
        return action == "pub" or len(topic.split("/")) >= 5

    def _register(self, pk, dn, model, parent):
        with self._cond:
            if dn in self.refuse or pk not in self.products:
                return False
            d = self.devices.get(dn)
            if d is None:
                d = self.devices[dn] = {"pk": pk, "model": model, "online": False,
                                        "secret": uuid.uuid4().hex[:16], "parent": None}
            if parent:
                d["parent"] = parent
            return True

    # ----- what passes the door ---------------------------------------------

    def _set_online(self, dn, on):
        with self._cond:
            d = self.devices.get(dn)
            if d is not None and d["online"] != on:
                d["online"] = on
                self._cond.notify_all()

    def _subscribed(self, conn, filters):
        for f in filters:
            parts = f.split("/")
            if len(parts) < 5:
                continue
            dn = parts[3]
            with self._cond:
                conn.filters.add(f)
                self.routes[dn] = conn
                self._cond.notify_all()
            if self.variant == PLUGIN:
                self._set_online(dn, True)

    def _unsubscribed(self, conn, filters):
        for f in filters:
            parts = f.split("/")
            with self._cond:
                conn.filters.discard(f)
                self._cond.notify_all()
            if len(parts) >= 5 and self.variant == PLUGIN:
                dn = parts[3]
                with self._cond:
                    if self.routes.get(dn) is conn:
                        del self.routes[dn]
                self._set_online(dn, False)

    def _disconnected(self, conn):
        self._set_online(conn.info["dn"], False)

    def _gone(self, conn):
        with self._cond:
            for dn, c in list(self.routes.items()):
                if c is conn:
                    del self.routes[dn]
                    if self.variant == EMQX:  # EMQX reports the client gone: all its devices
                        self._set_online(dn, False)
            if self.variant == EMQX:
                self._set_online(conn.info["dn"], False)
            self._cond.notify_all()

    def _uplink(self, conn, topic, payload):
        parts = topic.split("/")
        if len(parts) < 5:
            return
        dn = parts[3]
        try:
            body = json.loads(payload)
        except ValueError:
            body = None
        with self._cond:
            self.uplinks.append((dn, topic, body if isinstance(body, dict) else payload))
            self._cond.notify_all()
        if not isinstance(body, dict):
            return  # the plugin fails parsing: dropped
        method = body.get("method")
        if not isinstance(method, str) or not method:
            return  # ignored, no answer
        if self.variant == EMQX:
            self._set_online(dn, True)
        params = body.get("params")
        rid = body.get("id")
        low = method.lower()
        if method.endswith("_reply"):
            self._device_reply(body)
        elif low == "thing.lifetime.register":
            p = params if isinstance(params, dict) else {}
            pk, kid, model = p.get("productKey"), p.get("deviceName"), p.get("model")
            if all(isinstance(v, str) and v for v in (pk, kid)) and \
                    self._register(pk, kid, model, dn):
                self._answer(conn, topic, {"id": rid, "method": method + "_reply", "code": 0,
                                           "data": p})
            else:
                self._answer(conn, topic, {"id": None, "method": "null_reply",
                                           "code": REGISTER_FAILED, "data": None})
        elif low == "thing.event.property.post":
            if not isinstance(params, dict):
                return
            with self._cond:
                self.reported.setdefault(dn, {}).update(params)
                self._cond.notify_all()
            self._answer(conn, topic, {"id": rid, "method": method + "_reply", "code": 0,
                                       "data": params})
        elif method.startswith("thing.event."):
            if params is not None and not isinstance(params, dict):
                return
            with self._cond:
                self.events.append((dn, method[12:], params))
                self._cond.notify_all()
            self._answer(conn, topic, {"id": rid, "method": method + "_reply", "code": 0,
                                       "data": params})
        elif not self.doc_methods:
            return  # the plugin knows nothing else
        elif method == "thing.config.get":
            self._answer(conn, topic, {"id": rid, "method": method + "_reply", "code": 0,
                                       "data": self.configs.get(dn, {})})
        elif method == "thing.lifetime.deregister":
            kid = params.get("deviceName") if isinstance(params, dict) else None
            with self._cond:
                d = self.devices.get(kid)
                ok = d is not None and d.get("parent") == dn
                if ok:
                    d["parent"] = None
            self._answer(conn, topic, {"id": rid, "method": method + "_reply",
                                       "code": 0 if ok else 404})

    def _answer(self, conn, topic, body):
        data = json.dumps(body).encode()
        if self.variant == PLUGIN:
            conn.inject(topic + "_reply", data)
        else:
            self.client.publish(topic.replace("/s/", "/c/", 1) + "_reply", data, qos=1)

    def _device_reply(self, body):
        code = body.get("code")
        p = body.get("params")
        if not isinstance(code, int) or isinstance(code, bool) or \
                (p is not None and not isinstance(p, dict)):
            return  # what the plugin cannot read it drops
        with self._cond:
            self.replies.append(body)
            w = self._waiters.get(body.get("id"))
            if w is not None:
                w[1] = body
                w[0].set()
            self._cond.notify_all()

    # ----- the platform's side ----------------------------------------------

    def _rid(self):
        with self._cond:
            self._n += 1
            return "%d%03d" % (int(time.time() * 1000), self._n % 1000)

    def _route(self, dn):
        with self._cond:
            d = self.devices.get(dn)
            if d is None:
                raise Offline("no device %s" % dn)
            if self.variant == PLUGIN and dn not in self.routes or \
                    self.variant == EMQX and not d["online"]:
                raise Offline("destination not found: %s is not online" % dn)
            return d["pk"]

    def publish_raw(self, dn, suffix, payload):
        """Publish any bytes/str/dict on ``/sys/{pk}/{dn}/c/{suffix}``."""
        pk = self.devices[dn]["pk"]
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        self.client.publish("/sys/%s/%s/c/%s" % (pk, dn, suffix), payload, qos=1).wait_for_publish(5)

    def request(self, dn, suffix, method, params, timeout=CMD_TIMEOUT, rid=None):
        """Send ``{"id", "method", "params"}`` on ``/c/{suffix}``; the device's answer."""
        self._route(dn)
        rid = rid or self._rid()
        w = self._waiters[rid] = [threading.Event(), None]
        try:
            self.publish_raw(dn, suffix, {"id": rid, "method": method, "params": params})
            if not w[0].wait(timeout):
                raise Timeout("%s to %s: no answer in %g s" % (method, dn, timeout))
            return w[1]
        finally:
            self._waiters.pop(rid, None)

    def invoke(self, dn, name, params, timeout=CMD_TIMEOUT):
        return self.request(dn, "service/" + name, "thing.service." + name, params, timeout)

    def set_properties(self, dn, props, timeout=CMD_TIMEOUT):
        return self.request(dn, "service/property/set", "thing.service.property.set", props,
                            timeout)

    def get_properties(self, dn, names, timeout=CMD_TIMEOUT):
        return self.request(dn, "service/property/get", "thing.service.property.get",
                            list(names), timeout)

    def config_set(self, dn, cfg, timeout=CMD_TIMEOUT):
        return self.request(dn, "config/set", "thing.config.set", cfg, timeout)

    def deregister(self, gateway, child, timeout=CMD_TIMEOUT):
        """Tell ``gateway`` to drop ``child`` (the commercial build's topology notice)."""
        d = self.devices[child]
        r = self.request(gateway, "deregister", "thing.lifetime.deregister",
                         {"productKey": d["pk"], "deviceName": child}, timeout)
        if r.get("code") == 0:
            with self._cond:
                d["parent"] = None
        return r

    def wait_reply(self, rid, timeout=10):
        """A device answer with this id that arrived without a waiter (raw requests)."""
        return self.wait(lambda: next((r for r in self.replies if r.get("id") == rid), None),
                         timeout, "answer %s" % rid)

    def wait(self, cond, timeout=10, what="condition"):
        """Wait until ``cond()`` is truthy (checked under the lock); return it."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                v = cond()
                if v:
                    return v
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout("%s not met in %g s" % (what, timeout))
                self._cond.wait(left)

    def online(self, dn):
        d = self.devices.get(dn)
        return bool(d and d["online"])


# ----- command line ----------------------------------------------------------

_HELP = """commands (a JSON argument is the rest of the line):
  invoke DEVICE NAME {"param": value}   call a service, wait 20 s for the answer
  set DEVICE {"prop": value}            property set
  get DEVICE prop1,prop2                property get
  config DEVICE {"key": value}          config push (config/set)
  deregister GATEWAY CHILD              tell a gateway to drop a sub-device
  devices                               devices, online state, reported values
  quit"""


def _cli_line(sim, line):
    w = line.split(None, 2)
    cmd, args = w[0], w[1:]
    if cmd == "invoke":
        name, _, params = args[1].partition(" ")
        return sim.invoke(args[0], name, json.loads(params or "{}"))
    if cmd == "set":
        return sim.set_properties(args[0], json.loads(args[1]))
    if cmd == "get":
        return sim.get_properties(args[0], [n for n in args[1].split(",") if n] if len(args) > 1 else [])
    if cmd == "config":
        sim.configs[args[0]] = json.loads(args[1])
        return sim.config_set(args[0], sim.configs[args[0]])
    if cmd == "deregister":
        return sim.deregister(args[0], args[1])
    if cmd == "devices":
        return {"devices": {k: {x: v[x] for x in ("pk", "model", "online", "parent")}
                            for k, v in sim.devices.items()}, "reported": sim.reported}
    return _HELP


def main(argv=None):
    ap = common.parser("iotkit", "A local iotkit (iotkit.cc) MQTT platform.", port=11884, tls_port=0,
                       tls_help="also listen with TLS on this port (test CA made in --dir)")
    ap.add_argument("--variant", choices=VARIANTS, default=PLUGIN,
                    help="plugin: built-in broker, answers on /s/..._reply; "
                         "emqx: answers on /c/..._reply")
    ap.add_argument("--product", action="append", default=[], metavar="PK:SECRET",
                    help="a product (repeatable); default: a demo product")
    args = ap.parse_args(argv)
    products = {}
    for p in args.product:
        pk, _, secret = p.partition(":")
        if not pk or not secret or "_" in pk:
            ap.error("--product wants PK:SECRET (no '_' in PK)")
        products[pk] = secret
    os.makedirs(args.dir, exist_ok=True)
    sim = Sim(args.dir, args.variant, products or None, tls=True if args.tls_port else None,
              host=args.host, port=args.port, tls_port=args.tls_port)

    def show():
        cfg = sim.demo_config()
        c = cfg["cloud"]
        cid = "%s_%s_%s" % (c["product_key"], c["device_name"], c["model"])
        print("local iotkit (%s variant): mqtt://%s:%d%s" % (
            args.variant, args.host, sim.port,
            "  mqtts://%s:%d" % (args.host, sim.tls_port) if sim.tls_port else ""))
        print("demo device: client id %s  username %s  password %s" % (
            cid, c["device_name"], password(c["product_secret"], cid)))
        path = os.path.join(args.dir, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        print("config.json for the demo device (also in %s):" % path)
        print(json.dumps(cfg, indent=1))
        print("any deviceName connecting under a product is registered on the spot")
        print(_HELP)

    def handle(line):
        try:
            return _cli_line(sim, line)
        except (Timeout, Offline) as e:
            return "%s: %s" % (type(e).__name__, e)
    return common.serve("iotlink sim iotkit", sim, (args.port, args.tls_port), args.host, show, handle, _HELP)


if __name__ == "__main__":
    sys.exit(main())
