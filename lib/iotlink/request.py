"""The one vendor-neutral shape a handler sees."""

# Request kinds
COMMAND = "command"   # run something, reply with a result
SET = "set"           # write properties, reply ok/error
GET = "get"           # read properties, reply with values
MESSAGE = "message"   # free-form downlink, no reply
EVENT = "event"       # platform event for the app, no reply
DATA = "data"         # raw data stream downlink, no reply
SYSTEM = "system"     # handled inside the library (time sync, version query, ...)


class Request:
    """A decoded downlink.

    kind     one of the constants above
    name     command / event / stream name (or None)
    params   dict for commands and set; list of names (or None = all) for get;
             bytes or str for messages and data
    service  the cloud's service / module id, where it has one
    target   sub-device id when a gateway receives for a child, else None
    rid      the correlation id the reply must carry
    error    set by the codec when the request is malformed: the device then
             sends the cloud's error reply without calling the handler
    """

    def __init__(self, kind, name=None, params=None, service=None, target=None,
                 rid=None, error=None):
        self.kind = kind
        self.name = name
        self.params = params
        self.service = service
        self.target = target
        self.rid = rid
        self.error = error

    def __repr__(self):
        return "<Request %s %s%s>" % (self.kind, self.name or "",
                                      " for " + self.target if self.target else "")
