"""A local ThingsCloud: the device MQTT access point and the project HTTP API
on one device registry, for tests and offline work.

MQTT: real mosquitto behind ``mqtt_front``, which checks what ThingsCloud
checks at the door and keeps devices apart:

* username = a registered device's AccessToken and password = the project's
  ProjectKey, else CONNACK 4 (the real platform's code for each case is not
  documented); one live link per AccessToken (a newer one closes the older);
* the device uses ThingsCloud's relative topics (``attributes``,
  ``command/send/+`` ...); the front maps them to ``tc/up/<device id>/...``
  and ``tc/dn/<device id>/...`` on the broker, so devices never see each
  other's traffic;
* only ThingsCloud's device topics are allowed: others are refused (SUBACK
  0x80, or the link closed for a publish); ``#`` is refused (unverified on the
  real platform: subscribe explicitly);
* optional flow control: more than ``rate_limit`` = (messages, seconds) from
  one device closes its link (the free plan's limit is not published); off
  unless asked for, so a device's report rate measures the device.  The
  broker runs with TCP_NODELAY: a report's PUBACK and its attributes/response
  leave at once instead of the second waiting ~40 ms for a delayed ACK.

Behind the door a platform client acks ``attributes`` (attributes/response),
answers attribute gets, keeps events, custom data, command replies and
gateway sub-device attributes, and sends attribute pushes and commands.

HTTP: the project API of the seed (``/api/v1/...``: tokens with 1 day / 7 day
lifetimes on the sim's ``clock``, devices, attributes and their history,
control, alarms, customers, admin) and the device certificate endpoint
(``/device/v1/certificate`` with ``Project-Key``), stdlib http.server in a
thread.  Error envelopes as the seed documents them; an unknown or expired
API token gets HTTP 401 with errcode 401 (the real code is undocumented).

Needs paho-mqtt on the host.
"""

import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .. import certs
from . import common
from .base import MqttSim

DAY = 86400
SERIES_SPAN_MS = 30 * DAY * 1000
_LEVEL = r"[^/+#]+"
_IDL = r"(?:[^/+#]+|\+)"
_PUB = re.compile(r"^(attributes|attributes/series|attributes/get/%s|command/reply/%s|event/report/%s|"
                  r"data/[A-Za-z0-9_-]+|gateway/(attributes|attributes/series|connect|disconnect|"
                  r"command/reply))$" % (_LEVEL, _LEVEL, _LEVEL))
_SUB = re.compile(r"^(attributes/push|attributes/response|attributes/series/response|"
                  r"attributes/get/response/%s|command/send/%s|command/reply/response/%s|"
                  r"event/response/%s|data/[A-Za-z0-9_-]+/set|gateway/(attributes/push|command/send|"
                  r"attributes/response|attributes/get/response|event/response))$"
                  % (_IDL, _IDL, _IDL, _IDL))


class Timeout(Exception):
    """The device did not answer in time."""


def _ms():
    return int(time.time() * 1000)


def _hex(n):
    return secrets.token_hex(n)


