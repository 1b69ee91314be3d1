"""A local ALIENTEK 原子云 for tests and offline work.

One device registry behind two doors, on one HTTP(S) port like the real
cloud.alientek.com:443:

* REST under ``/api`` with the ``token`` header and the ``{code, message,
  data}`` envelope: orgs, grouplist, devices of a group, devicestate (numeric
  id), devicepacket (20-digit number; page, limit, start, end; newest first,
  six hours kept, ``hex_packet`` as spaced uppercase hex pairs).  A wrong
  token answers code 300, an unknown org, group or device 401, a malformed
  parameter 400.
* WebSocket at ``/connection/{api_token}/org/{org_id}?token={random}``:
  binary messages, opcode + device number (+ payload).  0x01/0x02 subscribe
  and unsubscribe, 0x03 sends to a DTU / Wi-Fi device, 0x07 to an NB-IoT
  device; the cloud pushes 0x04 online, 0x05 offline, 0x06 DTU data and 0x08
  NB-IoT data to the connections subscribed to that device.  A wrong API
  token or org is refused at the handshake with HTTP 401 (what the real
  service does there is not documented).  Faults on one app connection:
  ``drop()`` cuts the TCP connection, ``silence()`` keeps it open but sends
  nothing more, pongs included (a half-dead link).

The device side of the real cloud (TCP port 59666) has no public protocol,
so devices are not reached over a socket here: ``AtkModule`` plays an ATK
Wi-Fi module / DTU on a pseudo-terminal, answers its AT commands
(``AT+ATKCLDSTA``, ``AT+ATKCLDCLS``, ``AT+RST``, ``+++``) and talks to the
registry in-process.  A board drives it exactly like the real module on a
UART.

Hand-written WebSocket server side (stdlib only).
"""

import base64
import datetime
import json
import os
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
import tty
import urllib.parse
from http.server import BaseHTTPRequestHandler

from .. import certs
from . import common
from .wspeer import HttpServer, WsPeer, accept_for, switch_protocols

CST = datetime.timezone(datetime.timedelta(hours=8))
KEEP_S = 6 * 3600
NB_LEN = 37

SUB, UNSUB, TO_DTU, ONLINE, OFFLINE, FROM_DTU, TO_NB, FROM_NB = range(1, 9)


def _now_iso():
    return datetime.datetime.now(CST).isoformat(timespec="microseconds")


def hex_packet(data):
    return " ".join("%02X" % b for b in data)


class Device:
    def __init__(self, id, show_id, name, number, password, device_type, group_id):
        self.id = id
        self.show_id = show_id
        self.name = name
        self.number = number
        self.password = password
        self.device_type = device_type
        self.group_id = group_id
        self.link = None          # the module's cloud link, when online
        self.packets = []         # (unix time, iso time, bytes), newest first

    def public(self):
        return {"id": self.id, "show_id": self.show_id, "name": self.name,
                "number": self.number, "device_type": self.device_type}


class DeviceLink:
    """A device's connection to the cloud (what the module keeps open)."""

    def __init__(self, cloud, dev, downlink):
        self.cloud = cloud
        self.dev = dev
        self.downlink = downlink   # fn(bytes): data an app sent to the device
        self.open = True

    def send(self, data):
        if self.open:
            self.cloud._device_data(self.dev, bytes(data))

    def close(self):
        if self.open:
            self.open = False
            self.cloud._device_gone(self.dev, self)


# ----- WebSocket server side ---------------------------------------------------

