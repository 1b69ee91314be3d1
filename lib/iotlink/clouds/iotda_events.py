"""IoTDA platform events: the events/up builder the optional parts share, what
goes up at connect when configured (version report, time sync request, the
bootstrap question), and events/down (time sync answers set the clock,
version queries are answered, upgrade orders go to the "ota" handler, every
other event, shadow and bootstrap answers to the "event" handler).  Imported
by iotda.py when a session needs it."""

from ..clock import compact
from ..request import Request, EVENT, SYSTEM
from . import dumps, json_object
from .iotda import check_size, target_of, MSG_MAX


def event_up(cloud, service_id, event_type, paras, now, target=None, event_id=None):
    """events/up with one of the platform's $ services."""
    s = {"service_id": service_id, "event_type": event_type, "paras": paras}
    if now is not None:
        s["event_time"] = compact(now)
    if event_id is not None:
        s["event_id"] = event_id
    body = {"services": [s]}
    if target is not None:
        body["object_device_id"] = target
    return cloud._sys + b"events/up", check_size(dumps(body), MSG_MAX, "event")


def time_sync_request(cloud, now_ms):
    """Ask for the platform time; the answer sets the clock (see system())."""
    return event_up(cloud, "$time_sync", "time_sync_request", {"device_send_time": int(now_ms)}, None)


def on_connect(cloud, now):
    """What goes up after every connect: the bootstrap question alone, or the
    version report and time sync request as configured."""
    if cloud.bootstrap:  # IoTDP: ask where to go, nothing else
        from .iotda_bootstrap import request
        return [request(cloud)]
    out = []
    if cloud.sw_version or cloud.fw_version:
        from .iotda_ota import version_report
        t, p = version_report(cloud, now)
        out.append((t, p.encode(), 1, False))
    if cloud.time_sync:
        t, p = time_sync_request(cloud, now * 1000)
        out.append((t, p.encode(), 1, False))
    return out


def decode(cloud, payload):
    """events/down: Request(SYSTEM, "events", [(service_id, event_type, paras, event_id)])."""
    body = json_object(payload)
    items = []
    ss = body.get("services")
    for s in ss if isinstance(ss, list) else ():
        if not isinstance(s, dict):
            continue
        sid, et, p = s.get("service_id"), s.get("event_type"), s.get("paras")
        if isinstance(sid, str) and isinstance(et, str) and isinstance(p, (dict, type(None))):
            items.append((sid, et, p or {}, s.get("event_id")))
    return Request(SYSTEM, "events", items, target=target_of(cloud, body))


def system(cloud, req, now_ms):
    """Cloud.system: events/down, and shadow and bootstrap answers to the
    "event" handler."""
    if req.name == "shadow":
        return [("event", EVENT, Request(EVENT, "shadow", req.params, target=req.target, rid=req.rid))]
    if req.name == "bootstrap":
        from .iotda_bootstrap import system
        return system(req)
    acts = []
    tgt = req.target
    for sid, et, p, eid in req.params or ():
        if sid == "$time_sync" and et == "time_sync_response" and tgt is None:
            ms = synced_ms(p, now_ms)
            if ms is not None:
                acts.append(("clock", ms))
        elif sid == "$ota" and et == "version_query" and tgt is None and \
                (cloud.sw_version or cloud.fw_version):
            from .iotda_ota import version_report
            t, body = version_report(cloud, now_ms // 1000)
            acts.append(("publish", t, body))
        elif sid == "$ota":
            from .iotda_ota import OTA_UPGRADES
            if et in OTA_UPGRADES and not (isinstance(p.get("url"), str) and isinstance(p.get("version"), str)):
                continue  # unusable upgrade order: no url or version
            acts.append(("event", "ota", Request(EVENT, et, p, sid, tgt, eid)))
        else:
            acts.append(("event", EVENT, Request(EVENT, et, p, sid, tgt, eid)))
    return acts


def _int(v):
    """A millisecond time sent as a JSON number or a digit string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


def synced_ms(paras, now_ms):
    """Unix ms now from a time_sync_response: (srv_recv + srv_send + dev_recv - dev_send) / 2.

    dev_recv is ``now_ms`` (the device clock when the answer is handled), so
    the result is off by half of any delay between arrival and handling plus
    half the asymmetry of the network path."""
    sent = _int(paras.get("device_send_time"))
    recv = _int(paras.get("server_recv_time"))
    send = _int(paras.get("server_send_time"))
    if sent is None or recv is None or send is None:
        return None
    return (recv + send + now_ms - sent) // 2
