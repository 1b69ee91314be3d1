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


# ota_app's failure kinds -> result codes
CODES = {"busy": OTA_BUSY, "signal": OTA_SIGNAL, "latest": OTA_LATEST, "storage": OTA_STORAGE,
         "timeout": OTA_TIMEOUT, "verify": OTA_VERIFY, "type": OTA_TYPE, "memory": OTA_MEMORY,
         "install": OTA_INSTALL, "download": OTA_INTERNAL, "internal": OTA_INTERNAL, "ok": OTA_OK}


def attach(dev, upd, command=None):
    """ota_app.attach for IoTDA: software_upgrade(_v2) orders install an app
    bundle, firmware_upgrade(_v2) an ESP32 image; progress goes up as
    upgrade_progress_report (0..80 % downloading, 90 installed, 100 once kept); the versions in version_report are
    the running ones."""
    from .. import clock
    from ..ota_app import Refused, INTERNAL
    c = dev.cloud
    if upd.version:
        c.sw_version = upd.version
    elif c.sw_version:
        upd.version = c.sw_version
    if upd.fw_version:
        c.fw_version = upd.fw_version
    elif c.fw_version:
        upd.fw_version = c.fw_version
    if command is not None:
        dev.command(command)

    def send(code, version, pct=None, text=None):
        t, p = progress(c, code, version or "unknown", clock.now(), pct, text)
        dev.publish(t, p, 1)

    def on_ota(req):
        p = req.params
        if req.name not in OTA_UPGRADES:
            return
        fw = req.name.startswith("firmware")
        v = p["version"]
        tok = p.get("access_token")
        if isinstance(tok, str):
            from .. import log
            log.secret(tok)
        hdr = {"Authorization": "Bearer " + tok} if isinstance(tok, str) and not req.name.endswith("_v2") else None
        size = p.get("file_size")
        size = size if isinstance(size, int) and not isinstance(size, bool) else None
        sign = p.get("sign") if isinstance(p.get("sign"), str) else None
        last = [-1]

        def step(done, total):   # the download is 0..80 %, installing 90, running 100
            pct = done * 80 // total if total else 0
            if pct // 10 > last[0]:
                last[0] = pct // 10
                send(OTA_OK, v, pct, "downloading")
        try:
            if sign is None:
                raise Refused("verify", "order carries no sign (SHA-256)")
            upd.apply(p["url"], v, sign, size, hdr, step, fw)
        except Exception as e:
            kind = e.kind if isinstance(e, Refused) else INTERNAL
            send(CODES.get(kind, OTA_INTERNAL), upd.fw_version if fw else upd.version, None, str(e))
            return
        send(OTA_OK, v, 90, "installed, restarting")   # 100 % once it has run on trial

    def report(r):
        send(CODES.get(r["kind"], OTA_INTERNAL), r.get("version") or (upd.fw_version if r.get("firmware")
             else upd.version), 100 if r["kind"] == "ok" else None, r.get("text"))
    dev.on("ota", on_ota)
    upd.send = report
