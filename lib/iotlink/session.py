"""The logic of a cloud session, without any I/O: the sans-I/O core a driver
runs (``device.Device`` blocking; an asyncio driver the same way).

It holds the outbox and the messages in flight, the inbox, the handlers and
the dispatch of decoded requests to them, every reply (error replies and the
inbox-full refusal included), the last reported state, stats, report
coalescing, packet ids, the subscription list, and the decisions of when to
ping, when a link is dead and when to connect again.  It never touches a
socket, never sleeps and reads no clock of its own: ``ticks`` (a ticks_ms
function) and ``clock`` (Unix time for codec timestamps, the
``iotlink.clock`` module on a board) are given by the driver, and every
driver-facing method takes ``now`` (ticks ms) as an argument.  What the
driver must do is written in docs/architecture.md; in short:

* connect when ``connect_in(now)`` is 0, with ``login()``; then SUBSCRIBE
  ``filters()``, publish ``greeting()``, and call ``up(now)`` (or
  ``failed(e, now)``);
* write what ``next_sub()`` and ``next_out()`` give while connected
  (``next_out`` fills a window of ``window`` messages in flight); call
  ``written(item)`` once a QoS 0 message is out, ``puback(pid)`` on PUBACK;
* hand every PUBLISH received to ``received()``; call ``dispatch()`` outside
  packet reads; ping on ``keepalive()`` == PING, end the link on DEAD;
* on any link failure ``lost(e, now, worked)``: messages in flight go back
  to the head of the outbox;
* ``_wake()`` is called when something was queued: a driver sends it now
  (blocking) or wakes its writer task (asyncio).

A handler that returns a coroutine or generator is handed to the driver's
``run(req, awaitable)``; the driver calls ``finish(req, result, exc)`` when
it completes.  Here (no event loop) ``run`` answers with an error reply.
"""

from . import log, config
from .request import COMMAND, SET, GET, SYSTEM
from .linkbase import LinkBase, Outbox, PING, DEAD  # noqa: F401 (PING, DEAD: for drivers)


