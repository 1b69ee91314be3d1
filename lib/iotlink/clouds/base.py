"""The contract every cloud codec implements, the only way Device talks to one.

A codec is a ``Cloud(cfg)`` subclass of this class: pure protocol code, no
sockets, no clock reads (``now`` is Unix seconds, ``now_ms`` Unix ms, passed
in).  Device calls every method below with these signatures, whatever the
cloud.  What a cloud lacks raises NotImplementedError naming the cloud (e.g.
"mqtt: no sub-devices"), never a TypeError.

Attributes Device reads:

  NAME              the cloud type, as in config (for error texts)
  ep                the checked endpoint (config.endpoint())
  RECEIVE_ONLY      True: nothing can be reported (Device refuses report/event
                    before touching its state)
  REPORT_AFTER_SET  True: after a successful property set Device reports the
                    new values (clouds without a set acknowledgement topic)

Methods:

  credentials(now)             -> (client_id, username|None, password|None)
  subscriptions()              -> ((topic filter bytes, qos), ...)
  will()                       -> (topic, payload, retain, qos) or None
  on_connect(now)              -> ((topic, payload bytes, qos, retain), ...) sent after CONNACK
  report(props, service, now, target=None)  -> (topic, payload)
  event(name, params, now, target=None)     -> (topic, payload)
  decode(topic, payload)       -> Request or None (not this cloud's topic);
                                  may raise ValueError on a bad payload
  reply(req, result, err)      -> (topic, payload) answering req, or None
  system(req, now_ms)          -> actions for a SYSTEM Request (see iotlink/system.py)
  service_key(service)         -> the key of a service in Device.state

``target`` is a sub-device id (``Device.child(id)``), None for the device itself.
"""


class Cloud:
    NAME = "cloud"
    RECEIVE_ONLY = False
    REPORT_AFTER_SET = False

    def _missing(self, what):
        raise NotImplementedError("%s: %s" % (self.NAME, what))

    def no_sub_devices(self, target):
        """For report()/event() of a cloud without gateways: refuse a target."""
        if target is not None:
            self._missing("no sub-devices")

    def credentials(self, now):
        self._missing("no credentials()")

    def subscriptions(self):
        return ()

    def will(self):
        return None

    def on_connect(self, now):
        return ()

    def report(self, props, service, now, target=None):
        self._missing("no property reports")

    def event(self, name, params, now, target=None):
        self._missing("no events")

    def decode(self, topic, payload):
        self._missing("no decode()")

    def reply(self, req, result, err):
        return None

    def system(self, req, now_ms):
        return ()

    def service_key(self, service):
        """Device.state key of a service: None and "" are one key."""
        return service or ""
