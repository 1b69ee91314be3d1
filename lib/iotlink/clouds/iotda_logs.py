"""IoTDA device logs ($log, while the platform has log collection on) and the
SDK information report ($sdk_info)."""

from .iotda_events import event_up

LOG_TYPES = ("DEVICE_STATUS", "DEVICE_PROPERTY", "DEVICE_MESSAGE", "DEVICE_COMMAND")


def log_report(cloud, kind, content, now, timestamp=None):
    """$log log_report."""
    if kind not in LOG_TYPES:
        raise ValueError("log type must be one of " + ", ".join(LOG_TYPES))
    p = {"type": kind, "content": content}
    if timestamp is not None:
        p["timestamp"] = str(timestamp)
    return event_up(cloud, "$log", "log_report", p, now)


def sdk_info(cloud, now, version, device_ip=None):
    """$sdk_info sdk_info_report: this library's version, the configured ones."""
    p = {"device_sdk_version": "MicroPython_v" + version}
    if cloud.sw_version:
        p["sw_version"] = cloud.sw_version
    if cloud.fw_version:
        p["fw_version"] = cloud.fw_version
    if device_ip:
        p["device_ip"] = device_ip
    return event_up(cloud, "$sdk_info", "sdk_info_report", p, now)