class WsConn(WsPeer):
    """One app connection: frames in and out, its subscriptions."""

    def __init__(self, cloud, sock, rfile):
        WsPeer.__init__(self, sock, rfile, cloud.max_message)
        self.cloud = cloud
        self.subs = set()
        self.received = []      # whole binary messages from the app

    def limit(self):
        return self.cloud.max_message   # tests change it on a running cloud

    def send(self, data):
        self.send_frame(2, data)

    def silence(self):
        """From now on send nothing (no pong, no push, no close) and keep the
        TCP connection open: what a half-dead link looks like to the app."""
        self.silent = True

    def drop(self):
        """Cut the TCP connection without a close frame."""
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self):
        try:
            for op, data in self.messages():
                self._message(op, data)
        finally:
            self.cloud._ws_gone(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _message(self, op, data):
        if op != 2:
            return  # text: the cloud speaks binary only
        self.received.append(data)
        if self.cloud.on_app_message:
            self.cloud.on_app_message(data)
        self.cloud._app_message(self, data)


# ----- the HTTP side --------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"

    def log_message(self, *a):
        pass

    def do_GET(self):
        cloud = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/api/"):
            code, msg, data = cloud._rest(url.path[4:], urllib.parse.parse_qs(url.query, keep_blank_values=True),
                                          self.headers.get("token"))
            body = json.dumps({"code": code, "message": msg, "data": data}, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        m = re.match(r"^/connection/([^/]+)/org/(\d+)$", url.path)
        if m and self.headers.get("Upgrade", "").lower() == "websocket":
            q = urllib.parse.parse_qs(url.query)
            if m.group(1) != cloud.token or int(m.group(2)) not in cloud.orgs or not q.get("token"):
                self._plain(401, b"unauthorized")
                return
            key = self.headers.get("Sec-WebSocket-Key", "")
            if not key or self.headers.get("Sec-WebSocket-Version") != "13":
                self._plain(400, b"bad handshake")
                return
            acc = accept_for(key)
            if cloud.break_accept:
                acc = base64.b64encode(b"wrong" * 4).decode()
            switch_protocols(self, acc)
            conn = WsConn(cloud, self.connection, self.rfile)
            cloud._ws_new(conn)
            conn.serve()
            self.close_connection = True
            return
        self._plain(404, b"not found")

    def _plain(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class LocalAlientek:
    """The registry and both doors.  ``tls``: a certs.make_ca() dict to serve
    HTTPS / WSS instead of HTTP / WS."""

    def __init__(self, token=None, tls=None, host="127.0.0.1", port=0, org_id=1):
        self.token = token or os.urandom(16).hex()
        self.tls = tls
        self.host = host
        self._port = port
        self.orgs = {org_id: {"id": org_id, "name": "正点原子", "acc_id": 0, "device_limit": 1000,
                              "created_at": "2018-04-14T15:30:52+08:00"}}
        self.groups = {}          # id -> {"id", "name", "org_id"}
        self.devices = {}         # number -> Device
        self.ws = []              # live WsConn
        self.on_app_message = None  # fn(bytes): sees every binary message from an app first
        self.max_message = 1 << 20
        self.break_accept = False  # tests: answer a wrong Sec-WebSocket-Accept
        self._next_id = 146
        self._cond = threading.Condition()
        self.server = None
        self.add_group(45, "默认分组")

    # ----- lifecycle -------------------------------------------------------

    def start(self):
        self.server = HttpServer((self.host, self._port), _Handler, self, self.tls)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for c in list(self.ws):
            c.drop()
        for d in self.devices.values():
            if d.link:
                d.link.open = False
                d.link = None
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def base(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    # ----- registry --------------------------------------------------------

    def add_group(self, gid, name, org_id=None):
        org_id = org_id or next(iter(self.orgs))
        self.groups[gid] = {"id": gid, "acc_id": 0, "acc_name": "", "org_id": org_id, "org_name": "",
                            "name": name, "transfer_groups": None, "count_device": 0,
                            "created_at": _now_iso(), "operation": ""}
        return self.groups[gid]

    def add_device(self, name, number=None, password=None, device_type="01", group_id=45):
        """Register a device; DTU/Wi-Fi numbers are 20 digits, passwords 8 digits."""
        if number is None:
            number = "".join(str(b % 10) for b in os.urandom(20))
            if device_type == "03":
                number = "%s-%s-%s-%s-%s" % tuple(os.urandom(16).hex()[a:b] for a, b in
                                                  ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
        if password is None:
            password = "".join(str(b % 10) for b in os.urandom(8))
        with self._cond:
            d = Device(self._next_id, self._next_id + 861, name, number, password, device_type, group_id)
            self._next_id += 1
            self.devices[number] = d
        return d

    def device(self, number):
        return self.devices[number]

    def online(self, number):
        d = self.devices.get(number)
        return bool(d and d.link)

    # ----- device side -----------------------------------------------------

    def device_login(self, number, password, downlink):
        """A module logs in; returns a DeviceLink or None when refused."""
        d = self.devices.get(number)
        if d is None or d.password != password:
            return None
        old = d.link
        if old:
            old.open = False
        link = d.link = DeviceLink(self, d, downlink)
        if not old:
            self._push(d, bytes((ONLINE,)) + self._num(d))
        with self._cond:
            self._cond.notify_all()
        return link

    def _device_data(self, d, data):
        t = time.time()
        with self._cond:
            d.packets.insert(0, (t, datetime.datetime.fromtimestamp(t, CST).isoformat(timespec="microseconds"), data))
            while d.packets and d.packets[-1][0] < t - KEEP_S:
                d.packets.pop()
            self._cond.notify_all()
        op = FROM_NB if d.device_type == "03" else FROM_DTU
        self._push(d, bytes((op,)) + self._num(d) + data)

    def _device_gone(self, d, link):
        if d.link is link:
            d.link = None
            self._push(d, bytes((OFFLINE,)) + self._num(d))
        with self._cond:
            self._cond.notify_all()

    def _num(self, d):
        n = d.number.encode()
        return n if d.device_type != "03" else n.ljust(NB_LEN, b"\x00")

    def nb_uplink(self, number, data):
        """An NB-IoT device reports (NB-IoT devices reach the cloud through
        the operator's platform, not through a module here)."""
        self._device_data(self.devices[number], bytes(data))

    # ----- app side ---------------------------------------------------------

    def _ws_new(self, conn):
        with self._cond:
            self.ws.append(conn)
            self._cond.notify_all()

    def _ws_gone(self, conn):
        with self._cond:
            if conn in self.ws:
                self.ws.remove(conn)
            self._cond.notify_all()

    def _push(self, d, msg):
        for c in list(self.ws):
            if d.number in c.subs:
                c.send(msg)

    def _app_message(self, conn, data):
        op = data[0] if data else 0
        if op in (SUB, UNSUB):
            number = data[1:].rstrip(b"\x00").decode(errors="replace")
            with self._cond:
                (conn.subs.add if op == SUB else conn.subs.discard)(number)
                self._cond.notify_all()
        elif op == TO_DTU and len(data) >= 21:
            d = self.devices.get(data[1:21].decode(errors="replace"))
            if d and d.link and d.number in conn.subs:
                d.link.downlink(data[21:])
        elif op == TO_NB and len(data) >= 1 + NB_LEN:
            d = self.devices.get(data[1:1 + NB_LEN].rstrip(b"\x00").decode(errors="replace"))
            if d:
                with self._cond:
                    d.nb_down = getattr(d, "nb_down", []) + [data[1 + NB_LEN:]]
                    self._cond.notify_all()

    def wait(self, pred, timeout=10.0):
        """Block until ``pred()`` is true; TimeoutError otherwise."""
        end = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met in %.1f s" % timeout)
                self._cond.wait(min(left, 0.1))

    def wait_subscribed(self, number, timeout=10.0):
        self.wait(lambda: any(number in c.subs for c in self.ws), timeout)

    # ----- REST -------------------------------------------------------------

    def _rest(self, path, q, token):
        if token != self.token:
            return 300, "token 验证失败", None
        m = re.match(r"^/orgs/?$", path)
        if m:
            out = []
            for o in self.orgs.values():
                o = dict(o)
                o["device_counter"] = sum(1 for d in self.devices.values()
                                          if self.groups.get(d.group_id, {}).get("org_id") == o["id"])
                out.append(o)
            return 200, "", out
        m = re.match(r"^/orgs/([^/]+)/(.*)$", path)
        if not m:
            return 401, "接口不存在", None
        try:
            org = int(m.group(1))
        except ValueError:
            return 400, "参数错误: org_id", None
        if org not in self.orgs:
            return 401, "机构不存在", None
        rest = m.group(2)
        if rest == "grouplist":
            return 200, "", [g for g in self.groups.values() if g["org_id"] == org]
        m = re.match(r"^groups/([^/]+)/devices$", rest)
        if m:
            try:
                gid = int(m.group(1))
            except ValueError:
                return 400, "参数错误: group_id", None
            if self.groups.get(gid, {}).get("org_id") != org:
                return 401, "分组不存在", None
            return 200, "", [d.public() for d in self.devices.values() if d.group_id == gid]
        m = re.match(r"^devicestate/([^/]+)$", rest)
        if m:
            try:
                did = int(m.group(1))
            except ValueError:
                return 400, "参数错误: device_id", None
            for d in self.devices.values():
                if d.id == did:
                    if d.device_type == "03":
                        return 200, "", "binded"
                    return 200, "", "connected" if d.link else "disconnected"
            return 401, "设备不存在", None
        m = re.match(r"^devicepacket/([^/]+)$", rest)
        if m:
            d = self.devices.get(m.group(1))
            if d is None:
                return 401, "设备不存在", None
            return self._packets(d, q)
        return 401, "接口不存在", None

    def _packets(self, d, q):
        def one(name, default):
            v = q.get(name)
            return v[0] if v else default
        try:
            page = int(one("page", "1"))
            limit = int(one("limit", "30"))
            if page < 1 or not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            return 400, "参数错误: page/limit", None
        bounds = []
        for name in ("start", "end"):
            v = one(name, None)
            if v is None:
                bounds.append(None)
                continue
            try:
                t = datetime.datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST).timestamp()
            except ValueError:
                return 400, "参数错误: %s" % name, None
            bounds.append(t)
        with self._cond:
            items = [p for p in d.packets if (bounds[0] is None or p[0] >= bounds[0])
                     and (bounds[1] is None or p[0] <= bounds[1])]
        total = len(items)
        chunk = items[(page - 1) * limit:page * limit]
        return 200, "", {"current_page": page, "total_page": (total + limit - 1) // limit,
                         "total_item": total, "page_limit": limit,
                         "items": [{"time": iso, "hex_packet": hex_packet(b), "length": len(b),
                                    "number": d.number} for _, iso, b in chunk]}


# ----- a simulated ATK module on a pseudo-terminal ----------------------------------

class AtkModule:
    """An ATK Wi-Fi module / DTU with ALIENTEK's cloud AT firmware, on a pty.

    ``path`` is the tty a board opens as its UART.  Command mode: lines ending
    in CR LF; ``AT`` -> OK; ``AT+RST`` -> OK, then ``ready``;
    ``AT+ATKCLDSTA="<number>","<password>"`` -> OK, then ``CLOUD CONNECTED``
    (or ``ERROR`` when the cloud refuses) and transparent mode.  Transparent
    mode: bytes in go to the cloud, packed by a 20 ms gap; bytes from the cloud
    come out raw; a write of exactly ``AT+ATKCLDCLS\\r\\n`` closes the link
    (``CLOUD DISCONNECT``); ``+++`` leaves it without a word.
    Faults: ``mute`` (ignore ATKCLDSTA), ``drop_link()`` (the cloud link dies:
    ``CLOUD DISCONNECT`` on the UART, as this stand-in assumes the firmware
    reports it)."""

    GAP = 0.02

    def __init__(self, cloud, boot_ms=50):
        self.cloud = cloud
        self.boot_ms = boot_ms
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.link = None
        self.mute = False
        self.log = []            # AT commands seen
        self.logins = 0
        self._stop = False
        self._wlock = threading.Lock()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def close(self):
        self._stop = True
        self._t.join(2)
        if self.link:
            self.link.close()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _out(self, data):
        with self._wlock:
            try:
                os.write(self.master, data)
            except OSError:
                pass

    def _line(self, text):
        self._out(text.encode() + b"\r\n")

    def drop_link(self):
        if self.link:
            link, self.link = self.link, None
            link.close()
            self._line("CLOUD DISCONNECT")

    def _run(self):
        buf = b""
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], self.GAP)
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    return
                buf += chunk
                if len(buf) < 65536:
                    continue  # keep gathering until a gap
            if not buf:
                continue
            data, buf = buf, b""
            if self.link:
                self._transparent(data)
            else:
                for line in data.split(b"\r\n"):
                    if line.strip():
                        self._command(line.strip().decode(errors="replace"))

    def _transparent(self, data):
        if data == b"AT+ATKCLDCLS\r\n":
            self.log.append("AT+ATKCLDCLS")
            link, self.link = self.link, None
            link.close()
            self._line("CLOUD DISCONNECT")
        elif data == b"+++":
            self.log.append("+++")
            link, self.link = self.link, None
            link.close()
        else:
            self.link.send(data)

    def _command(self, line):
        self.log.append(line)
        if line == "+++":
            return
        if line == "AT":
            self._line("OK")
        elif line == "AT+RST":
            self._line("OK")
            time.sleep(self.boot_ms / 1000)
            self._out(b"\r\n\x00garbage from the boot loader\r\n")
            self._line("ready")
        elif line.startswith("AT+ATKCLDSTA="):
            m = re.match(r'^AT\+ATKCLDSTA="([^"]*)","([^"]*)"$', line)
            if not m:
                self._line("ERROR")
                return
            self._line("OK")
            if self.mute:
                return
            time.sleep(0.05)
            link = self.cloud.device_login(m.group(1), m.group(2), self._downlink)
            if link is None:
                self._line("ERROR")
                return
            self.logins += 1
            self.link = link
            self._line("CLOUD CONNECTED")
        elif line == "AT+ATKCLDCLS":
            self._line("CLOUD DISCONNECT")
        else:
            self._line("ERROR")

    def _downlink(self, data):
        self._out(data)


# ----- a host-side app (what a phone or PC app does) ----------------------------------

class AppClient:
    """A minimal WebSocket app on the host: subscribe, send, collect what the
    cloud pushes (``data``: [(number, payload)], ``events``: [(op, number)])."""

    def __init__(self, cloud, timeout=10):
        self.cloud = cloud
        raw = socket.create_connection((cloud.host, cloud.port), timeout)
        if cloud.tls:
            ctx = ssl.create_default_context(cafile=cloud.tls["ca"])
            raw = ctx.wrap_socket(raw, server_hostname=cloud.host)
        self.sock = raw
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/connection/%s/org/%d?token=%s" % (cloud.token, next(iter(cloud.orgs)), os.urandom(8).hex())
        raw.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, cloud.host, key)).encode())
        self.rfile = raw.makefile("rb")
        status = self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        if b" 101 " not in status:
            raise OSError("handshake refused: %r" % status)
        raw.settimeout(None)
        self.data = []
        self.events = []
        self.alive = True
        threading.Thread(target=self._read, daemon=True).start()

    def _frame(self, op, data):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes((0x80 | op,)) + (bytes((0x80 | n,)) if n < 126 else bytes((0x80 | 126,)) + struct.pack("!H", n))
        self.sock.sendall(hdr + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(data)))

    def subscribe(self, number):
        self._frame(2, bytes((SUB,)) + number.encode())
        self.cloud.wait_subscribed(number)

    def send(self, number, payload):
        self._frame(2, bytes((TO_DTU,)) + number.encode() + payload)

    def _read(self):
        try:
            while True:
                h = self.rfile.read(2)
                if len(h) < 2:
                    break
                n = h[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self.rfile.read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self.rfile.read(8))[0]
                data = self.rfile.read(n)
                if h[0] & 0x0F == 8:
                    break
                if h[0] & 0x0F == 2 and data:
                    if data[0] in (FROM_DTU,):
                        self.data.append((data[1:21].decode(), data[21:]))
                    else:
                        self.events.append((data[0], data[1:].rstrip(b"\x00").decode()))
        except (OSError, ValueError):
            pass
        self.alive = False

    def close(self):
        try:
            self._frame(8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()

# ----- the Sim contract --------------------------------------------------------------

class Sim:
    """``Sim(workdir).start()``: the local cloud over HTTPS/WSS with a test CA
    in ``workdir``, one DTU ("demo-dtu") registered and a simulated module for
    it on a pty (``.module.path``).  ``demo_config()`` is the config of a board
    that watches and controls the DTU; ``command(name, params)`` sends data
    to the DTU through the cloud (as an app would) and returns what the DTU's
    board sent back within ``timeout``."""

    def __init__(self, workdir, tls=True, port=0, host="127.0.0.1"):
        self.workdir = workdir
        self.tls = tls
        self.port = port
        self.host = host
        self.cloud = None
        self.module = None
        self.dtu = None
        self._ws = None
        self.link = None   # the DTU's login, while `iotlink run` plays it
        self.got = []      # what the DTU received then

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        ca = None
        if self.tls:
            ca = certs.make_ca(os.path.join(self.workdir, "ca"))
            ca["ca_der"] = certs.pem_to_der(ca["ca"], os.path.join(self.workdir, "ca", "ca.der"))
        self.ca = ca
        self.cloud = LocalAlientek(tls=ca, host=self.host, port=self.port).start()
        self.dtu = self.cloud.add_device("demo-dtu", device_type="01")
        self.module = AtkModule(self.cloud)
        return self

    def stop(self):
        if self._ws:
            self._ws.close()
        if self.module:
            self.module.close()
        if self.cloud:
            self.cloud.stop()

    def demo_config(self):
        c = self.cloud
        scheme = ("https", "wss") if self.tls else ("http", "ws")
        cloud = {"type": "alientek", "token": c.token, "org_id": next(iter(c.orgs)),
                 "api": "%s://%s:%d/api" % (scheme[0], self.host, c.port),
                 "ws": "%s://%s:%d/connection" % (scheme[1], self.host, c.port),
                 "devices": [self.dtu.number], "keepalive": 30}
        if self.tls:
            cloud["ca"] = self.ca["ca_der"]
        return {"cloud": cloud,
                "atk": {"uart": self.module.path, "number": self.dtu.number, "password": self.dtu.password},
                "session": {"backoff_min_ms": 500, "backoff_max_ms": 5000}}

    # ----- `iotlink run`: the board runs the DTU example; the host plays the DTU

    _OPS = {1: "subscribe", 2: "unsubscribe", 3: "to DTU", 7: "to NB-IoT"}

    @classmethod
    def demo(cls, workdir, port=0):
        sim = cls(workdir, port=port).start()
        c = sim.demo_config()["cloud"]
        print("local 原子云: REST %s, WebSocket %s, DTU %s" % (c["api"], c["ws"], sim.dtu.number), flush=True)
        sim.cloud.on_app_message = sim._from_board
        return sim

    def run_config(self):
        cfg = self.demo_config()
        cfg.pop("atk")
        cfg["app"] = {"dtu": self.dtu.number}
        return cfg

    def wait_online(self, timeout):
        self.cloud.wait_subscribed(self.dtu.number, timeout)

    def _from_board(self, m):
        number = m[1:21].decode(errors="replace")
        lost = m[0] == 3 and not self.cloud.online(number)
        print("  cloud <- 0x%02x %s %s %s%s" % (m[0], self._OPS.get(m[0], "?"), number,
                                              common.text(m[21:]).strip(),
                                              " (DTU offline: not delivered)" if lost else ""), flush=True)

    def _downlink(self, data):
        print("  DTU got %s" % common.text(data).strip(), flush=True)
        self.got.append(data)

    def _dtu_line(self, line):
        def step():
            n = len(self.got)
            print("  cloud -> 0x06 from DTU %s %s" % (self.dtu.number, line), flush=True)
            self.link.send(line.encode() + b"\r\n")
            end = time.monotonic() + 5
            while len(self.got) == n and time.monotonic() < end:
                time.sleep(0.05)
        return step

    def demo_steps(self):
        def login():
            print("  cloud -> 0x04 DTU %s online" % self.dtu.number, flush=True)
            self.link = self.cloud.device_login(self.dtu.number, self.dtu.password, self._downlink)

        def logout():
            print("  cloud -> 0x05 DTU %s offline" % self.dtu.number, flush=True)
            self.link.close()
        return [login, self._dtu_line("led on"), self._dtu_line("ping"), self._dtu_line("led off"),
                self._dtu_line("dance"), logout]

    def command(self, name, params=None, timeout=20):
        """Send ``{"name": .., "params": ..}`` (JSON + CR LF) to the DTU as an
        app; return the first JSON object the DTU's board sends back."""
        if self._ws is None:
            self._ws = AppClient(self.cloud)
            self._ws.subscribe(self.dtu.number)
        n = len(self._ws.data)
        self._ws.send(self.dtu.number, json.dumps({"name": name, "params": params or {}}).encode() + b"\r\n")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for _, payload in self._ws.data[n:]:
                try:
                    return json.loads(payload)
                except ValueError:
                    continue
            time.sleep(0.05)
        raise TimeoutError("the DTU did not answer %s in %g s" % (name, timeout))


def main(argv=None):
    ap = common.parser("alientek", "A local ALIENTEK 原子云: REST + WebSocket, and a simulated ATK module on a pty.",
                       port=18443)
    ap.add_argument("--plain", action="store_true", help="http:// and ws:// instead of TLS")
    a = ap.parse_args(argv)
    sim = Sim(a.dir, tls=not a.plain, port=a.port, host=a.host)

    def show():
        cfg = sim.demo_config()
        print("local 原子云: REST %s  WebSocket %s" % (cfg["cloud"]["api"], cfg["cloud"]["ws"]))
        print("API token: %s   org_id: %d" % (sim.cloud.token, cfg["cloud"]["org_id"]))
        print("demo DTU: number %s  password %s" % (sim.dtu.number, sim.dtu.password))
        print("simulated ATK module (the DTU's UART): %s" % sim.module.path)
        if sim.tls:
            print("CA for the board: %s (PEM: %s)" % (sim.ca["ca_der"], sim.ca["ca"]))
        print("config.json:")
        print(json.dumps(cfg, indent=1, ensure_ascii=False))
        print("Ctrl-C to stop")
    return common.serve("iotlink sim alientek", sim, (a.port,), a.host, show)


if __name__ == "__main__":
    sys.exit(main())
