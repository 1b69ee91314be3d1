"""The device end of an IoTDA secure tunnel, bridged to a REPL on the board
(or to an app callback).

    tun = iotda_tunnel.Tunnel(dev, password="<console password>")
    while True:
        dev.poll(100)
        tun.poll(100)

The platform announces a tunnel over MQTT ($tunnel_manager / tunnel_notify:
address, token, lifetime); ``poll()`` then opens the WebSocket (its own
socket: the MQTT session is never touched), answers ``connect`` (checking
``password`` when one is set), runs each ``command`` as one REPL line
(iotlink.repl, its namespace started with ``names``) or passes it to
``handler(line) -> output text``, and sends
the output back as ``command_response``.  A command whose data is "\\x03"
(Ctrl-C) interrupts the running line: the line checks the tunnel from its
``print`` and ``sleep`` (see repl.py for why only there); while it runs the
MQTT Device is polled too, so its session stays up.

Limits: one tunnel at a time (a new notice replaces it); messages above
10 KB are refused (close 1009) and never sent (output is cut to fit); at
most 4 messages wait while a line runs; the tunnel closes when
``expires_in`` has passed, on ``disconnect``, and on any protocol or link
error, each logged once, none raised to the app.  The token is masked in
logs.  ``Tunnel`` registers itself as the Device's "event" handler;
other events go on to ``on_event``.
"""

import time
from micropython import const

from .. import log, ws
from ..clouds import iotda_tunnel as tp

_PING_MS = const(30000)
_WAITING = const(4)
_CTRL_C = "\x03"


