"""One MQTT session to a cloud, driving umqtt.simple.

The Device owns every side effect: sockets, TLS, time, retries, handlers.  The
cloud codec (``iotlink.clouds.*``) only turns values into topics and payloads.

What it adds to umqtt.simple, and why:

* every packet read and written against a deadline (``mqtt_wire``, which
  also holds every workaround for umqtt's defects): a stalled, trickling or
  malformed broker ends the link instead of hanging the board, and
  ``poll(ms)`` returns within ms plus one ``timeout_ms``;
* PINGREQ when idle and a dead-link verdict when nothing at all arrives for
  1.5 x keepalive (umqtt sends no pings by itself);
* reconnect with jittered exponential backoff (prompt after a link that
  worked), fresh credentials per attempt (time-based passwords),
  resubscription after every CONNACK;
* an outbox: reports made while offline are kept (bounded) and sent in order;
* handlers run from ``poll()``, never while a packet is being read, because a
  QoS 1 publish from there would read packets inside a packet read.

The codec is called through the contract written down in ``clouds/base.py``,
with the same signatures for every cloud.  What a session needs only sometimes is imported
on first use, so it costs no heap until then: ``flow`` (report coalescing, the
reply to a downlink that finds the inbox full), ``props`` (get and set
answered from the last reported values), ``system`` (library-internal
downlinks), ``child``, ``retry`` and ``tls``.
"""

import sys
import time

from . import log, clock, config
from .errors import AuthError, ConfigError, ProtocolError
from .outbox import Outbox
from .request import COMMAND, SET, GET, SYSTEM
from .mqtt_wire import Net, Tls, PUBLISH, PUBACK, SUBACK, UNSUBACK, write_publish, \
    subscribe_packet

_EV_UP = "up"
_EV_AUTH = "auth"


