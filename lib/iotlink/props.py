"""Property get and set as the Device answers them itself, from the values
last reported (``dev.state``, ``dev.children``), and the answer to a request
no handler is registered for; loaded on first use."""

from . import log
from .request import GET


def values(dev, req):
    """Answer a property get from the last reported values.  A codec marks
    "every service" with req.service == "*": then {service: values}."""
    states = dev.state if req.target is None else dev.children.get(req.target, {})
    if req.service == "*":
        return {k: dict(v) for k, v in states.items()}
    st = states.get(dev.cloud.service_key(req.service)) or {}
    names = req.params
    if not names:
        return dict(st)
    return {n: st[n] for n in names if n in st}


def answer_set(dev, req):
    """A property set succeeded: reply, then re-report the values (clouds that
    want it) or just remember them."""
    dev._reply(req, None, None)
    if not isinstance(req.params, dict):
        return
    if req.params and dev.cloud.REPORT_AFTER_SET:
        try:
            dev.report(req.params, req.service, None, req.target)
        except Exception as e:
            log.warn("re-report after set failed: %s", log.err(e))
    else:
        states = dev.state if req.target is None else dev.children.setdefault(req.target, {})
        key = dev.cloud.service_key(req.service)
        st = states.get(key)
        if st is None:
            st = states[key] = {}
        st.update(req.params)


def unhandled(dev, req):
    """A get, command or set with no handler registered for its kind: a get
    is answered from the last reported values, the others with an error reply."""
    if req.kind == GET:
        dev._reply(req, values(dev, req), None)
    else:
        dev._reply(req, None, "no %s handler on this device" % req.kind)
