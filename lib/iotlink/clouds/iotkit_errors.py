"""iotkit: what is wrong with a malformed request downlink (the error its
reply carries).  Imported by iotkit.decode() when a request fails its checks."""

from ..request import GET


def malformed(req, body, method):
    """``req`` with the error of a request downlink whose ``body`` (the JSON
    read, or ValueError when it was none) failed the codec's checks; the id
    is kept when it is usable, for the error reply."""
    if body is ValueError:
        req.error = "payload is not UTF-8 JSON"
        return req
    if not isinstance(body, dict):
        req.error = "payload must be a JSON object"
        return req
    rid = body.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = "%d" % rid
    if isinstance(rid, str):
        req.rid = rid
    elif rid is not None:
        req.error = "id must be a string"
        return req
    m = body.get("method")
    if m is None:
        req.error = "method missing"
    elif m != method:
        req.error = "method does not match the topic"
    elif req.kind == GET:
        req.error = "params must be a list of property names"
    else:
        req.error = "params must be a JSON object"
    return req