class Tunnel:
    def __init__(self, dev, handler=None, password=None, ca=None, verify=True,
                 timeout_ms=10000, on_event=None, max_output=4096, names=None):
        self.dev = dev
        self.handler = handler
        self.password = password
        if password:
            log.secret(password)
        self.ca = ca if ca is not None else dev.cloud.ep["ca"]
        self.verify = verify
        self.timeout_ms = timeout_ms
        self.on_event = on_event
        self.max_output = max_output
        self.names = names
        self.ws = None
        self._notice = None
        self._token = None
        self._until = 0
        self._authed = False
        self._repl = None
        self._running = False
        self._waiting = []
        self.stats = {"opened": 0, "refused": 0, "lines": 0, "interrupts": 0, "bad_input": 0,
                      "closed": 0}
        dev.on("event", self.event)

    @property
    def open(self):
        return self.ws is not None

    def event(self, req):
        """The "event" handler: keeps a tunnel_notify, hands other events on."""
        try:
            n = tp.notice(req)
        except ValueError as e:
            self.stats["bad_input"] += 1
            log.warn("tunnel: %s", e)
            return True
        if n is None:
            return self.on_event(req) if self.on_event else None
        log.secret(n[1], self._token)
        self._token = n[1]
        self._notice = n
        return True

    # ----- the link --------------------------------------------------------

    def _open(self, uri, token, expires_s):
        self.close("replaced by a new tunnel")
        try:
            self.ws = ws.connect(uri, self.ca, self.verify, self.timeout_ms, tp.FRAME_MAX,
                                 {"tunnel_access_token": token})
        except Exception as e:
            self.stats["refused"] += 1
            log.warn("tunnel not opened: %s", log.err(e))
            return
        self._until = time.ticks_add(time.ticks_ms(), expires_s * 1000)
        self._authed = not self.password
        self.stats["opened"] += 1
        log.info("tunnel open for %d s", expires_s)

    def close(self, why="closed"):
        w = self.ws
        if w is None:
            return
        self.ws = None
        self._waiting = []
        self.stats["closed"] += 1
        log.info("tunnel closed: %s", why)
        try:
            w.close()
        except Exception:
            pass

    def _send(self, kind, rid, text):
        self.ws.send(tp.fitted(kind, rid, text), False)

    def _next(self):
        """One whole message from the tunnel, or None (closes it on errors)."""
        w = self.ws
        try:
            got = w.recv()
        except Exception as e:
            self.close(log.err(e))
            return None
        if got is None:
            return None
        try:
            return tp.parse(got[1])
        except ValueError as e:
            self.stats["bad_input"] += 1
            log.warn("tunnel: %s", e)
            return None

    def poll(self, timeout_ms=0):
        """Open an announced tunnel, answer what arrived, ping, close on expiry.
        Returns within ``timeout_ms`` plus one socket timeout (plus a line's run)."""
        n = self._notice
        if n is not None:
            self._notice = None
            self._open(*n)
        if self.ws is None:
            if timeout_ms > 0:
                time.sleep_ms(timeout_ms)
            return
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.ws is not None:
            if time.ticks_diff(time.ticks_ms(), self._until) >= 0:
                self.close("expired")
                return
            if self._waiting:
                self._handle(self._waiting.pop(0))
                continue
            w = self.ws
            left = time.ticks_diff(end, time.ticks_ms())
            try:
                if time.ticks_diff(time.ticks_ms(), w.tx) >= _PING_MS:
                    self._send("ping", None, None)
                ready = w.ready(max(0, min(left, time.ticks_diff(self._until, time.ticks_ms()))))
            except Exception as e:
                self.close(log.err(e))
                return
            if ready:
                m = self._next()
                if m is not None:
                    self._handle(m)
            if time.ticks_diff(end, time.ticks_ms()) <= 0:
                return

    # ----- the protocol ----------------------------------------------------

    def _handle(self, m):
        kind, rid, data = m
        try:
            if kind == "connect":
                self._connect(rid, data)
            elif kind == "command":
                self._command(rid, data)
            elif kind == "disconnect":
                self.close("disconnect from the platform")
            elif kind != "pong":
                self.stats["bad_input"] += 1
                log.warn("tunnel: %s ignored", kind[:24])
        except Exception as e:
            self.close(log.err(e))

    def _connect(self, rid, data):
        pw = data.get("password") if isinstance(data, dict) else None
        if self.password and pw != self.password:
            self._authed = False
            self._send("connect_response", rid, "failed: wrong password")
            return
        self._authed = True
        self._send("connect_response", rid, "success")

    def _command(self, rid, line):
        if not isinstance(line, str):
            self.stats["bad_input"] += 1
            self._send("command_response", rid, "error: data must be the line as a string")
            return
        if not self._authed:
            self._send("command_response", rid, "error: connect with the password first")
            return
        if line == _CTRL_C:
            self._send("command_response", rid, "")   # nothing running
            return
        self.stats["lines"] += 1
        if self.handler is not None:
            try:
                out = self.handler(line)
            except Exception as e:
                out = log.mask(log.err(e))
        else:
            if self._repl is None:
                from ..repl import Repl
                self._repl = Repl(self._check, self.max_output, names=self.names)
            self._running = True
            try:
                out = self._repl.run(line)
            finally:
                self._running = False
        if self.ws is not None:   # closed while the line ran: nobody to tell
            self._send("command_response", rid, out if isinstance(out, str) else repr(out))

    def _check(self):
        """Called from a running line: keep the MQTT session up, and raise
        KeyboardInterrupt for Ctrl-C, a closed tunnel or its expiry."""
        try:
            self.dev.poll(0)
        except Exception as e:
            log.warn("poll from a tunnel line: %s", log.err(e))
        w = self.ws
        if w is None:
            raise KeyboardInterrupt
        if time.ticks_diff(time.ticks_ms(), self._until) >= 0:
            self.close("expired")
            raise KeyboardInterrupt
        while w.ready(0):
            m = self._next()
            if self.ws is None:
                raise KeyboardInterrupt
            if m is None:
                continue
            kind, rid, data = m
            if kind == "command" and data == _CTRL_C:
                self.stats["interrupts"] += 1
                self._send("command_response", rid, "")
                raise KeyboardInterrupt
            if kind == "disconnect":
                self.close("disconnect from the platform")
                raise KeyboardInterrupt
            if kind == "pong":
                continue
            if len(self._waiting) >= _WAITING:
                self.stats["bad_input"] += 1
                if kind == "command":
                    self._send("command_response", rid, "error: busy, a line is running")
                continue
            self._waiting.append(m)
