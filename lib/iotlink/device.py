"""One MQTT session to a cloud: the blocking driver of the session core.

The session's logic (outbox, inbox, dispatch, replies, state, stats, keepalive
and backoff decisions) is ``session.Session``, which does no I/O; Device is
that core plus every side effect: sockets, TLS, the clock, sleeping, umqtt.simple
for CONNECT/CONNACK and ``umqtt_link`` for every packet after.  It keeps one
QoS 1 message in flight (window 1).  The cloud codec (``iotlink.clouds.*``)
only turns values into topics and payloads.

What it adds to umqtt.simple, and why:

* every packet read and written against a deadline (``umqtt_link``, which
  also holds every workaround for umqtt's defects, with ``mqtt_wire``'s
  pure packet rules): a stalled, trickling or
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
downlinks), ``child``, ``retry`` and ``tls``.  docs/architecture.md shows the
layers and the path of a report and a command through them.
"""

import time

from .errors import AuthError
from .session import Session, PING, DEAD
from .mqtt_wire import PUBACK, SUBACK, UNSUBACK, write_publish, subscribe_packet
from .umqtt_link import Net


class Device(Session):
    """A cloud session.  ``config`` is a dict or a path to config.json.

    Register handlers with ``on(kind)`` (or ``command``), call ``connect()``
    once and ``poll(ms)`` in the main loop; ``report()`` and ``event()`` may
    be called any time, connected or not.
    """

    _ctx = None     # the TLS context, made at the first TLS connect

    def __init__(self, config_or_path, mqtt=None):
        # imported here: a module-level name is a slot of this module's table
        from . import clock, config
        cfg = config.load(config_or_path) if isinstance(config_or_path, str) else config_or_path
        Session.__init__(self, cfg, time.ticks_ms, clock)
        if mqtt is None:
            from umqtt import simple as mqtt
        self._mqtt = mqtt
        self._net = Net(self.cloud.ep["timeout_ms"])
        self._client = None
        self._link = None
        self._hdr = bytearray(7)  # PUBLISH fixed header + topic length, reused

    # ----- writing ---------------------------------------------------------

    def _wake(self):
        # queued while up: out now, as report() always did
        if self.connected:
            self._flush(time.ticks_ms())

    def _flush(self, until):
        """Write pending (un)subscriptions, then queued messages in order
        until the outbox is empty or ``until`` has passed (at least one goes
        out per call): a slow broker holds a call for at most one more
        PUBACK wait."""
        try:
            while self.connected:
                f = self.next_sub()
                if f is not None:
                    self._subscribe(f)
                    continue
                item = self.next_out()
                if item is None:
                    return
                # PUBLISH written by mqtt_wire, not umqtt (umqtt_link says why); a
                # QoS 1 one waits for its PUBACK (window 1)
                topic, msg, qos, retain, pid = item
                write_publish(self._link, self._hdr, topic, msg, qos, retain, pid)
                if qos:
                    self._await(PUBACK, pid, "PUBACK")
                else:
                    self.written(item)
                if time.ticks_diff(until, time.ticks_ms()) <= 0:
                    return
        except Exception as e:
            self._lost(e)

    def _await(self, op, pid, name):
        """Read packets until the ack ``op`` for ``pid``.  Downlinks on the
        way go to _on_msg as usual, PUBACKs to the core; other acks are
        dropped."""
        link = self._link
        end = link._end()
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                break
            if link.ready(left):
                # one whole packet within one deadline; a PUBACK is the
                # core's, another ack nobody waits for is dropped
                got = link.packet(self._on_msg)
                if got == PUBACK:
                    self.puback(link.pid)
                if got == op and link.pid == pid:
                    return
        from .retry import no_ack
        raise no_ack(name, self.cloud.ep["timeout_ms"])

    def _subscribe(self, filters):
        """One SUBSCRIBE for all filters (or an UNSUBSCRIBE when their qos is
        None), built by mqtt_wire.subscribe_packet."""
        if not filters:
            return
        pid = self.next_pid()
        self._link.write(subscribe_packet(filters, pid))
        if filters[0][1] is None:
            self._await(UNSUBACK, pid, "UNSUBACK")
        else:
            self._await(SUBACK, pid, "SUBACK")
            self.suback(filters, self._link.codes)

    # ----- connection ------------------------------------------------------

    def connect(self):
        """Connect now, then send the backlog within one timeout_ms of the
        start.  Returns True when up.  Raises AuthError when the cloud
        rejects the credentials; other failures are logged and retried by poll()."""
        t0 = time.ticks_ms()
        try:
            self._open()
        except Exception as e:
            self.failed(e, time.ticks_ms())
            if isinstance(e, AuthError):
                raise
            return False
        if self.backlog():
            self._flush(time.ticks_add(t0, self.cloud.ep["timeout_ms"]))
        return self.connected

    def _open(self):
        cloud = self.cloud
        ep = cloud.ep
        cid, user, pw, will = self.login()
        ctx = tls = None
        if ep["tls"]:
            if self._ctx is None:
                from .tls import context
                self._ctx = context(ep["ca"], ep["verify"], ep["cert"], ep["key"])
            ctx = self._ctx
            from .umqtt_link import Tls
            tls = Tls(ctx, ep["host"])
        mod = self._mqtt
        # 1.3.x takes ``ssl`` as a flag and imports ``ussl``; >= 1.4 calls
        # ssl.wrap_socket(): Tls is both
        c = mod.MQTTClient(cid, ep["host"], ep["port"], user, pw,
                           keepalive=ep["keepalive"], ssl=tls or False)
        c.set_callback(self._on_msg)
        if will:
            c.set_last_will(will[0], will[1], will[2], will[3])
        import sys
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
            from .retry import malformed_connack
            raise malformed_connack(e)
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
            self._subscribe(self.filters())
            for topic, payload, qos, retain in self.greeting():
                pid = self.next_pid() if qos else 0
                write_publish(link, self._hdr, topic, payload, qos, retain, pid)
                if qos:
                    self._await(PUBACK, pid, "PUBACK")
        except Exception:
            self._close_sock(c)
            self._client = self._link = None
            raise
        link.until = None   # from now on each packet has its own deadline
        self.up(time.ticks_ms(), "%s:%d%s" % (ep["host"], ep["port"], " (TLS)" if ctx else ""))

    def _close_sock(self, c):
        try:
            if c.sock:
                c.sock.close()
        except Exception:
            pass

    def _lost(self, e):
        """The link failed: close it; the core puts back what was in flight,
        counts the loss and plans the reconnect."""
        link = self._link
        # working: the broker sent something after the session was set up
        worked = link is not None and time.ticks_diff(link.rx, self._up_since) > 0
        if self._client:
            self._close_sock(self._client)
        self._client = self._link = None
        self.lost(e, time.ticks_ms(), worked)

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
            if not self.connected and not self.connect_in(time.ticks_ms()):
                try:
                    self.connect()   # a refusal is in .error and the "auth" event
                except AuthError:
                    pass
            if self._in:
                self.dispatch()
            coalesced_in = self.coalesced(time.ticks_ms())
            left = time.ticks_diff(deadline, time.ticks_ms())
            if self.connected:
                try:
                    # PINGREQ when the core says one is due; a dead link is an OSError
                    link = self._link
                    now = time.ticks_ms()
                    wait = self.keepalive(now, link.rx, link.tx)
                    if wait == DEAD:
                        raise self.silence(now, link.rx)
                    if wait == PING:
                        self._client.ping()
                        self.pinged(now)
                        wait = self.keepalive(now, link.rx, link.tx)
                    wait = min(wait, coalesced_in)
                    if self.backlog():
                        self._flush(deadline)
                    if self.connected and link.ready(max(0, min(left, wait))) \
                            and link.packet(self._on_msg) == PUBACK:
                        self.puback(link.pid)
                except Exception as e:
                    self._lost(e)
            elif left > 0:
                until = self.connect_in(time.ticks_ms())
                time.sleep_ms(max(0, min(left, until, 1000)))
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                break
        if self._in:
            self.dispatch()

    def _on_msg(self, topic, msg):
        # Runs inside a packet read: the core only queues it.
        link = self._link
        dropped = 0
        if link is not None and link.dropped:
            dropped = link.dropped
            link.dropped = 0
        self.received(topic, msg, dropped)