class Session(LinkBase):
    """A cloud session's state and decisions (handlers, status events, stats,
    backoff and keepalive from LinkBase).  ``cfg`` is the whole config
    dict; ``ticks()`` gives ticks ms, ``clock`` has now(), now_ms(), set()
    (Unix time, as iotlink.clock)."""

    window = 1      # QoS 1 messages in flight at once; a driver may set more
    # what only subscribe() at run time and report coalescing set (see LinkBase)
    _extra = ()         # filters added at run time (subscribe())
    _subq = ()          # (un)subscriptions to send on the link that is up
    _pending = None     # coalesced reports {(service key, target, qos): props}
    _last_report = None  # ticks of the last report sent with coalescing on

    def __init__(self, cfg, ticks, clock):
        if not isinstance(cfg, dict):
            from .faults import not_a_dict
            raise not_a_dict()
        from . import clouds
        self.cloud = clouds.load(cfg)
        self.opts = config.session(cfg)
        self.ticks = ticks
        self.clock = clock
        now = ticks()
        LinkBase.__init__(self, now, {
            "connects": 0, "reconnects": 0, "queued": 0, "sent": 0, "dropped": 0,
            "replies": 0, "received": 0, "bad_input": 0, "handler_errors": 0,
            "link_errors": 0, "coalesced": 0, "inbox_dropped": 0})
        self.keepalive_ms = self.cloud.ep["keepalive"] * 1000
        self._out = Outbox(self.opts["outbox"])
        self._flight = []       # written, not yet acknowledged: in outbox order
        self._in = []
        self.state = {}     # last reported values: {service key: {name: value}}
        self.children = {}  # the same per sub-device: {target: {service key: {...}}}
        self._pid = 0

    # ----- handlers --------------------------------------------------------

    def command(self, fn):
        """Decorator: ``fn(request) -> dict`` answers every command."""
        return self.on(COMMAND, fn)

    # ----- uplinks ---------------------------------------------------------

    def report(self, props, service=None, qos=None, target=None):
        """Report property values (a dict) in the cloud's format.  Never raises
        on a link problem: the report waits in the outbox.  With
        ``session.report_min_ms`` set, reports closer together than that are
        merged and sent as one when the interval has passed."""
        cloud = self.cloud
        if cloud.RECEIVE_ONLY or not isinstance(props, dict):
            from .faults import cannot_report
            raise cannot_report(cloud, props)
        key = cloud.service_key(service)
        # encoded first: what the codec refuses raises here and is not
        # recorded, so a property get never answers with values never sent
        topic, payload = cloud.report(props, service, self.clock.now(), target)
        # the last reported values of the service, of this device or a child
        states = self.state if target is None else self.children.setdefault(target, {})
        st = states.get(key)
        if st is None:
            st = states[key] = {}
        st.update(props)
        if self.opts["report_min_ms"]:
            from .flow import coalesce
            if coalesce(self, (key, target, qos), props, self.ticks()):
                return
        self.publish(topic, payload, self.opts["qos"] if qos is None else qos)

    def event(self, name, params=None, qos=None, target=None):
        """Send an application event."""
        if self.cloud.RECEIVE_ONLY:
            from .faults import cannot_report
            raise cannot_report(self.cloud, {})
        topic, payload = self.cloud.event(name, params, self.clock.now(), target)
        self.publish(topic, payload, self.opts["qos"] if qos is None else qos)

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
        self._extra += ((topic, qos),)
        if self.connected:
            self._subq += (((topic, qos),),)
            self._wake()

    def unsubscribe(self, topic):
        """Drop a filter added with subscribe()."""
        topic = _b(topic)
        self._extra = tuple(f for f in self._extra if f[0] != topic)
        if self.connected:
            self._subq += (((topic, None),),)
            self._wake()

    def publish(self, topic, payload, qos=0, retain=False):
        """Raw publish on any topic, through the outbox like reports (and
        every report, event and reply)."""
        topic = _b(topic)
        payload = _b(payload)
        # checked here: a message that cannot be sent must not sit at the head
        # of the outbox and fail every reconnect
        if not (topic and isinstance(topic, (bytes, bytearray)) and qos in (0, 1)
                and isinstance(payload, (bytes, bytearray, memoryview))):
            from .faults import unsendable
            raise unsendable(topic, payload, qos)
        self._put(topic, payload, qos, retain)
        self._wake()

    def _put(self, topic, payload, qos, retain):
        """Into the outbox as (topic, payload, qos, retain, packet id), counted:
        whatever is queued is in time sent or dropped, so queued - sent -
        dropped is what the outbox and the window hold (``backlog()``)."""
        self.stats["queued"] += 1
        if self._out.put((topic, payload, qos, retain, self.next_pid() if qos else 0)) is not None:
            from .faults import dropped
            dropped(self)

    def _wake(self):
        """Something was queued; the driver overrides this to send it."""

    # ----- what the driver writes ------------------------------------------

    def backlog(self):
        """Messages not yet acknowledged: the outbox and the window."""
        return len(self._out) + len(self._flight)

    def next_pid(self):
        """A packet id, 1..65535 then 1 again."""
        self._pid = self._pid % 65535 + 1
        return self._pid

    def next_out(self):
        """The next message to write, (topic, payload, qos, retain, pid), now
        counted in flight; None when the outbox is empty or ``window``
        messages already wait for their PUBACK."""
        if len(self._flight) >= self.window:
            return None
        item = self._out.pop()
        if item is not None:
            self._flight.append(item)
        return item

    def written(self, item):
        """A message from next_out() is on the wire: a QoS 0 one is sent."""
        if not item[2] and item in self._flight:
            self._flight.remove(item)
            self.stats["sent"] += 1

    def puback(self, pid):
        """PUBACK for ``pid``: its message is sent, in whatever order acks
        come.  False when no message in flight has that id."""
        f = self._flight
        i = 0
        while i < len(f):
            if f[i][4] == pid and f[i][2]:
                del f[i]
                self.stats["sent"] += 1
                return True
            i += 1
        return False

    def next_sub(self):
        """The next SUBSCRIBE (filters with a qos) or UNSUBSCRIBE (qos None)
        to write on this link, or None."""
        q = self._subq
        if not q:
            return None
        self._subq = q[1:]
        return q[0]

    def filters(self):
        """Every filter to subscribe after CONNACK: the cloud's, then
        subscribe()'s (what was pending for the last link is in it)."""
        if self._subq:
            self._subq = ()
        return tuple(self.cloud.subscriptions()) + self._extra

    def suback(self, filters, codes):
        """Check a SUBACK's return codes: a refused filter is a link failure."""
        for i in range(len(codes)):
            if codes[i] & 0x80:
                from .faults import refused
                raise refused(filters[i][0])

    # ----- connecting ------------------------------------------------------

    def login(self):
        """(client id, username, password, will) for the next CONNECT, as
        bytes; fresh each attempt (passwords may be time-based)."""
        cid, user, pw = self.cloud.credentials(self.clock.now())
        if user is not None and pw is None:
            pw = ""  # a username with an empty password
        return _b(cid), _b(user), _b(pw), self.cloud.will()

    def greeting(self):
        """What the cloud wants published after CONNACK, before anything
        queued: ((topic, payload, qos, retain), ...)."""
        return self.cloud.on_connect(self.clock.now())

    def coalesced(self, now):
        """Queue the merged reports that are due; ms until the next are."""
        if not self._pending:
            return 60000
        from .flow import send_coalesced
        return send_coalesced(self, now)

    # ----- downlinks -------------------------------------------------------

    def received(self, topic, msg, dropped=0):
        """A PUBLISH arrived (``dropped``: it was over session.max_payload and
        not read).  Only queued here: the driver may be inside a packet read."""
        if dropped:
            from .faults import oversized
            oversized(self, dropped)
            return
        self.stats["received"] += 1
        if len(self._in) >= self.opts["inbox"]:
            from .flow import refuse_busy
            refuse_busy(self, topic, msg)
            return
        self._in.append((topic, msg))

    def dispatch(self):
        """Handle every request in the inbox; a coroutine handler goes to run()."""
        while self._in:
            topic, msg = self._in.pop(0)
            try:
                p = self.handle(topic, msg)
                if p is not None:
                    self.run(p[0], p[1])
            except Exception as e:
                # a bug in a codec must not stop the loop either
                from .faults import unhandled
                unhandled(self, topic, e)

    def run(self, req, awaitable):
        """The handler for ``req`` returned a coroutine or generator: a driver
        with an event loop runs it and calls finish(); this one cannot."""
        from .faults import no_loop
        no_loop(self, req, awaitable)

    def handle(self, topic, msg):
        """Decode one downlink and run its handler.  None when done (replied
        or nothing to answer), or (req, awaitable) when the handler returned a
        coroutine or generator: the driver awaits it, then calls finish()."""
        try:
            req = self.cloud.decode(topic, msg)
        except Exception as e:
            req = e
        if req is None or isinstance(req, Exception) or (req.error and req.kind != SYSTEM):
            # malformed or unknown: counted, a malformed request answered
            from .faults import bad_downlink
            bad_downlink(self, topic, req)
            return None
        if req.kind == SYSTEM:
            from .system import run
            run(self, req)
            return None
        fn = self._handlers.get(req.kind)
        if fn is None:
            if req.kind in (COMMAND, GET, SET):  # the kinds that expect an answer
                from .props import unhandled
                unhandled(self, req)
            return None
        try:
            result = fn(req)
        except Exception as e:
            self.finish(req, None, e)
            return None
        if hasattr(result, "send") and hasattr(result, "throw"):
            return req, result
        self.finish(req, result, None)
        return None

    def finish(self, req, result, exc):
        """Answer ``req`` with its handler's ``result``, or the exception
        ``exc`` it raised (an error reply)."""
        kind = req.kind
        if exc is None and (result is None or isinstance(result, dict)
                            or (kind == SET and result is True)
                            or kind not in (COMMAND, GET, SET)):
            if kind == SET:
                from .props import answer_set
                answer_set(self, req)
            else:
                self._reply(req, result, None)
            return
        from .faults import handler_failed
        handler_failed(self, req, result, exc)

    def _reply(self, req, result, err):
        if err is not None:
            err = log.mask(err)  # a handler's text may quote a secret
        try:
            out = self.cloud.reply(req, result, err)
        except Exception as e:
            from .faults import unencodable
            out = unencodable(self, req, err, e)
        if out is None:
            return
        self.stats["replies"] += 1
        self.publish(out[0], out[1], self.opts["qos"])


def _b(v):
    return v.encode() if isinstance(v, str) else v