class Device:
    """A cloud session.  ``config`` is a dict or a path to config.json.

    Register handlers with ``on(kind)`` (or ``command``), call ``connect()``
    once and ``poll(ms)`` in the main loop; ``report()`` and ``event()`` may
    be called any time, connected or not.
    """

    def __init__(self, config_or_path, mqtt=None):
        cfg = config.load(config_or_path) if isinstance(config_or_path, str) else config_or_path
        if not isinstance(cfg, dict):
            raise ConfigError("config: must be a dict or a path to config.json")
        from . import clouds
        self.cloud = clouds.load(cfg)
        self.opts = config.session(cfg)
        if mqtt is None:
            from umqtt import simple as mqtt
        self._mqtt = mqtt
        self._net = Net(self.cloud.ep["timeout_ms"])
        self._ctx = None
        self._client = None
        self._link = None
        self._pid = 0
        self._hdr = bytearray(7)  # PUBLISH fixed header + topic length, reused
        self.connected = False
        self.error = None   # last AuthError, for the app to show
        self._out = Outbox(self.opts["outbox"])
        self._in = []
        self._handlers = {}
        self.state = {}     # last reported values: {service key: {name: value}}
        self.children = {}  # the same per sub-device: {target: {service key: {...}}}
        self.stats = {"connects": 0, "reconnects": 0, "queued": 0, "sent": 0, "dropped": 0,
                      "replies": 0, "received": 0, "bad_input": 0, "handler_errors": 0,
                      "link_errors": 0, "coalesced": 0, "inbox_dropped": 0}
        self._attempts = 0
        self._next_try = time.ticks_ms()
        self._up_since = 0
        self._last_ping = 0
        self._ever_up = False
        self._extra = []        # filters added at run time (subscribe())
        self._pending = {}      # coalesced reports, see report()
        self._last_report = time.ticks_add(time.ticks_ms(), -self.opts["report_min_ms"])

    # ----- handlers --------------------------------------------------------

    def on(self, kind, fn=None):
        """Register ``fn(request)`` for a request kind ("command", "set", "get",
        "message", "event", "data") or ``fn(event, detail)`` for "status".
        Usable as a decorator: ``@dev.on("set")``."""
        if fn is None:
            return lambda f: self.on(kind, f)
        self._handlers[kind] = fn
        return fn

    def command(self, fn):
        """Decorator: ``fn(request) -> dict`` answers every command."""
        return self.on(COMMAND, fn)

    # ----- uplinks ---------------------------------------------------------

    def report(self, props, service=None, qos=None, target=None):
        """Report property values (a dict) in the cloud's format.  Never raises
        on a link problem: the report waits in the outbox.  With
        ``session.report_min_ms`` set, reports closer together than that are
        merged and sent as one when the interval has passed."""
        if not isinstance(props, dict):
            raise TypeError("report() takes a dict of property values")
        self._can_send()
        key = self._skey(service)
        # encoded first: what the codec refuses raises here and is not
        # recorded, so a property get never answers with values never sent
        topic, payload = self.cloud.report(props, service, clock.now(), target)
        self._state_of(target, key).update(props)
        if self.opts["report_min_ms"]:
            from .flow import coalesce
            if coalesce(self, (key, target, qos), props):
                return
        self._queue(topic, payload, self.opts["qos"] if qos is None else qos)

    def _send_report(self, props, service, qos, target):
        topic, payload = self.cloud.report(props, service, clock.now(), target)
        self._queue(topic, payload, self.opts["qos"] if qos is None else qos)

    def _can_send(self):
        if self.cloud.RECEIVE_ONLY:
            raise NotImplementedError("%s: receive-only, nothing can be reported" % self.cloud.NAME)

    def event(self, name, params=None, qos=None, target=None):
        """Send an application event."""
        self._can_send()
        topic, payload = self.cloud.event(name, params, clock.now(), target)
        self._queue(topic, payload, self.opts["qos"] if qos is None else qos)

    def child(self, target):
        """A handle for a sub-device behind this gateway connection: same
        ``report()``/``event()``; its downlinks reach the handlers with
        ``req.target`` set to its id."""
        from .child import Child
        return Child(self, target)

    def subscribe(self, topic, qos=1):
        """Add a filter, now if connected and again after every reconnect."""
        topic = _b(topic)
        for f in self._extra:
            if f[0] == topic:
                return
        self._extra.append((topic, qos))
        if self.connected:
            try:
                self._subscribe(((topic, qos),))
            except Exception as e:
                self._lost(e)

    def unsubscribe(self, topic):
        """Drop a filter added with subscribe()."""
        topic = _b(topic)
        self._extra = [f for f in self._extra if f[0] != topic]
        if self.connected:
            try:
                self._subscribe(((topic, None),))
            except Exception as e:
                self._lost(e)

    def publish(self, topic, payload, qos=0, retain=False):
        """Raw publish on any topic, through the outbox like reports."""
        if isinstance(topic, str):
            topic = topic.encode()
        self._queue(topic, payload, qos, retain)

    def _queue(self, topic, payload, qos, retain=False):
        # checked here: a message that cannot be sent must not sit at the head
        # of the outbox and fail every reconnect
        if isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError("payload must be bytes or str, not %s" % type(payload).__name__)
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if not isinstance(topic, (bytes, bytearray)) or not topic:
            raise ValueError("topic must be non-empty bytes or str")
        self._put((topic, payload, qos, retain))
        if self.connected:
            self._flush(time.ticks_ms())

    def _put(self, item):
        """Into the outbox, counted: whatever is queued is in time sent or
        dropped, so queued - sent - dropped is what the outbox holds."""
        self.stats["queued"] += 1
        if self._out.put(item) is not None:
            self.stats["dropped"] += 1
            log.warn("outbox full (%d): oldest message dropped", self.opts["outbox"])

    def _flush(self, until):
        """Send queued messages in order until the outbox is empty or ``until``
        has passed (at least one goes out per call): a slow broker holds a
        call for at most one more PUBACK wait."""
        try:
            while True:
                item = self._out.peek()
                if item is None:
                    return
                self._publish(*item)
                self._out.pop()  # only once sent (PUBACK for QoS 1)
                self.stats["sent"] += 1
                if time.ticks_diff(until, time.ticks_ms()) <= 0:
                    return
        except Exception as e:
            self._lost(e)

    def _publish(self, topic, msg, qos, retain):
        """PUBLISH written by mqtt_wire, not umqtt (see there why)."""
        pid = 0
        if qos:
            pid = self._pid = self._pid % 65535 + 1
        write_publish(self._link, self._hdr, topic, msg, qos, retain, pid)
        if qos:
            self._await(PUBACK, pid, "PUBACK")

    def _await(self, op, pid, name):
        """Read packets until the ack ``op`` for ``pid``; return its body after
        the packet id.  Downlinks on the way go to _on_msg as usual; other
        acks are dropped."""
        link = self._link
        end = link._end()
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                break
            if link.ready(left):
                got, body = link.packet(self._on_msg)
                if got == op and body[0] << 8 | body[1] == pid:
                    return body[2:]
        raise OSError("no %s within %d ms" % (name, self.cloud.ep["timeout_ms"]))

    # ----- connection ------------------------------------------------------

    def connect(self):
        """Connect now.  Returns True when up.  Raises AuthError when the cloud
        rejects the credentials; other failures are logged and retried by poll()."""
        e = self._attempt()
        if isinstance(e, AuthError):
            raise e
        if e is None and len(self._out):
            self._flush(time.ticks_add(time.ticks_ms(), self.cloud.ep["timeout_ms"]))
        return self.connected

    def _attempt(self):
        """One connect attempt; the exception it ended with, or None when up.
        Refused credentials wait auth_retry_ms: retrying soon cannot help."""
        try:
            self._open()
            return None
        except AuthError as e:
            self.error = e
            self._next_try = time.ticks_add(time.ticks_ms(), self.opts["auth_retry_ms"])
            log.error("%s; next try in %d s", e, self.opts["auth_retry_ms"] // 1000)
            self._status(_EV_AUTH, e)
            return e
        except Exception as e:
            if isinstance(e, ProtocolError):
                self.error = e
            log.warn("connect failed: %s", _err(e))
            from .retry import schedule
            schedule(self)
            return e

    def _open(self):
        cloud = self.cloud
        ep = cloud.ep
        cid, user, pw = cloud.credentials(clock.now())
        if user is not None and pw is None:
            pw = ""  # umqtt would take len(None)
        ctx = None
        if ep["tls"]:
            if self._ctx is None:
                from .tls import context
                self._ctx = context(ep["ca"], ep["verify"], ep["cert"], ep["key"])
            ctx = self._ctx
        mod = self._mqtt
        tls = Tls(ctx, ep["host"]) if ctx is not None else None
        # 1.3.x takes ``ssl`` as a flag and imports ``ussl``; >= 1.4 calls
        # ssl.wrap_socket(): Tls is both
        c = mod.MQTTClient(_b(cid), ep["host"], ep["port"], _b(user), _b(pw),
                           keepalive=ep["keepalive"], ssl=tls or False)
        c.set_callback(self._on_msg)
        will = cloud.will()
        if will:
            c.set_last_will(will[0], will[1], will[2], will[3])
        mod_socket = mod.socket
        mod.socket = self._net
        had_ussl = sys.modules.get("ussl")
        if tls is not None:
            sys.modules["ussl"] = tls
        try:
            c.connect()
        except mod.MQTTException as e:
            self._close_sock(c)
            from .retry import refusal
            raise refusal(e.args[0] if e.args else 0, ep)
        except (AssertionError, IndexError) as e:
            # umqtt's own checks of the CONNACK, in versions that differ
            self._close_sock(c)
            raise ProtocolError("malformed CONNACK (%s)" % type(e).__name__)
        except Exception:
            self._close_sock(c)
            self._net.cache.clear()  # the address may have moved
            raise
        finally:
            mod.socket = mod_socket
            if had_ussl is None:
                sys.modules.pop("ussl", None)
            else:
                sys.modules["ussl"] = had_ussl
        link = c.sock
        link.limit = self.opts["max_payload"]
        self._client, self._link = c, link
        try:
            self._subscribe(tuple(cloud.subscriptions()) + tuple(self._extra))
            for topic, payload, qos, retain in cloud.on_connect(clock.now()):
                self._publish(topic, payload, qos, retain)
        except Exception:
            self._close_sock(c)
            self._client = self._link = None
            raise
        link.up()
        self.connected = True
        if isinstance(self.error, AuthError):
            self.error = None   # a ProtocolError stays for the app to see
        self._up_since = time.ticks_ms()
        self._last_ping = self._up_since
        self.stats["connects"] += 1
        if self._ever_up:
            self.stats["reconnects"] += 1
        self._ever_up = True
        log.info("connected to %s:%d%s", ep["host"], ep["port"], " (TLS)" if ctx else "")
        self._status(_EV_UP, None)

    def _subscribe(self, filters):
        """One SUBSCRIBE for all filters (or an UNSUBSCRIBE when their qos is
        None), written by mqtt_wire."""
        if not filters:
            return
        pid = self._pid = self._pid % 65535 + 1
        self._link.write(subscribe_packet(filters, pid))
        if filters[0][1] is None:
            self._await(UNSUBACK, pid, "UNSUBACK")
            return
        for i, code in enumerate(self._await(SUBACK, pid, "SUBACK")):
            if code & 0x80:
                raise OSError("subscription refused: %s" % filters[i][0].decode())

    def _close_sock(self, c):
        try:
            if c.sock:
                c.sock.close()
        except Exception:
            pass

    def _lost(self, e):
        """The link failed: close it; retry.lost counts it and plans the reconnect."""
        link = self._link
        # working: the broker sent something after the session was set up
        worked = link is not None and time.ticks_diff(link.rx, self._up_since) > 0
        if self._client:
            self._close_sock(self._client)
        self._client = self._link = None
        if isinstance(e, ProtocolError):
            self.error = e
        from .retry import lost
        lost(self, e, worked)

    def disconnect(self):
        """Close the session cleanly (DISCONNECT: no last will)."""
        c = self._client
        if c:
            try:
                c.disconnect()
            except Exception:
                self._close_sock(c)
        self._client = self._link = None
        self.connected = False

    # ----- the loop --------------------------------------------------------

    def poll(self, timeout_ms=0):
        """Do everything due for up to ``timeout_ms``: read downlinks, run
        handlers, send replies and queued reports, ping, reconnect."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            if not self.connected and time.ticks_diff(time.ticks_ms(), self._next_try) >= 0:
                self._attempt()
            if self._in:
                self._dispatch()
            coalesced_in = 60000
            if self._pending:
                from .flow import send_coalesced
                coalesced_in = send_coalesced(self)
            left = time.ticks_diff(deadline, time.ticks_ms())
            if self.connected:
                try:
                    wait = min(self._keepalive(), coalesced_in)
                    if len(self._out):
                        self._flush(deadline)
                    if self.connected and self._link.ready(max(0, min(left, wait))):
                        # one whole packet within one deadline; an ack nobody
                        # waits for is dropped
                        self._link.packet(self._on_msg)
                except Exception as e:
                    self._lost(e)
            elif left > 0:
                until = time.ticks_diff(self._next_try, time.ticks_ms())
                time.sleep_ms(max(0, min(left, until, 1000)))
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                break
        if self._in:
            self._dispatch()

    def _keepalive(self):
        """Ping when the link has been quiet; declare it dead after 1.5 x
        keepalive of silence.  Return ms until the next check is due."""
        ka = self.cloud.ep["keepalive"] * 1000
        now = time.ticks_ms()
        link = self._link
        quiet = time.ticks_diff(now, link.rx)
        if quiet >= ka + ka // 2:
            raise OSError("nothing received for %d s (1.5 x keepalive)" % (quiet // 1000))
        half = ka // 2
        tx_quiet = time.ticks_diff(now, link.tx)
        since_ping = time.ticks_diff(now, self._last_ping)
        if since_ping >= half and (quiet >= half or tx_quiet >= half):
            self._client.ping()
            self._last_ping = now
            since_ping = tx_quiet = 0
        due = max(half - since_ping, half - max(quiet, tx_quiet))
        return max(20, min(due, ka + ka // 2 - quiet))

    def _on_msg(self, topic, msg):
        # Runs inside a packet read: only queue, never publish here.
        link = self._link
        if link is not None and link.dropped:
            self.stats["bad_input"] += 1
            log.warn("downlink of %d bytes over session.max_payload dropped", link.dropped)
            link.dropped = 0
            return
        self.stats["received"] += 1
        if len(self._in) >= self.opts["inbox"]:
            from .flow import refuse_busy
            refuse_busy(self, topic, msg)
            return
        self._in.append((topic, msg))

    def _dispatch(self):
        while self._in:
            topic, msg = self._in.pop(0)
            try:
                self._handle(topic, msg)
            except Exception as e:
                # a bug in a codec must not stop the loop either
                self.stats["bad_input"] += 1
                log.error("downlink on %s not handled: %s", _short(topic), _err(e))

    def _handle(self, topic, msg):
        cloud = self.cloud
        try:
            req = cloud.decode(topic, msg)
        except Exception as e:
            self.stats["bad_input"] += 1
            log.warn("bad downlink on %s: %s", _short(topic), _err(e))
            return
        if req is None:
            self.stats["bad_input"] += 1
            log.warn("unknown topic %s ignored", _short(topic))
            return
        if req.kind == SYSTEM:
            from .system import run
            run(self, req)
            return
        if req.error:
            self.stats["bad_input"] += 1
            log.warn("bad %s request: %s", req.kind, req.error)
            self._reply(req, None, req.error)
            return
        fn = self._handlers.get(req.kind)
        if fn is None:
            if req.kind == GET:
                from .props import values
                self._reply(req, values(self, req), None)
            elif req.kind in (COMMAND, SET):  # the kinds that expect an answer
                self._reply(req, None, "no %s handler on this device" % req.kind)
            return
        try:
            result = fn(req)
        except Exception as e:
            self.stats["handler_errors"] += 1
            log.warn("%s handler raised %s", req.kind, _err(e))
            self._reply(req, None, _err(e))
            return
        if req.kind == SET:
            if result is not None and result is not True and not isinstance(result, dict):
                self.stats["handler_errors"] += 1
                log.warn("set handler returned %s", type(result).__name__)
                self._reply(req, None, "set handler returned %s" % type(result).__name__)
                return
            from .props import answer_set
            answer_set(self, req)
            return
        if req.kind in (COMMAND, GET) and result is not None and not isinstance(result, dict):
            self.stats["handler_errors"] += 1
            log.warn("%s handler returned %s, not a dict", req.kind, type(result).__name__)
            self._reply(req, None, "handler returned %s, not a dict" % type(result).__name__)
            return
        self._reply(req, result, None)

    def _state_of(self, target, key):
        """Last reported values of a service, of this device or of a child."""
        states = self.state if target is None else self.children.setdefault(target, {})
        st = states.get(key)
        if st is None:
            st = states[key] = {}
        return st

    def _skey(self, service):
        """The key of a service in self.state: the codec may map its default
        service and None to one key."""
        return self.cloud.service_key(service)

    def _reply(self, req, result, err):
        if err is not None:
            err = log.mask(err)  # a handler's text may quote a secret
        try:
            out = self.cloud.reply(req, result, err)
        except Exception as e:
            log.warn("cannot encode reply: %s", _err(e))
            out = self.cloud.reply(req, None, "reply not encodable") if err is None else None
        if out is None:
            return
        self.stats["replies"] += 1
        self._queue(out[0], out[1], self.opts["qos"])

    def _status(self, event, detail):
        fn = self._handlers.get("status")
        if fn:
            try:
                fn(event, detail)
            except Exception as e:
                log.warn("status handler raised %s", _err(e))


def _b(v):
    return v.encode() if isinstance(v, str) else v


_err = log.err


def _short(topic):
    try:
        t = topic.decode()
    except Exception:
        t = repr(topic)
    return t if len(t) <= 60 else t[:57] + "..."
