"""The contract every cloud codec implements, the only way Device talks to one.

A codec is a module with a ``Cloud`` class built from the whole config dict:
pure protocol code, no sockets, no clock reads (``now`` is Unix seconds,
``now_ms`` Unix ms, passed in).  Device calls every method below with these
signatures, whatever the cloud.  What a cloud lacks raises
NotImplementedError naming the cloud (e.g. "mqtt: no sub-devices"), never a
TypeError.  tests/unit/test_contract.py checks every codec in ``TYPES``
against this module.

The contract is written down here rather than as a base class: every codec
defines all of it itself, so no shared class has to be loaded on the board
(a base class cost every session about 0.8 KB of heap even from ROMFS).

Attributes (class attributes of Cloud) Device reads:

  NAME              the cloud type, as in config (for error texts)
  RECEIVE_ONLY      True: nothing can be reported (Device refuses report/event
                    before touching its state)
  REPORT_AFTER_SET  True: after a successful property set Device reports the
                    new values (clouds without a set acknowledgement topic)
  ep                (instance) the checked endpoint, config.endpoint()

Methods:

  credentials(now)             -> (client_id, username|None, password|None)
  subscriptions()              -> ((topic filter bytes, qos), ...)
  will()                       -> (topic, payload, retain, qos) or None
  on_connect(now)              -> ((topic, payload bytes, qos, retain), ...) sent after CONNACK
  report(props, service, now, target=None)  -> (topic, payload)
  event(name, params, now, target=None)     -> (topic, payload)
  decode(topic, payload)       -> Request, or None for a topic not this cloud's;
                                  may raise ValueError on a bad payload
  reply(req, result, err)      -> (topic, payload) answering req, or None
  system(req, now_ms)          -> actions for a SYSTEM Request (see iotlink/system.py)
  service_key(service)         -> the key of a service in Device.state (None and
                                  "" are one key; a codec may map its default
                                  service to "" too)

``target`` is a sub-device id (``Device.child(id)``), None for the device itself.
"""

ATTRIBUTES = ("NAME", "RECEIVE_ONLY", "REPORT_AFTER_SET")
# method name and parameters after self, as the codecs must declare them
METHODS = (
    ("credentials", "now"),
    ("subscriptions", ""),
    ("will", ""),
    ("on_connect", "now"),
    ("report", "props, service, now, target=None"),
    ("event", "name, params, now, target=None"),
    ("decode", "topic, payload"),
    ("reply", "req, result, err"),
    ("system", "req, now_ms"),
    ("service_key", "service"),
)
