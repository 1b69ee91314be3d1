"""A local Huawei Cloud IoTDA for tests and offline work.

Real mosquitto does the MQTT; ``mqtt_front`` in front of it does what IoTDA
checks at the door:

* ClientId ``{device_id}_0_{sign_type}_{YYYYMMDDHH}`` (sign_type 0 or 1) and
  keep-alive 30..1200 s, else CONNACK 2;
* the device must be registered (else CONNACK 5), Username = device_id and
  Password = HMAC-SHA256(key=timestamp, msg=secret) (else CONNACK 4);
* sign_type 1 also needs the timestamp hour within one hour of server time
  (else CONNACK 4).  IoTDA does not document its allowed skew: one hour is
  this stand-in's choice;
* a device only publishes and subscribes under ``$oc/devices/{its id}/``;
  other topics are refused (SUBACK 0x80, or the link closed for a publish);
* one live connection per device: a newer one closes the older.

Behind the door a service client plays the platform: it keeps reported
properties and versions, answers time sync with real server times, shadow gets
from desired + reported, gateway child requests, bootstrap (IoTDP) when an
address is configured, and sends commands / property set / get with IoTDA's
synchronous 20 s wait (``Timeout`` when no response comes).

Needs paho-mqtt on the host.
"""

import calendar
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid

from .. import certs
from . import common
from .base import MqttSim

_CID = re.compile(r"^([A-Za-z0-9_-]{1,128})_0_([01])_(\d{10})$")
_SYS = re.compile(r"^\$oc/devices/([^/]+)/sys/(.*)$")
CMD_TIMEOUT = 20.0


class Timeout(Exception):
    """The device did not answer in time (IoTDA: IOTDA.014111)."""


def password(secret, ts):
    return hmac.new(ts.encode(), secret.encode(), hashlib.sha256).hexdigest()


def _ms():
    return int(time.time() * 1000)


