"""An IoTDA device over the HTTPS device API, for boards that wake, send and sleep.

    dev = iotlink.connect(cfg)        # cloud.transport "https" -> this Device
    dev.report({"temperature": 21.5}) # one POST; raises when it was not accepted
    dev.event("alarm", {"level": 3})  # messages/up
    dev.child("kid_1").report({...})  # gateway report naming the child

Same config and the same calls as the MQTT Device, but no session: every
call is one HTTPS request, answered before it returns (no outbox: a board
that sleeps loses RAM anyway, so a failure is the app's to keep or drop).
HTTPS has no downlinks: handlers other than "status" are never called, and
``poll(ms)`` only waits ``ms``.

The access_token from /v5/device-auth is kept and renewed before
``expires_in`` runs out (a tenth of it, at most 5 minutes, early), and once
more when a request is answered 403 IOTDA.000004.  After a rate-limit answer
(403 IOTDA.021101/021102) nothing is sent until its ``retry_ms`` has passed:
calls raise ``RateLimited`` at once, without touching the network.
A refused secret (AuthError) is not tried again for
``session.auth_retry_ms`` (default 5 min): calls raise the same AuthError.
The password and the token are registered with ``log.secret``.
"""

import time
from micropython import const

from .. import config, clock, http, log
from ..errors import AuthError, ConfigError
from ..linkbase import LinkBase
from ..clouds import iotda_https as api

_ANSWER_MAX = const(2048)


