"""IoTDA OTA ($ota service): version reports, upgrade progress reports and
their result codes.  Upgrade orders arrive at the "ota" handler; answer them
with ``iotda_ota.progress(dev.cloud, ...)``."""

from micropython import const
from .iotda_events import event_up

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


def version_report(cloud, now, sw=None, fw=None, target=None):
    """OTA version report; None when no version is configured or given."""
    p = {}
    sw = sw or cloud.sw_version
    fw = fw or cloud.fw_version
    if sw:
        p["sw_version"] = sw
    if fw:
        p["fw_version"] = fw
    if not p:
        return None
    return event_up(cloud, "$ota", "version_report", p, now, target)


def progress(cloud, result_code, version, now, progress=None, description=None, target=None):
    """upgrade_progress_report: result_code OTA_* (0 success), progress 0..100."""
    if not isinstance(result_code, int) or not isinstance(version, str):
        raise TypeError("progress(cloud, result_code int, version str, ...)")
    p = {"result_code": result_code, "version": version}
    if progress is not None:
        if not 0 <= progress <= 100:
            raise ValueError("progress must be 0..100")
        p["progress"] = progress
    if description is not None:
        p["description"] = description
    return event_up(cloud, "$ota", "upgrade_progress_report", p, now, target)