def _compact(t=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


class LocalIoTDA(MqttSim):
    """``devices``: {device_id: secret}.  ``tls``: a certs.make_ca() dict for the
    TLS listener.  ``clock``: server time in Unix seconds (tests move it)."""

    def __init__(self, devices=None, tls=None, host="127.0.0.1", port=0, tls_port=0,
                 clock=time.time, bootstrap_address=None, skew_s=3600):
        self.devices = dict(devices or {})
        self.tls = tls
        self.host = host
        self._ports = (port, tls_port)
        self.clock = clock
        self.skew_s = skew_s
        self.bootstrap_address = bootstrap_address
        self.reported = {}   # device_id -> {service_id: {name: value}}
        self.desired = {}    # device_id -> {service_id: {name: value}}
        self.versions = {}   # device_id -> {"sw_version": .., "fw_version": ..}
        self.children = {}   # gateway id -> {child device_id: info}
        self.uplinks = []    # (device_id, topic rest, payload bytes)
        self._shadow_ver = {}
        self._waiters = {}   # request_id -> [Event, response]
        self._cond = threading.Condition()
        self.mosq = self.front = self.client = None
        self.https = None    # HttpsApi once start_https() ran
        self.files = None          # the package server, started by the first offer
        self.auto_offer = None     # (path, token): offered to every device reporting another version
        self._offered = set()

    # ----- lifecycle -------------------------------------------------------

    def start(self):
        self._start_mqtt(platform_filter="$oc/devices/+/sys/#", name="iotda-platform")
        return self

    def start_https(self, port=0, token_ttl=86400, url_ttl=3600):
        """The HTTPS side (sims/iotda_https.py): device API, object store for
        $file_manager, secure tunnels.  Needs ``tls``.  Returns the HttpsApi."""
        from .iotda_https import HttpsApi
        if self.https is None:
            self.https = HttpsApi(self, port, token_ttl, url_ttl)
        return self.https

    def stop(self):
        if self.https is not None:
            self.https.stop()
            self.https = None
        super().stop()

    def open_tunnel(self, device_id, ttl=600):
        """A secure tunnel to ``device_id`` (starts the HTTPS side if needed)."""
        return self.start_https().open_tunnel(device_id, ttl)



    def add_device(self, device_id, secret):
        self.devices[device_id] = secret

    def remove_device(self, device_id):
        """Delete a device: it is disconnected and can no longer log in."""
        self.devices.pop(device_id, None)
        self.front.kick(device_id)

    def config(self, device_id, tls=True, **extra):
        """A device config dict for this stand-in."""
        c = {"type": "iotda", "host": self.host, "device_id": device_id,
             "secret": self.devices[device_id], "tls": tls,
             "port": self.tls_port if tls else self.port}
        if tls:
            c["ca"] = self.tls["ca"]
        c.update(extra)
        return {"cloud": c}

    def https_config(self, device_id, **extra):
        """A config dict for the HTTPS device API (``cloud.transport`` "https")."""
        c = {"type": "iotda", "transport": "https", "host": self.host,
             "port": self.start_https().port, "device_id": device_id,
             "secret": self.devices[device_id], "ca": self.tls["ca"]}
        c.update(extra)
        return {"cloud": c}

    # ----- the door --------------------------------------------------------

    def _check(self, info):
        m = _CID.match(info["client_id"])
        if not m or not 30 <= info["keepalive"] <= 1200:
            return 2
        did, sign_type, ts = m.groups()
        secret = self.devices.get(did)
        if secret is None:
            return 5
        if info["username"] != did or info["password"] is None:
            return 4
        if sign_type == "1":
            try:
                t = calendar.timegm(time.strptime(ts, "%Y%m%d%H"))
            except ValueError:
                return 4
            now = self.clock()
            if not t - self.skew_s <= now < t + 3600 + self.skew_s:
                return 4
        if not hmac.compare_digest(info["password"], password(secret, ts).encode()):
            return 4
        info["key"] = did
        return 0

    def _acl(self, info, topic, action):
        prefix = "$oc/devices/%s/" % info["key"]
        if not topic.startswith(prefix):
            return False
        rest = topic[len(prefix):]
        return "+" not in rest and ("#" not in rest or rest.endswith("/#"))

    # ----- the platform ----------------------------------------------------

    def _down(self, device_id, rest, body):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.client.publish("$oc/devices/%s/sys/%s" % (device_id, rest), body, qos=1)

    def _on_up(self, topic, payload):
        m = _SYS.match(topic)
        if not m:
            return
        did, rest = m.groups()
        if rest in ("messages/down", "events/down", "bootstrap/down") or \
                re.match(r"^(commands|properties/(set|get))/request_id=", rest) or \
                rest.startswith("shadow/get/response/"):
            return  # our own downlinks
        recv = _ms()
        with self._cond:
            self.uplinks.append((did, rest, payload))
            self._cond.notify_all()
        rid = rest.split("request_id=")[-1] if "request_id=" in rest else None
        if "/response/" in rest:
            w = self._waiters.get(rid)
            if w:
                try:
                    w[1] = json.loads(payload)
                except ValueError:
                    w[1] = {"_raw": payload}
                w[0].set()
            return
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            return
        if rest == "properties/report":
            self._store(did, body.get("services"))
        elif rest == "gateway/sub_devices/properties/report":
            for d in body.get("devices") or ():
                self._store(d.get("device_id"), d.get("services"))
        elif rest == "events/up":
            for s in body.get("services") or ():
                self._event(did, body.get("object_device_id"), s, recv)
        elif rest.startswith("shadow/get/request_id="):
            self._shadow(did, rid, body)
        elif rest == "bootstrap/up":
            if self.bootstrap_address:
                self._down(did, "bootstrap/down", {"address": self.bootstrap_address})
            else:
                self._down(did, "bootstrap/down",
                           {"errorCode": "100414", "errorMsg": "Failed to match the strategy"})

    def _store(self, did, services):
        if not did:
            return
        dev = self.reported.setdefault(did, {})
        for s in services or ():
            dev.setdefault(s.get("service_id"), {}).update(s.get("properties") or {})

    def _event(self, did, target, s, recv):
        sid, et, p = s.get("service_id"), s.get("event_type"), s.get("paras") or {}
        if sid == "$time_sync" and et == "time_sync_request":
            self._down(did, "events/down", {"object_device_id": did, "services": [
                {"service_id": "$time_sync", "event_type": "time_sync_response",
                 "event_time": _compact(),
                 "paras": {"device_send_time": p.get("device_send_time"),
                           "server_recv_time": recv, "server_send_time": _ms()}}]})
        elif sid == "$ota" and et == "version_report":
            self.versions[target or did] = p
            self._maybe_offer(target or did, p)
        elif sid == "$sub_device_manager":
            self._children(did, et, p, s.get("event_id") or str(uuid.uuid4()))
        elif sid == "$file_manager" and self.https is not None:
            self.https.file_event(did, target, et, p)

    def _children(self, gw, et, p, eid):
        kids = self.children.setdefault(gw, {})
        if et == "sub_device_update_status":
            ok = [d for d in p.get("device_statuses") or () if d.get("device_id") in kids]
            bad = [{"device_id": d.get("device_id"), "error_code": "IOTDA.014000",
                    "error_msg": "the device does not exist"}
                   for d in p.get("device_statuses") or () if d.get("device_id") not in kids]
            for d in ok:
                kids[d["device_id"]]["status"] = d.get("status")
            paras = {"successful_devices": ok, "failed_devices": bad}
            et = "sub_device_update_status_response"
        elif et == "add_sub_device_request":
            ok = []
            for d in p.get("devices") or ():
                did = d.get("device_id") or "%s_%s" % (d.get("product_id"), d.get("node_id"))
                info = dict(d, device_id=did, parent_device_id=gw, status="INACTIVE")
                kids[did] = info
                ok.append(info)
            paras = {"successful_devices": ok, "failed_devices": []}
            et = "add_sub_device_response"
        elif et == "delete_sub_device_request":
            ids = [i for i in p.get("devices") or () if isinstance(i, str)]
            ok = [i for i in ids if kids.pop(i, None) is not None]
            paras = {"successful_devices": ok,
                     "failed_devices": [{"device_id": i, "error_code": "IOTDA.014000",
                                         "error_msg": "the device does not exist"}
                                        for i in ids if i not in ok]}
            et = "delete_sub_device_response"
        else:
            return
        self._down(gw, "events/down", {"object_device_id": gw, "services": [
            {"service_id": "$sub_device_manager", "event_type": et, "event_id": eid,
             "event_time": _compact(), "paras": paras}]})

    def _shadow(self, did, rid, body):
        target = body.get("object_device_id") or did
        want = body.get("service_id")
        rep, des = self.reported.get(target, {}), self.desired.get(target, {})
        out = []
        for sid in sorted(set(rep) | set(des)):
            if want and sid != want:
                continue
            out.append({"service_id": sid,
                        "desired": {"properties": des.get(sid, {}), "event_time": _compact()},
                        "reported": {"properties": rep.get(sid, {}), "event_time": _compact()},
                        "version": self._shadow_ver.get((target, sid), 0)})
        self._down(did, "shadow/get/response/request_id=" + rid,
                   {"object_device_id": target, "shadow": out})

    # ----- application side (what the console / API would do) -------------

    def _ask(self, device_id, kind, body, timeout):
        rid = str(uuid.uuid4())
        w = self._waiters[rid] = [threading.Event(), None]
        try:
            self._down(device_id, "%s/request_id=%s" % (kind, rid), body)
            if not w[0].wait(timeout):
                raise Timeout("%s to %s: no response in %g s" % (kind, device_id, timeout))
            return w[1]
        finally:
            self._waiters.pop(rid, None)

    def send_command(self, device_id, service_id, name, paras, timeout=CMD_TIMEOUT, target=None):
        """Send a command and return the device's response body (a dict)."""
        body = {"service_id": service_id, "command_name": name, "paras": paras}
        if target:
            body["object_device_id"] = target
        return self._ask(device_id, "commands", body, timeout)

    def set_properties(self, device_id, service_id, props, timeout=CMD_TIMEOUT, target=None):
        body = {"services": [{"service_id": service_id, "properties": props}]}
        if target:
            body["object_device_id"] = target
        return self._ask(device_id, "properties/set", body, timeout)

    def get_properties(self, device_id, service_id=None, timeout=CMD_TIMEOUT, target=None):
        body = {}
        if service_id:
            body["service_id"] = service_id
        if target:
            body["object_device_id"] = target
        return self._ask(device_id, "properties/get", body, timeout)

    def request(self, device_id, kind, payload, timeout=CMD_TIMEOUT):
        """Send any payload (bytes/str/dict) as a ``kind`` request ("commands",
        "properties/set", "properties/get") and wait for the response."""
        return self._ask(device_id, kind, payload, timeout)

    def send_message(self, device_id, payload):
        """messages/down: bytes/str go out raw, a dict as JSON."""
        self._down(device_id, "messages/down", payload)

    def send_event(self, device_id, service_id, event_type, paras=None, target=None):
        body = {"services": [{"service_id": service_id, "event_type": event_type,
                              "event_time": _compact(), "paras": paras or {}}]}
        if target:
            body["object_device_id"] = target
        self._down(device_id, "events/down", body)

    def query_version(self, device_id):
        self.send_event(device_id, "$ota", "version_query")

    def upgrade(self, device_id, version, url, file_size, sign, file_name="fw.bin",
                software=False, v2=False, access_token=None):
        et = ("software" if software else "firmware") + "_upgrade" + ("_v2" if v2 else "")
        p = {"version": version, "url": url, "file_size": file_size, "file_name": file_name,
             "sign": sign}
        if access_token and not v2:
            p["access_token"] = access_token
            p["expires"] = 86400
        self.send_event(device_id, "$ota", et, p)

    def offer_update(self, device_id, path, version=None, token=None, fault=None, firmware=False):
        """Serve the package at ``path`` (an .iotb app bundle, or with
        ``firmware`` an ESP32 image) from the package server and send the
        upgrade order: software_upgrade with an access_token, or the _v2
        event (pre-signed URL) without.  Returns (url, size, sha256)."""
        from . import files
        if self.files is None:
            self.files = files.Files(tls=self.tls, host=self.host).start()
        url, n, sha = self.files.offer_file(path, token=token, fault=fault)
        version = version or files.bundle_version(path)
        self.upgrade(device_id, version, url, n, sha, file_name=os.path.basename(path),
                     software=not firmware, v2=token is None, access_token=token)
        return url, n, sha

    def _maybe_offer(self, did, versions):
        if not self.auto_offer or did in self._offered:
            return
        from .files import bundle_version
        path, token = self.auto_offer
        if versions.get("sw_version") != bundle_version(path):
            self._offered.add(did)
            print("  cloud -> software_upgrade: %s (%s) to %s" % (os.path.basename(path), bundle_version(path), did),
                  flush=True)
            threading.Thread(target=self.offer_update, args=(did, path, None, token), daemon=True).start()

    def ota_outcome(self, device_id, since=0):
        """The last word on an update: a failure code, or 100 % (kept); None while under way."""
        for s in self.events_up(device_id, "upgrade_progress_report")[since:]:
            p = s.get("paras") or {}
            if p.get("result_code") not in (0, None):
                return "update failed, result_code %s: %s (running %s)" % (
                    p["result_code"], p.get("description"), p.get("version"))
            if p.get("progress") == 100:
                return "update kept: %s running" % p.get("version")
        return None

    def stop(self):
        if self.files:
            self.files.stop()
        MqttSim.stop(self)

    def set_desired(self, device_id, service_id, props):
        self.desired.setdefault(device_id, {}).setdefault(service_id, {}).update(props)
        k = (device_id, service_id)
        self._shadow_ver[k] = self._shadow_ver.get(k, 0) + 1

    def wait_uplink(self, device_id, rest, timeout=10, since=0):
        """The first uplink (index >= since) of ``device_id`` whose topic part after
        ``sys/`` starts with ``rest``: (index, payload bytes).  Raises Timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(since, len(self.uplinks)):
                    d, r, p = self.uplinks[i]
                    if d == device_id and r.startswith(rest):
                        return i, p
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout("no %s from %s in %g s" % (rest, device_id, timeout))
                self._cond.wait(left)

    def events_up(self, device_id, event_type):
        """Parsed events/up service entries of ``event_type`` seen so far."""
        out = []
        for d, r, p in list(self.uplinks):
            if d == device_id and r == "events/up":
                try:
                    body = json.loads(p)
                except ValueError:
                    continue
                out += [s for s in body.get("services") or () if s.get("event_type") == event_type]
        return out


# ----- command line ----------------------------------------------------------

_HELP = """commands (a JSON argument is the rest of the line):
  command DEVICE SERVICE NAME {"paras":..}   send a command, wait 20 s for the response
  set DEVICE SERVICE {"prop": value}          property set
  get DEVICE [SERVICE]                        property get
  message DEVICE TEXT                         messages/down (raw text)
  version DEVICE                              OTA version_query
  upgrade DEVICE VERSION URL SIZE SHA256      OTA firmware_upgrade_v2
  offer DEVICE FILE                           serve an .iotb bundle and send software_upgrade_v2
  desired DEVICE SERVICE {"prop": value}      set shadow desired values
  shadow                                      show reported properties and versions
  tunnel DEVICE [SECONDS]                     open a secure tunnel (tunnel_notify) and
                                              print the `iotlink tunnel` command for it
  quit"""


def _cli_line(sim, line):
    w = line.split(None, 3)
    cmd, args = w[0], w[1:]
    if cmd == "command":
        did, svc, rest = args[0], args[1], args[2]
        name, _, paras = rest.partition(" ")
        return sim.send_command(did, svc, name, json.loads(paras or "{}"))
    if cmd == "set":
        return sim.set_properties(args[0], args[1], json.loads(args[2]))
    if cmd == "get":
        return sim.get_properties(args[0], args[1] if len(args) > 1 else None)
    if cmd == "message":
        sim.send_message(args[0], line.split(None, 2)[2])
        return "sent"
    if cmd == "version":
        sim.query_version(args[0])
        return "sent"
    if cmd == "upgrade":
        w = line.split()
        sim.upgrade(w[1], w[2], w[3], int(w[4]), w[5], v2=True)
        return "sent"
    if cmd == "offer":
        url, n, sha = sim.offer_update(args[0], args[1])
        return {"url": url, "file_size": n, "sign": sha}
    if cmd == "desired":
        sim.set_desired(args[0], args[1], json.loads(args[2]))
        return "ok"
    if cmd == "shadow":
        return {"reported": sim.reported, "versions": sim.versions}
    if cmd == "tunnel":
        t = sim.open_tunnel(args[0], int(args[1]) if len(args) > 1 else 600)
        return ("tunnel %s open; the user's end:\n  .venv/bin/iotlink tunnel --uri %s --token %s --ca %s"
                % (t.id, sim.https.tunnel_uri(t), t.source_token, sim.tls["ca"]))
    return _HELP


class Sim(LocalIoTDA):
    """The local IoTDA with `iotlink run`'s operator: TLS with a local CA."""

    DEMO_DEVICE = "demo_product_demo-board"

    @classmethod
    def demo(cls, workdir, port=0):
        ca = certs.make_ca(os.path.join(workdir, "ca"))
        sim = cls({cls.DEMO_DEVICE: "demo-secret-0001"}, tls=ca, port=port).start()
        print("local IoTDA: MQTTS on 127.0.0.1:%d (MQTT %d), device %s"
              % (sim.tls_port, sim.port, cls.DEMO_DEVICE), flush=True)
        common.follow(sim.uplinks, lambda u: None if "/response/" in u[1] else "%s %s" % (u[1], common.text(u[2])))
        return sim

    def run_config(self):
        return self.config(self.DEMO_DEVICE, tls=True, keepalive=60)

    def wait_online(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.versions.get(self.DEMO_DEVICE) is not None or self.uplinks:
                return
            time.sleep(0.2)
        raise TimeoutError("the board did not come online")

    def _show(self, what, r):
        print("  cloud <- %s: %s" % (what, json.dumps(r)), flush=True)
        return r

    def demo_command(self, name, params):
        print("  cloud -> command %s %s" % (name, json.dumps(params)), flush=True)
        return self._show("command response", self.send_command(self.DEMO_DEVICE, "default", name, params))

    def demo_set(self, props):
        print("  cloud -> properties set %s" % json.dumps(props), flush=True)
        return self._show("set response", self.set_properties(self.DEMO_DEVICE, "default", props))

    def demo_get(self, names):
        print("  cloud -> properties get", flush=True)
        return self._show("get response", self.get_properties(self.DEMO_DEVICE, "default"))

    def demo_steps(self):
        return common.operator_steps(self)

    def demo_ota(self, cfg, bundle):
        """`iotlink run --ota`: the board starts at sw_version 1.0.0 and is offered ``bundle``."""
        cfg["cloud"]["sw_version"] = "1.0.0"
        cfg.setdefault("app", {})["ota"] = {"good_s": 5, "trial_s": 60, "ca": self.tls["ca"]}
        self.auto_offer = (bundle, uuid.uuid4().hex[:16])
        return cfg

    def demo_outcome(self):
        return self.ota_outcome(self.DEMO_DEVICE)


def main(argv=None):
    """Serve until Ctrl-C, SIGTERM or "quit": prints what a device needs to connect."""
    ap = common.parser("iotda", "A local Huawei Cloud IoTDA (MQTT device side).", port=11883, tls_port=18883)
    ap.add_argument("--device", action="append", default=[], metavar="ID:SECRET",
                    help="register a device (repeatable); default: one made up")
    ap.add_argument("--bootstrap-address", help="answer bootstrap/up with this host:port")
    ap.add_argument("--https-port", type=int, default=0,
                    help="port of the HTTPS device API, object store and tunnels (0 = any free)")
    ap.add_argument("--ota", metavar="BUNDLE", help="offer this .iotb app bundle (software_upgrade) to "
                    "every device that reports another sw_version")
    args = ap.parse_args(argv)
    devices = {}
    for d in args.device:
        did, _, secret = d.partition(":")
        if not secret:
            ap.error("--device wants ID:SECRET")
        devices[did] = secret
    if not devices:
        devices["iotlink_dev01"] = uuid.uuid4().hex[:16]
    tls = certs.make_ca(args.dir)
    der = certs.pem_to_der(tls["ca"], os.path.join(args.dir, "ca.der"))
    sim = Sim(devices, tls=tls, host=args.host, port=args.port, tls_port=args.tls_port,
              bootstrap_address=args.bootstrap_address)
    if args.ota:
        if common.offer("iotda", args.ota) is None:
            return 2
        sim.auto_offer = (args.ota, uuid.uuid4().hex[:16])

    def show():
        https = sim.start_https(args.https_port)
        print("local IoTDA: mqtt://%s:%d  mqtts://%s:%d  https://%s:%d (device API, files, tunnels)"
              % (args.host, sim.port, args.host, sim.tls_port, args.host, https.port))
        print("CA for the device: %s (DER: %s)" % (tls["ca"], der))
        for did in devices:
            print("config.json for %s:" % did)
            c = sim.config(did)
            if args.ota:
                c["cloud"]["sw_version"] = "1.0.0"
                c["app"] = {"ota": {"ca": tls["ca"]}}
            print(json.dumps(c, indent=1))
            print("or, for the HTTPS device API:")
            print(json.dumps(sim.https_config(did), indent=1))
        print(_HELP)

    def handle(line):
        try:
            return _cli_line(sim, line)
        except Timeout as e:
            return "timeout: %s" % e
    return common.serve("iotlink sim iotda", sim, (args.port, args.tls_port), args.host, show, handle, _HELP)


if __name__ == "__main__":
    sys.exit(main())
