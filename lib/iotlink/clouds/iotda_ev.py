"""IoTDA, loaded on first use: platform events ($ota version reports and
upgrades, $time_sync, shadow and bootstrap answers, events/down), messages
up, property get answers.  Reached through ``iotda`` and ``iotda.Cloud``."""

import json
from micropython import const
from .. import log
from ..clock import compact
from ..request import Request, EVENT, SYSTEM
from .iotda import _SEP
from . import json_object as _obj

_MSG_MAX = const(1048576)      # any publish, log report (1 MB)

OTA_UPGRADES = ("firmware_upgrade", "software_upgrade", "firmware_upgrade_v2", "software_upgrade_v2")
# upgrade_progress_report result codes
OTA_OK = const(0)
OTA_BUSY = const(1)
OTA_SIGNAL = const(2)
OTA_LATEST = const(3)
OTA_BATTERY = const(4)
OTA_STORAGE = const(5)
OTA_TIMEOUT = const(6)
OTA_VERIFY = const(7)
OTA_TYPE = const(8)
OTA_MEMORY = const(9)
OTA_INSTALL = const(10)
OTA_INTERNAL = const(255)


def _limit(data, most, what):
    if len(data) > most:
        raise ValueError("%s of %d bytes is over the IoTDA limit of %d" % (what, len(data), most))
    return data


def _event(cloud, service_id, event_type, paras, now, target=None, event_id=None):
    """events/up with one of the platform's $ services."""
    s = {"service_id": service_id, "event_type": event_type, "paras": paras}
    if now is not None:
        s["event_time"] = compact(now)
    if event_id is not None:
        s["event_id"] = event_id
    body = {"services": [s]}
    if target is not None:
        body["object_device_id"] = target
    return cloud._sys + b"events/up", _limit(json.dumps(body, separators=_SEP), _MSG_MAX, "event")


class Ev:
    # methods of iotda.Cloud (installed there on first use)

    def version_report(self, now, sw=None, fw=None, target=None):
        """OTA version report; None when no version is configured or given."""
        p = {}
        sw = sw or self.sw_version
        fw = fw or self.fw_version
        if sw:
            p["sw_version"] = sw
        if fw:
            p["fw_version"] = fw
        if not p:
            return None
        return _event(self, "$ota", "version_report", p, now, target)

    def progress(self, result_code, version, now, progress=None, description=None, target=None):
        """upgrade_progress_report: result_code OTA_* (0 success), progress 0..100."""
        if not isinstance(result_code, int) or not isinstance(version, str):
            raise TypeError("progress(result_code int, version str, ...)")
        p = {"result_code": result_code, "version": version}
        if progress is not None:
            if not 0 <= progress <= 100:
                raise ValueError("progress must be 0..100")
            p["progress"] = progress
        if description is not None:
            p["description"] = description
        return _event(self, "$ota", "upgrade_progress_report", p, now, target)

    def time_sync_request(self, now_ms):
        """Ask for the platform time; the answer sets the clock (see system())."""
        return _event(self, "$time_sync", "time_sync_request", {"device_send_time": int(now_ms)}, None)

    def event(self, name, params, now):
        """An application event, as a system-format message up."""
        return self.message(params if params is not None else {}, name)

    def message(self, content, name=None, id=None, target=None):
        """messages/up in the system format (content: dict or str)."""
        body = {"content": content}
        if name is not None:
            body["name"] = name
        if id is not None:
            body["id"] = id
        if target is not None:
            body["object_device_id"] = target
        return self._sys + b"messages/up", _limit(json.dumps(body, separators=_SEP), _MSG_MAX, "message")


def get_reply(cloud, req, result, err):
    """The body of a property get answer."""
    if err is not None:
        ss = []
    elif result is not None and isinstance(result.get("services"), list):
        ss = result["services"]  # the handler built the IoTDA list itself
    elif req.service == "*":   # {service: values} for every service
        ss = [{"service_id": k or cloud.service, "properties": v}
              for k, v in (result or {}).items() if isinstance(v, dict)]
    else:
        ss = [{"service_id": req.service or cloud.service, "properties": result or {}}]
    return {"services": ss}


def on_connect(cloud, now):
    """What goes up after every connect: the bootstrap question alone, or the
    version report and time sync request as configured."""
    if cloud.bootstrap:  # IoTDP: ask where to go, nothing else
        body = json.dumps({"baseStrategyKeyword": cloud.keyword}, separators=_SEP) if cloud.keyword else ""
        return [(cloud._sys + b"bootstrap/up", body.encode(), 1, False)]
    out = []
    v = Ev.version_report(cloud, now)
    if v:
        out.append((v[0], v[1].encode(), 1, False))
    if cloud.time_sync:
        t = Ev.time_sync_request(cloud, now * 1000)
        out.append((t[0], t[1].encode(), 1, False))
    return out


def _target(cloud, body):
    t = body.get("object_device_id")
    return t if isinstance(t, str) and t and t != cloud.device_id else None


def decode(cloud, topic, payload):
    """Cloud.decode for events/down; the other downlinks iotda.py does not take
    itself go on to iotda_more."""
    if topic == cloud._sys + b"events/down":
        body = _obj(payload)
        items = []
        ss = body.get("services")
        for s in ss if isinstance(ss, list) else ():
            if not isinstance(s, dict):
                continue
            sid, et, p = s.get("service_id"), s.get("event_type"), s.get("paras")
            if isinstance(sid, str) and isinstance(et, str) and isinstance(p, (dict, type(None))):
                items.append((sid, et, p or {}, s.get("event_id")))
        return Request(SYSTEM, "events", items, target=_target(cloud, body))
    from .iotda_more import decode
    return decode(cloud, topic, payload)


def system(cloud, req, now_ms):
    """Cloud.system for events, shadow and bootstrap answers."""
    if req.name == "bootstrap":
        ds = req.params.get("deviceSecret")
        if isinstance(ds, str):
            log.secret(ds)
        return [("event", EVENT, Request(EVENT, "bootstrap", req.params))]
    if req.name == "shadow":
        return [("event", EVENT, Request(EVENT, "shadow", req.params, target=req.target, rid=req.rid))]
    acts = []
    tgt = req.target
    for sid, et, p, eid in req.params or ():
        if sid == "$time_sync" and et == "time_sync_response" and tgt is None:
            ms = synced_ms(p, now_ms)
            if ms is not None:
                acts.append(("clock", ms))
        elif sid == "$ota" and et == "version_query" and tgt is None and \
                (cloud.sw_version or cloud.fw_version):
            t, body = Ev.version_report(cloud, now_ms // 1000)
            acts.append(("publish", t, body))
        else:
            kind = "ota" if sid == "$ota" else EVENT
            if et in OTA_UPGRADES and not (isinstance(p.get("url"), str) and isinstance(p.get("version"), str)):
                continue  # unusable upgrade order: no url or version
            acts.append(("event", kind, Request(EVENT, et, p, sid, tgt, eid)))
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