class Sim(MqttSim):
    """``Sim(workdir).start()``; ``tls``: a certs.make_ca() dict (default: a CA
    made in ``workdir``).  ``clock``: Unix seconds for API token lifetimes
    (tests move it)."""

    def __init__(self, workdir=None, tls=None, host="127.0.0.1", port=0, tls_port=0, http_port=0,
                 page_size=20, clock=time.time, rate_limit=None, project_key=None):
        self.workdir = workdir or os.path.join(".sim", "thingscloud")
        self.tls = tls
        self.host = host
        self._ports = (port, tls_port, http_port)
        self.page_size = page_size
        self.clock = clock
        self.rate_limit = rate_limit
        self.project_key = project_key or _hex(5)
        self.project = {"id": "p" + _hex(6), "name": "local project", "descr": "iotlink local ThingsCloud",
                        "tags": {}}
        self.devices = {}      # id -> record (see add_device)
        self.types = {}        # id -> record
        self.groups = []       # tree: dicts with "children"
        self.customers = {}
        self.alarms = []
        self.apps = {}         # app_id -> (access_key, secret_key)
        self.admins = {}       # account -> record with "password"
        self.tokens = {}       # API token -> (expires, kind, account)
        self.uplinks = []      # (device id, relative topic, payload bytes)
        self.events = {}       # device id -> [body]
        self.data = {}         # device id -> [(identifier, bytes)]
        self.replies = {}      # (device id, command id) -> reply body
        self.children = {}     # gateway id -> {address: {"attributes": {}, "online": bool}}
        self.kicked = []       # device ids closed by flow control
        self.cert_calls = 0    # POST /device/v1/certificate requests seen
        self._rate = {}
        self._cond = threading.Condition()
        self._lock = threading.RLock()
        self.mosq = self.front = self.client = self.http = None
        self.demo = None
        self.files = None          # the package server, started by the first offer
        self.auto_offer = None     # bundle path offered to every device reporting another version
        self._offered = set()

    # ----- lifecycle -------------------------------------------------------

    def start(self):
        if self.tls is None:
            os.makedirs(self.workdir, exist_ok=True)
            self.tls = certs.make_ca(os.path.join(self.workdir, "ca"))
            self.tls["ca_der"] = certs.pem_to_der(self.tls["ca"], os.path.join(self.workdir, "ca", "ca.der"))
        self._start_mqtt(platform_filter="tc/up/#", name="tc-platform", rewrite=self._rewrite)
        self.http = ThreadingHTTPServer((self.host, self._ports[2]), _handler(self))
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        if not self.apps:
            self.apps["app_demo"] = ("ak_" + _hex(8), "sk_" + _hex(12))
            self.admins["admin"] = {"id": "a" + _hex(6), "account": "admin", "name": "Admin",
                                    "email": "admin@example.invalid", "tags": {}, "password": _hex(6)}
            t = self.add_type("sensor", type_key="tk_" + _hex(6), auto_register=True)
            self.add_type("gateway", conn_type="3")
            g = {"id": "g" + _hex(5), "name": "site", "descr": "", "tags": {}, "create_time": _ms(),
                 "children": [{"id": "g" + _hex(5), "name": "floor 1", "descr": "", "tags": {}}]}
            self.groups.append(g)
            self.demo = self.add_device("demo", type=t["id"], device_key="demo-board")
        return self

    def stop(self):
        if self.http:
            self.http.shutdown()
            self.http.server_close()
        if self.files:
            self.files.stop()
        MqttSim.stop(self)

    # ----- OTA: the package server and the otaUpgrade command -------------

    def offer_update(self, device_id, path, version=None, fault=None, firmware=False):
        """Serve the package at ``path`` and send ``otaUpgrade`` {upgrade, url,
        version, sha256, size} (``"type": "firmware"`` for an ESP32 image);
        returns the command id (``wait_reply``)."""
        from . import files
        if self.files is None:
            self.files = files.Files(tls=self.tls, host=self.host).start()
        url, n, sha = self.files.offer_file(path, fault=fault)
        p = {"upgrade": True, "url": url, "version": version or files.bundle_version(path),
             "sha256": sha, "size": n}
        if firmware:
            p["type"] = "firmware"
        return self.send_command(device_id, "otaUpgrade", p)

    def _maybe_offer(self, did, attrs):
        if not self.auto_offer or did in self._offered or "version" not in attrs:
            return
        from .files import bundle_version
        if attrs["version"] != bundle_version(self.auto_offer):
            self._offered.add(did)
            print("  cloud -> command otaUpgrade: %s (%s) to %s" % (os.path.basename(self.auto_offer), bundle_version(self.auto_offer), did),
                  flush=True)
            threading.Thread(target=self.offer_update, args=(did, self.auto_offer), daemon=True).start()

    def ota_outcome(self, device_id, since=0):
        """How the last update ended (the otaResult event, or a failed
        otaUpgrade reply); None while under way."""
        for (did, _), body in list(self.replies.items()):
            p = body.get("params") if isinstance(body, dict) else None
            if did == device_id and body.get("method") == "otaUpgrade" and isinstance(p, dict) \
                    and p.get("ota_result"):
                return "update failed, ota_result %s: %s" % (p["ota_result"], p.get("error"))
        for e in self.events.get(device_id, [])[since:]:
            if e.get("method") == "otaResult":
                p = e.get("params") or {}
                if p.get("ota_result") == 0:
                    return "update kept: %s running" % p.get("version")
                return "update failed, ota_result %s: %s (running %s)" % (
                    p.get("ota_result"), p.get("error"), p.get("version"))
        return None

    @property
    def api_url(self):
        return "http://%s:%d" % (self.host, self.http.server_address[1])

    # ----- registry --------------------------------------------------------

    def add_type(self, name, conn_type="1", type_key=None, auto_register=False):
        t = {"id": "t" + _hex(6), "name": name, "descr": "", "tags": {}, "create_time": _ms(),
             "conn_protocol": "mqtt", "conn_type": conn_type, "type_key": type_key,
             "auto_register": auto_register}
        self.types[t["id"]] = t
        return t

    def add_device(self, name, type=None, device_key=None, descr="", tags=None, group=None):
        with self._lock:
            did = "d" + _hex(6)
            d = {"id": did, "name": name, "descr": descr, "device_key": device_key or did,
                 "tags": dict(tags or {}), "create_time": _ms(), "alarm": {}, "active": {},
                 "type": type, "group": group, "view_token": _hex(8), "device_code": _hex(4),
                 "access_token": _hex(8), "attributes": {}, "history": {}}
            self.devices[did] = d
            return d

    def device_by_key(self, key):
        for d in self.devices.values():
            if d["device_key"] == key:
                return d
        return None

    def public(self, d, full=False):
        t = self.types.get(d["type"]) or {}
        out = {k: d[k] for k in ("id", "name", "descr", "device_key", "tags", "create_time", "alarm",
                                 "active", "type")}
        out["online"] = d["id"] in self.front.live
        out["type_info"] = {k: t.get(k) for k in ("id", "name", "conn_type", "conn_protocol")}
        if full:
            out["view_token"], out["device_code"] = d["view_token"], d["device_code"]
        return out

    def config(self, device_id=None, tls=False, **extra):
        """A device config.json dict for a registered device."""
        d = self.devices[device_id or self.demo["id"]]
        c = {"type": "thingscloud", "host": self.host, "access_token": d["access_token"],
             "project_key": self.project_key, "tls": tls, "port": self.tls_port if tls else self.port}
        if tls:
            c["ca"] = self.tls.get("ca_der") or self.tls["ca"]
        c.update(extra)
        return {"cloud": c, "session": {"backoff_min_ms": 500, "backoff_max_ms": 5000}}

    def demo_config(self, tls=False):
        return self.config(self.demo["id"], tls)

    # ----- `iotlink run`: MQTT over verified TLS plus the project API -------

    @classmethod
    def demo(cls, workdir, port=0):
        sim = cls(workdir, port=port).start()
        print("local ThingsCloud: MQTTS on 127.0.0.1:%d, project API %s" % (sim.tls_port, sim.api_url), flush=True)
        common.follow(sim.uplinks, lambda u: "%s %s" % (u[1], common.text(u[2])))
        return sim

    def run_config(self):
        return self.demo_config(tls=True)

    def wait_online(self, timeout):
        self.wait_uplink(self.demo["id"], "attributes", timeout=timeout)

    def demo_command(self, name, params):
        print("  cloud -> command/send %s %s" % (name, json.dumps(params)), flush=True)
        return self.command(name, params)

    def demo_set(self, props):
        print("  cloud -> attributes/push %s" % json.dumps(props), flush=True)
        self.push(self.demo["id"], props)

    def demo_get(self, names):
        print("  (ThingsCloud has no platform-initiated attribute get)", flush=True)

    def demo_steps(self):
        return common.operator_steps(self)

    def demo_ota(self, cfg, bundle):
        """`iotlink run --ota`: the board starts at version 1.0.0 and is offered ``bundle``."""
        cfg["cloud"]["version"] = "1.0.0"
        cfg.setdefault("app", {})["ota"] = {"good_s": 5, "trial_s": 60, "ca": self.tls["ca"]}
        self.auto_offer = bundle
        return cfg

    def demo_outcome(self):
        return self.ota_outcome(self.demo["id"])

    def add_alarm(self, device_id, level=1, info=None):
        d = self.devices[device_id]
        a = {"id": "al" + _hex(5), "device_id": device_id, "alarm_status": 1, "alarm_level": level,
             "alarm_info": info or {}, "create_time": _ms(), "notify_logs": [],
             "device": {"id": device_id, "name": d["name"]}}
        self.alarms.append(a)
        d["alarm"] = {"status": 1, "level": level}
        return a

    # ----- the door --------------------------------------------------------

    def _check(self, info):
        with self._lock:
            d = next((x for x in self.devices.values() if x["access_token"] == info["username"]), None)
        if d is None or info["password"] != self.project_key.encode():
            return 4
        info["key"] = d["id"]
        return 0

    def _acl(self, info, topic, action):
        return bool((_PUB if action == "pub" else _SUB).match(topic))

    def _rewrite(self, info, topic, way):
        did = info["key"].encode()
        if way == "pub":
            return b"tc/up/" + did + b"/" + topic
        if way == "sub":
            return b"tc/dn/" + did + b"/" + topic
        pre = b"tc/dn/" + did + b"/"
        return topic[len(pre):] if topic.startswith(pre) else topic

    # ----- the platform ----------------------------------------------------

    def down(self, device_id, topic, body):
        """Publish ``body`` (dict/list as JSON, str/bytes raw) to a device's relative topic."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.client.publish("tc/dn/%s/%s" % (device_id, topic), body, qos=1)

    def _limited(self, did):
        if not self.rate_limit:
            return False
        n, window = self.rate_limit
        now = time.monotonic()
        ts = [t for t in self._rate.get(did, ()) if now - t < window] + [now]
        self._rate[did] = ts
        if len(ts) > n:
            self._rate[did] = []
            self.kicked.append(did)
            self.front.kick(did)
            return True
        return False

    def _on_up(self, topic, payload):
        parts = topic.split("/", 3)
        if len(parts) < 4:
            return
        did, rest = parts[2], parts[3]
        d = self.devices.get(did)
        if d is None:
            return
        with self._cond:
            self.uplinks.append((did, rest, payload))
            self._cond.notify_all()
        if self._limited(did):
            return
        d["active"]["last"] = _ms()
        try:
            body = json.loads(payload) if payload and not rest.startswith("data/") else {}
        except ValueError:
            body = None
        if rest == "attributes":
            if isinstance(body, dict):
                self.store(did, body)
                self._maybe_offer(did, body)
                self.down(did, "attributes/response", {"result": 1, "message": "success"})
            else:
                self.down(did, "attributes/response", {"result": 0, "message": "invalid attributes"})
        elif rest.startswith("attributes/get/"):
            rid = rest[15:]
            if not isinstance(body, dict):
                self.down(did, "attributes/get/response/" + rid, {"result": 0, "message": "invalid JSON"})
                return
            keys = body.get("keys")
            vals = {k: a["value"] for k, a in d["attributes"].items()
                    if not isinstance(keys, list) or k in keys}
            self.down(did, "attributes/get/response/" + rid, {"result": 1, "attributes": vals})
        elif rest.startswith("command/reply/"):
            rid = rest[14:]
            if isinstance(body, dict):
                with self._cond:
                    self.replies[(did, str(body.get("id", rid)))] = body
                    self._cond.notify_all()
            self.down(did, "command/reply/response/" + rid, {"result": 1})
        elif rest.startswith("event/report/"):
            if isinstance(body, dict):
                self.events.setdefault(did, []).append(body)
            self.down(did, "event/response/" + rest[13:], {"result": int(isinstance(body, dict))})
        elif rest.startswith("data/"):
            self.data.setdefault(did, []).append((rest[5:], payload))
        elif rest == "gateway/attributes" and isinstance(body, dict):
            kids = self.children.setdefault(did, {})
            for addr, attrs in body.items():
                if isinstance(attrs, dict):
                    kids.setdefault(addr, {"attributes": {}, "online": False})["attributes"].update(attrs)
            self.down(did, "gateway/attributes/response", {"result": 1})
        elif rest in ("gateway/connect", "gateway/disconnect") and isinstance(body, dict):
            addr = body.get("device")
            if isinstance(addr, str):
                kids = self.children.setdefault(did, {})
                kids.setdefault(addr, {"attributes": {}, "online": False})["online"] = rest.endswith("/connect")
        elif rest == "gateway/command/reply" and isinstance(body, dict):
            cmd = body.get("command") or {}
            with self._cond:
                self.replies[(did, str(cmd.get("id")))] = body
                self._cond.notify_all()

    def store(self, did, attrs, attr_type="report"):
        ts = _ms()
        d = self.devices[did]
        with self._lock:
            for k, v in attrs.items():
                d["attributes"][k] = {"value": v, "ts": ts, "attr_type": attr_type}
                d["history"].setdefault(k, []).append((ts, v))

    # ----- application side ------------------------------------------------

    def push(self, device_id, attrs):
        self.down(device_id, "attributes/push", attrs)

    def send_command(self, device_id, method, params=None, id=None, target=None):
        """Send a command; returns the id to wait on."""
        id = id if id is not None else int(time.time() * 1000) % 100000000
        cmd = {"method": method, "params": params if params is not None else {}, "id": id}
        if target:
            self.down(device_id, "gateway/command/send", {"device": target, "command": cmd})
        else:
            self.down(device_id, "command/send/%s" % id, cmd)
        return id

    def wait_reply(self, device_id, id, timeout=20):
        end = time.monotonic() + timeout
        with self._cond:
            while (device_id, str(id)) not in self.replies:
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout("no reply to command %s from %s in %g s" % (id, device_id, timeout))
                self._cond.wait(left)
            return self.replies[(device_id, str(id))]

    def command(self, name, params=None, timeout=20, device_id=None, target=None):
        """Send a command to the demo device (or ``device_id``) and return its reply."""
        did = device_id or self.demo["id"]
        return self.wait_reply(did, self.send_command(did, name, params, target=target), timeout)

    def wait_uplink(self, device_id, rest, timeout=10, since=0):
        """(index, payload) of the first uplink from index ``since`` whose relative topic starts with ``rest``."""
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

    # ----- HTTP API --------------------------------------------------------

    def api(self, method, path, query, headers, raw):
        """(status, reply dict) for one HTTP request."""
        if path == "/device/v1/certificate" and method == "POST":
            return 200, self._certificate(headers, raw)
        for m, pattern, fn, auth in _ROUTES:
            if m != method:
                continue
            hit = re.match(pattern + "$", path)
            if not hit:
                continue
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return 404, {"result": False, "message": "Invalid JSON message", "errcode": 400}
            kind = None
            if auth:
                tok = headers.get("Authorization", "")[7:] if headers.get("Authorization", "").startswith("Bearer ") else ""
                t = self.tokens.get(tok)
                if t is None or self.clock() >= t[0]:
                    return 401, {"result": False, "errcode": 401, "message": "access token invalid or expired",
                                 "errors": []}
                kind = t
            args = [unquote(g) for g in hit.groups()]
            try:
                with self._lock:
                    info = getattr(self, "_api_" + fn)(*args, body=body, query=query, token=kind)
            except _Fail as e:
                return 200, {"result": False, "errcode": e.code, "message": e.message, "errors": []}
            return 200, {"result": True, "info": info}
        return 404, {"message": "Request invalid"}

    def _certificate(self, headers, raw):
        self.cert_calls += 1
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {"result": 0, "message": "Invalid JSON message"}
        if headers.get("Project-Key") != self.project_key:
            return {"result": 0, "message": "project key invalid"}
        key = body.get("device_key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            return {"result": 0, "message": "device_key required"}
        with self._lock:
            d = self.device_by_key(key)
            if d is None:
                t = next((t for t in self.types.values()
                          if body.get("type_key") and t["type_key"] == body.get("type_key")), None)
                if t is None or not t["auto_register"]:
                    return {"result": 0, "message": "device not found"}
                d = self.add_device(key, type=t["id"], device_key=key)
        t = self.types.get(d["type"]) or {}
        return {"result": 1, "message": "success",
                "device": {"id": d["id"], "name": d["name"], "access_token": d["access_token"],
                           "conn_type": t.get("conn_type", "1")}}

    def _dev(self, did):
        d = self.devices.get(did)
        if d is None:
            raise _Fail(40401, "device not found")
        return d

    def _obj(self, body, *required):
        if not isinstance(body, dict):
            raise _Fail(40001, "request body must be a JSON object")
        for k in required:
            if not body.get(k):
                raise _Fail(40002, "%s required" % k)
        return body

    def _login(self, kind, account, life):
        tok = _hex(16)
        self.tokens[tok] = (self.clock() + life, kind, account)
        return {"access_token": tok}

    def _api_access_token(self, body, **_):
        b = self._obj(body, "app_id", "access_key", "secret_key")
        if self.apps.get(b["app_id"]) != (b["access_key"], b["secret_key"]):
            raise _Fail(40101, "app_id or keys invalid")
        return self._login("app", None, DAY)

    def _api_admin_login(self, body, **_):
        b = self._obj(body, "app_id", "account", "password")
        a = self.admins.get(b["account"])
        if b["app_id"] not in self.apps or a is None or a["password"] != b["password"]:
            raise _Fail(40102, "account or password invalid")
        return self._login("admin", a["account"], 7 * DAY)

    def _api_project(self, **_):
        return self.project

    def _api_devices_stat(self, **_):
        n = len(self.devices)
        on = sum(1 for d in self.devices if d in self.front.live)
        act = sum(1 for d in self.devices.values() if d["active"])
        return {"device_total": n, "online_device_total": on, "offline_device_total": n - on,
                "active_device_total": act, "inactive_device_total": n - act,
                "alarm_device_total": sum(1 for d in self.devices.values() if d["alarm"])}

    def _api_devices_alarm_stat(self, **_):
        lv = [d["alarm"].get("level") for d in self.devices.values()]
        return {"device_total": len(lv), "alarm_1_total": lv.count(1), "alarm_2_total": lv.count(2),
                "alarm_3_total": lv.count(3), "normal_total": lv.count(None)}

    def _api_device_types(self, **_):
        out = []
        for t in self.types.values():
            x = {k: t[k] for k in ("id", "name", "descr", "tags", "create_time", "conn_protocol", "conn_type")}
            x["device_count"] = sum(1 for d in self.devices.values() if d["type"] == t["id"])
            out.append(x)
        return {"items": out}

    def _api_device_groups_tree(self, **_):
        return {"items": self.groups}

    def _api_devices(self, query, **_):
        items = list(self.devices.values())
        if query.get("type"):
            items = [d for d in items if d["type"] == query["type"]]
        if query.get("group"):
            items = [d for d in items if d["group"] == query["group"]]
        page = _int(query.get("page"), 1)
        n = self.page_size
        total = len(items)
        return {"items": [self.public(d) for d in items[(page - 1) * n:page * n]], "total": total,
                "page_total": max(1, (total + n - 1) // n)}

    def _api_device(self, did, **_):
        return self.public(self._dev(did), full=True)

    def _api_device_certificate(self, did, **_):
        d = self._dev(did)
        return {"id": d["id"], "name": d["name"], "access_token": d["access_token"],
                "project_key": self.project_key}

    def _api_update_device(self, did, body, **_):
        d = self._dev(did)
        b = self._obj(body)
        for k in ("name", "descr", "device_key"):
            if isinstance(b.get(k), str):
                d[k] = b[k]
        return {}

    def _api_set_device_tags(self, did, body, **_):
        t = self._obj(body, "tags")["tags"]
        if not isinstance(t, dict):
            raise _Fail(40003, "tags must be an object")
        self._dev(did)["tags"].update(t)
        return {}

    def _api_remove_device_tags(self, did, body, **_):
        d = self._dev(did)
        for k in self._obj(body, "keys")["keys"]:
            d["tags"].pop(k, None)
        return {}

    def _api_delete_device(self, did, **_):
        self._dev(did)
        del self.devices[did]
        self.front.kick(did)
        return {}

    def _api_create_device(self, body, **_):
        b = self._obj(body, "name")
        if b.get("type") and b["type"] not in self.types:
            raise _Fail(40402, "device type not found")
        if b.get("device_key") and self.device_by_key(b["device_key"]):
            raise _Fail(40901, "device_key already used")
        d = self.add_device(b["name"], b.get("type"), b.get("device_key"), b.get("descr") or "", b.get("tags"))
        return {"id": d["id"], "name": d["name"]}

    def _api_attributes(self, did, **_):
        return [{"identifier": k, "value": a["value"], "attr_type": a["attr_type"],
                 "data_type": type(a["value"]).__name__, "ts": a["ts"],
                 "model": {"name": k, "attr_type": a["attr_type"], "data_type": type(a["value"]).__name__,
                           "data_options": {}}}
                for k, a in sorted(self._dev(did)["attributes"].items())]

    def _api_attribute_series(self, did, ident, query, **_):
        hist = self._dev(did)["history"].get(ident, [])
        page, per = _int(query.get("page"), 1), _int(query.get("page_records"), 20)
        if not 1 <= per <= 100:
            raise _Fail(40004, "page_records must be 1..100")
        if page < 1:
            raise _Fail(40005, "page must be 1 or more")
        start, end = query.get("start_time"), query.get("end_time")
        rows = sorted(hist, reverse=True)
        if start is not None and end is not None:
            start, end = _int(start, 0), _int(end, 0)
            if not 0 <= end - start <= SERIES_SPAN_MS:
                raise _Fail(40006, "time range must be within 30 days")
            rows = [r for r in rows if start <= r[0] <= end]
        rows = rows[(page - 1) * per:page * per]
        return [{"ts": ts, "name": ident, "value": v, "type": type(v).__name__} for ts, v in rows]

    def _api_remove_attributes(self, did, body, **_):
        d = self._dev(did)
        for k in self._obj(body, "keys")["keys"]:
            d["attributes"].pop(k, None)
            d["history"].pop(k, None)
        return {}

    def _api_push_attributes(self, did, body, **_):
        self._dev(did)
        self.push(did, self._obj(body))
        return {}

    def _api_update_cloud_attributes(self, did, body, **_):
        self._dev(did)
        self.store(did, self._obj(body), "cloud")
        return {}

    def _api_send_command(self, did, body, **_):
        self._dev(did)
        b = self._obj(body, "method")
        if not isinstance(b["method"], str) or ("id" in b and not isinstance(b["id"], int)):
            raise _Fail(40007, "method must be a string and id a number")
        p = b.get("params") if b.get("params") is not None else {}
        self.send_command(did, b["method"], p, b.get("id"))
        return {}

    def _api_alarm_logs(self, **_):
        return {"items": list(self.alarms)}

    def _api_device_alarm_logs(self, did, **_):
        self._dev(did)
        return {"items": [a for a in self.alarms if a["device_id"] == did]}

    def _cust(self, cid):
        c = self.customers.get(cid)
        if c is None:
            raise _Fail(40403, "customer not found")
        return c

    def _cust_public(self, c):
        out = {k: v for k, v in c.items() if k != "password"}
        out["count"] = {"device_count": 0}
        return out

    def _api_customers(self, **_):
        return {"items": [self._cust_public(c) for c in self.customers.values()]}

    def _api_customer(self, cid, **_):
        return self._cust_public(self._cust(cid))

    def _api_create_customer(self, body, **_):
        b = self._obj(body, "name", "account", "password")
        if any(c["account"] == b["account"] for c in self.customers.values()):
            raise _Fail(40902, "account already exists")
        c = {"id": "c" + _hex(6), "account": b["account"], "name": b["name"], "descr": b.get("descr", ""),
             "email": b.get("email", ""), "mobile": b.get("mobile", ""), "tags": b.get("tags") or {},
             "locale": "zh-CN", "create_time": _ms(), "password": b["password"]}
        self.customers[c["id"]] = c
        return {"id": c["id"], "name": c["name"]}

    def _api_update_customer(self, cid, body, **_):
        c = self._cust(cid)
        b = self._obj(body)
        fields = [k for k in ("name", "descr", "email", "mobile") if isinstance(b.get(k), str)]
        if not fields:
            raise _Fail(40008, "at least one of name, descr, email, mobile")
        for k in fields:
            c[k] = b[k]
        return {}

    def _api_set_customer_password(self, cid, body, **_):
        self._cust(cid)["password"] = self._obj(body, "password")["password"]
        return {}

    def _api_set_customer_tags(self, cid, body, **_):
        t = self._obj(body, "tags")["tags"]
        if not isinstance(t, dict):
            raise _Fail(40003, "tags must be an object")
        self._cust(cid)["tags"].update(t)
        return {}

    def _api_delete_customer(self, cid, **_):
        self._cust(cid)
        del self.customers[cid]
        return {}

    def _api_admin(self, token, **_):
        if token[1] != "admin":
            raise _Fail(40301, "only for admin log-ins")
        a = self.admins[token[2]]
        return {k: a[k] for k in ("id", "account", "name", "email", "tags")}


class _Fail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _int(v, default):
    try:
        return int(v) if v is not None else default
    except ValueError:
        raise _Fail(40009, "not a number: %s" % v)


_ID = r"/([^/]+)"
_ROUTES = [
    ("POST", "/api/v1/access_token", "access_token", False),
    ("POST", "/api/v1/admin_login", "admin_login", False),
    ("GET", "/api/v1/project", "project", True),
    ("GET", "/api/v1/devices_stat", "devices_stat", True),
    ("GET", "/api/v1/devices_alarm_stat", "devices_alarm_stat", True),
    ("GET", "/api/v1/device_types", "device_types", True),
    ("GET", "/api/v1/device_groups_tree", "device_groups_tree", True),
    ("GET", "/api/v1/devices", "devices", True),
    ("GET", "/api/v1/device" + _ID, "device", True),
    ("GET", "/api/v1/device" + _ID + "/certificate", "device_certificate", True),
    ("PUT", "/api/v1/device" + _ID + "/info", "update_device", True),
    ("PUT", "/api/v1/device" + _ID + "/tags", "set_device_tags", True),
    ("POST", "/api/v1/device" + _ID + "/tags_remove", "remove_device_tags", True),
    ("DELETE", "/api/v1/device" + _ID, "delete_device", True),
    ("POST", "/api/v1/device", "create_device", True),
    ("GET", "/api/v1/device" + _ID + "/attributes", "attributes", True),
    ("GET", "/api/v1/device" + _ID + "/attribute" + _ID + "/series", "attribute_series", True),
    ("POST", "/api/v1/device" + _ID + "/attributes_remove", "remove_attributes", True),
    ("POST", "/api/v1/control/device" + _ID + "/attributes", "push_attributes", True),
    ("PUT", "/api/v1/control/device" + _ID + "/attributes", "update_cloud_attributes", True),
    ("POST", "/api/v1/control/device" + _ID + "/command", "send_command", True),
    ("GET", "/api/v1/alarm_logs", "alarm_logs", True),
    ("GET", "/api/v1/device" + _ID + "/alarm_logs", "device_alarm_logs", True),
    ("GET", "/api/v1/customers", "customers", True),
    ("GET", "/api/v1/customer" + _ID, "customer", True),
    ("POST", "/api/v1/customer", "create_customer", True),
    ("PUT", "/api/v1/customer" + _ID + "/info", "update_customer", True),
    ("PUT", "/api/v1/customer" + _ID + "/pwd", "set_customer_password", True),
    ("PUT", "/api/v1/customer" + _ID + "/tags", "set_customer_tags", True),
    ("DELETE", "/api/v1/customer" + _ID, "delete_customer", True),
    ("GET", "/api/v1/admin", "admin", True),
]


def _handler(sim):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _do(self):
            u = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(u.query).items()}
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                status, out = sim.api(self.command, u.path, q, self.headers, raw)
            except Exception as e:  # a bug in the stand-in: say so, as a 500
                status, out = 500, {"result": False, "errcode": 500, "message": "sim error: %s" % e}
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _do

        def log_message(self, *a):
            pass
    return H


# ----- command line ----------------------------------------------------------

def main(argv=None):
    p = common.parser("thingscloud", "A local ThingsCloud: device MQTT + project HTTP API.",
                      port=21883, tls_port=28883)
    p.add_argument("--http-port", type=int, default=28080, help="HTTP API port (0 = any free)")
    p.add_argument("--ota", metavar="BUNDLE", help="offer this .iotb app bundle (otaUpgrade) to every "
                   "device that reports another version attribute")
    args = p.parse_args(argv)
    sim = Sim(args.dir, host=args.host, port=args.port, tls_port=args.tls_port, http_port=args.http_port)
    if args.ota:
        if common.offer("thingscloud", args.ota) is None:
            return 2
        sim.auto_offer = args.ota

    def show():
        app, (ak, sk) = next(iter(sim.apps.items()))
        print("local ThingsCloud")
        print("  MQTT  mqtt://%s:%d   mqtts://%s:%d (CA %s)" % (args.host, sim.port, args.host,
                                                               sim.tls_port, sim.tls["ca"]))
        print("  API   %s   app_id %s access_key %s secret_key %s" % (sim.api_url, app, ak, sk))
        print("        admin account admin password %s" % sim.admins["admin"]["password"])
        print("  ProjectKey %s; device certificate: POST %s/device/v1/certificate" % (
            sim.project_key, sim.api_url))
        print("demo device %s (AccessToken %s) config.json:" % (sim.demo["id"], sim.demo["access_token"]))
        c = sim.demo_config()
        if args.ota:
            c["cloud"]["version"] = "1.0.0"
            c["app"] = {"ota": {"ca": sim.tls["ca"]}}
        print(json.dumps(c, indent=1))
        print("try: .venv/bin/iotlink thingscloud --api %s --app-id %s --access-key %s --secret-key %s devices"
              % (sim.api_url, app, ak, sk))
        print("Ctrl-C to stop")
    return common.serve("iotlink sim thingscloud", sim, (args.port, args.tls_port, args.http_port), args.host,
                        show)


if __name__ == "__main__":
    sys.exit(main())
