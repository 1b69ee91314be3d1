"""IoTDA gateway: sub-device property reports, status and the
$sub_device_manager requests.  ``Device.child(id).report()`` uses
sub_reports(); the rest the app calls with its Cloud first, e.g.
``dev.publish(*iotda_gateway.sub_add(dev.cloud, devices, now))``."""

from micropython import const
from . import dumps
from .iotda import service_entry, REPORT_MAX
from .iotda_events import event_up

_BATCH = const(100)            # children per gateway property report / status update
_SUB_OPS = const(50)           # children per add / delete request


def sub_reports(cloud, devices, now):
    """Children's properties ``{child_id: {service_id: {name: value}}}`` (or a
    list of such pairs, to keep an order) as a list of (topic, payload): at
    most 100 children and 64 KB per message."""
    topic = cloud._sys + b"gateway/sub_devices/properties/report"
    out, chunk, size = [], [], 0
    for cid, services in devices.items() if isinstance(devices, dict) else devices:
        e = dumps({"device_id": cid,
                   "services": [service_entry(cloud, k, v, now) for k, v in services.items()]})
        if 15 + len(e) > REPORT_MAX:
            raise ValueError("properties of %s alone are over 64 KB" % cid)
        if chunk and (len(chunk) >= _BATCH or size + len(e) + 15 > REPORT_MAX):
            out.append((topic, '{"devices":[' + ",".join(chunk) + "]}"))
            chunk, size = [], 0
        chunk.append(e)
        size += len(e) + 1
    if chunk:
        out.append((topic, '{"devices":[' + ",".join(chunk) + "]}"))
    return out


def sub_status(cloud, statuses, now):
    """Children online/offline ``{child_id: "ONLINE"|"OFFLINE"}``, 100 per message."""
    items = []
    for cid, st in statuses.items():
        if st not in ("ONLINE", "OFFLINE"):
            raise ValueError("status must be ONLINE or OFFLINE")
        items.append({"device_id": cid, "status": st})
    return [event_up(cloud, "$sub_device_manager", "sub_device_update_status",
                     {"device_statuses": items[i:i + _BATCH]}, now)
            for i in range(0, len(items), _BATCH)]


def sub_add(cloud, devices, now, event_id=None):
    """add_sub_device_request; devices: list of {node_id, product_id, ...} (<= 50)."""
    if not 0 < len(devices) <= _SUB_OPS:
        raise ValueError("1..50 children per add request")
    return event_up(cloud, "$sub_device_manager", "add_sub_device_request",
                    {"devices": devices}, now, None, event_id)


def sub_delete(cloud, device_ids, now, event_id=None):
    """delete_sub_device_request; a list of child device ids (<= 50)."""
    if not 0 < len(device_ids) <= _SUB_OPS:
        raise ValueError("1..50 children per delete request")
    return event_up(cloud, "$sub_device_manager", "delete_sub_device_request",
                    {"devices": device_ids}, now, None, event_id)


def sub_sync(cloud, version, now):
    """Ask for child changes since ``version`` (answered by add/delete notifies)."""
    return event_up(cloud, "$sub_device_manager", "sub_device_sync_request",
                    {"version": version}, now)