class Device(LinkBase):
    """Handlers, status events and stats as every link has them (LinkBase);
    no session to keep up."""

    def __init__(self, cfg):
        cfg = config.load(cfg) if isinstance(cfg, str) else cfg
        from ..clouds.iotda import Cloud
        self.cloud = c = Cloud(cfg)
        if c.transport != "https":
            raise ConfigError("cloud.transport: must be \"https\" for the HTTPS device")
        if c.secret is None:
            raise ConfigError("cloud.secret: required with cloud.transport https "
                              "(device-auth has no X.509 login)")
        ep = c.ep
        self._base = "%s://%s:%d" % ("https" if ep["tls"] else "http", ep["host"], ep["port"])
        self._token = None
        self._token_at = 0
        self._token_ms = 0
        self._hold_until = None
        self._backoff = 0
        self._auth_retry_ms = config.session(cfg)["auth_retry_ms"]
        self._auth_hold = None   # after a refused secret: no device-auth before this
        LinkBase.__init__(self, time.ticks_ms(), {"sent": 0, "auths": 0, "refreshed": 0,
                                                  "rate_limited": 0, "errors": 0})
        self.state = {}

    # ----- what the MQTT Device has too ------------------------------------

    def on(self, kind, fn=None):
        """Register a handler; only "status" ("up", "down", "auth") is ever
        called: HTTPS carries no downlinks."""
        if fn is not None and kind != "status":
            log.warn("iotda https: no downlinks, a %s handler is never called", kind)
        return LinkBase.on(self, kind, fn)

    def command(self, fn):
        return self.on("command", fn)

    def connect(self):
        """Authenticate now.  True when a token was obtained; AuthError when
        the secret is refused; other failures are logged (the next request
        tries again)."""
        try:
            self._auth()
        except AuthError:
            raise
        except Exception as e:
            log.warn("iotda https: device-auth failed: %s", log.err(e))
        return self.connected

    def disconnect(self):
        self._token = None
        self.connected = False

    def poll(self, timeout_ms=0):
        """Nothing arrives over HTTPS: only waits ``timeout_ms``."""
        if timeout_ms > 0:
            time.sleep_ms(timeout_ms)

    def report(self, props, service=None, qos=None, target=None):
        """POST one service's properties (a child's as a gateway report).
        ``qos`` is accepted for the same calls as MQTT and ignored."""
        if not isinstance(props, dict):
            raise TypeError("report() takes a dict of property values")
        c = self.cloud
        if target is not None:
            self.report_children({target: {service or c.service: props}})
            return
        self._post(api.path(c, "properties/report"), api.report_body(c, props, service, clock.now()))
        self.state.setdefault(c.service_key(service), {}).update(props)

    def event(self, name, params=None, qos=None, target=None):
        """An application event, as messages/up ``{"name", "content"}`` like MQTT."""
        self.message(params if params is not None else {}, name, target)

    def message(self, content, name=None, target=None):
        """messages/up in the system format (content: dict or str)."""
        self._post(api.path(self.cloud, "messages/up"), api.message_body(content, name, target))

    def child(self, target):
        from ..child import Child
        return Child(self, target)

    def report_children(self, devices):
        """Children's properties ``{child_id: {service_id: {name: value}}}``:
        one POST per 50 children."""
        c = self.cloud
        p = api.path(c, "gateway/sub-devices/properties/report")
        for body in api.sub_bodies(c, devices, clock.now()):
            self._post(p, body)

    def publish(self, topic, payload, qos=0, retain=False):
        raise NotImplementedError("iotda https: no topics; use report(), event() or message()")

    # ----- requests --------------------------------------------------------

    def _request(self, path, body, headers):
        try:
            ep = self.cloud.ep
            return http.request("POST", self._base + path, body, headers, ep["timeout_ms"],
                                ep["ca"], ep["verify"], _ANSWER_MAX, False)
        except Exception as e:
            self.stats["errors"] += 1
            if self.connected:
                self.connected = False
                self._status("down", log.err(e))
            raise

    def _check_hold(self):
        h = self._hold_until
        if h is not None:
            left = time.ticks_diff(h, time.ticks_ms())
            if left > 0:
                raise api.RateLimited(403, None, "rate limited: retry in %d ms" % left, left)
            self._hold_until = None

    def _failed(self, status, answer):
        e = api.error_of(status, answer, api.next_backoff(self._backoff))
        if isinstance(e, api.RateLimited):
            self._backoff = e.retry_ms
            self._hold_until = time.ticks_add(time.ticks_ms(), e.retry_ms)
            self.stats["rate_limited"] += 1
        elif isinstance(e, AuthError):
            self.error = e
            self.connected = False
            self._auth_hold = time.ticks_add(time.ticks_ms(), self._auth_retry_ms)
            self._status("auth", str(e))
        return e

    def _auth(self):
        self._check_hold()
        h = self._auth_hold
        if h is not None:
            if time.ticks_diff(h, time.ticks_ms()) > 0:
                raise self.error   # refused before: not asked again for session.auth_retry_ms
            self._auth_hold = None
        c = self.cloud
        status, answer = self._request(api.AUTH_PATH, api.auth_body(c, clock.now()),
                                       {"Content-Type": "application/json"})
        if status != 200:
            raise self._failed(status, answer)
        tok, exp = api.token_of(status, answer)
        log.secret(tok, self._token)
        self._token = tok
        self._token_at = time.ticks_ms()
        # renewed a tenth of its life (at most 5 min) before it runs out
        self._token_ms = (exp - min(exp // 10, 300)) * 1000
        self.stats["auths"] += 1
        self.error = None
        if not self.connected:
            self.connected = True
            self._status("up", None)

    def _post(self, path, body):
        self._check_hold()
        if self._token is None or time.ticks_diff(time.ticks_ms(), self._token_at) >= self._token_ms:
            if self._token is not None:
                self.stats["refreshed"] += 1
            self._auth()
        for retry in (False, True):
            status, answer = self._request(path, body, {"Content-Type": "application/json",
                                                        "access_token": self._token})
            if status == 200:
                self._backoff = 0
                self.stats["sent"] += 1
                return
            e = self._failed(status, answer)
            if isinstance(e, api.TokenInvalid) and not retry:
                self.stats["refreshed"] += 1
                self._auth()
                continue
            raise e
