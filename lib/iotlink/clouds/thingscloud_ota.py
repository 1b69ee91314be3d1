"""ThingsCloud OTA: the platform sends the command ``otaUpgrade`` with
params url and version (upgrade: true); the device downloads, replies
``{"ota_result": 0}`` (0 = done) and reboots.  This runs the download.

    @dev.command
    def cmd(req):
        if req.name == "otaUpgrade":
            with open("fw.new", "wb") as f:
                out = thingscloud_ota.upgrade(req.params, f.write, ca="ca.der")
            if out and out["ota_result"] == 0:
                reboot.append(1)     # reset after dev.poll() has sent the reply
            return out

Optional check fields, used when the order carries them (their names are
unverified): sha256, md5 (hex), size / file_size (bytes).
"""

from .thingscloud import OTA_OK, OTA_DOWNLOAD, OTA_VERIFY, OTA_FAILED
from .. import log


def upgrade(params, sink, ca=None, verify=True, progress=None, timeout_s=10, headers=None):
    """Download ``params["url"]`` into ``sink(bytes)``; the reply params:
    {"ota_result": code, "version": ...} (with "error" on failure), or None
    when the order says upgrade: false."""
    if not isinstance(params, dict):
        return {"ota_result": OTA_FAILED, "error": "params must be an object"}
    if "upgrade" in params and not params["upgrade"]:
        return None
    url, ver = params.get("url"), params.get("version")
    out = {"ota_result": OTA_OK, "version": ver}
    if not isinstance(url, str) or not isinstance(ver, str):
        out["ota_result"], out["error"] = OTA_FAILED, "url and version must be strings"
        return out
    size = params.get("size", params.get("file_size"))
    size = size if isinstance(size, int) and not isinstance(size, bool) else None
    sha = params.get("sha256")
    md5 = params.get("md5")
    h = None
    if isinstance(md5, str):
        try:
            import hashlib
            h = hashlib.md5()
        except (ImportError, AttributeError):
            log.warn("no hashlib.md5 on this port: md5 not checked")
    write = sink
    if h is not None:
        def write(b):
            h.update(b)
            sink(b)
    from .. import ota
    try:
        ota.download(url, write, sha256=sha if isinstance(sha, str) else None, size=size,
                     headers=headers, progress=progress, ca=ca, verify=verify, timeout_s=timeout_s)
    except ValueError as e:
        out["ota_result"], out["error"] = (OTA_VERIFY if "mismatch" in str(e) or "bytes" in str(e)
                                           else OTA_FAILED), str(e)
        return out
    except OSError as e:
        out["ota_result"], out["error"] = OTA_DOWNLOAD, str(e)
        return out
    if h is not None:
        from binascii import hexlify
        if hexlify(h.digest()).decode() != md5.lower():
            out["ota_result"], out["error"] = OTA_VERIFY, "MD5 mismatch"
    return out


def _code(kind):
    if kind in ("signal", "timeout", "download"):
        return OTA_DOWNLOAD
    if kind == "verify":
        return OTA_VERIFY
    return OTA_OK if kind == "ok" else OTA_FAILED


def attach(dev, upd, command=None):
    """ota_app.attach for ThingsCloud: the ``otaUpgrade`` command installs
    the package at params.url (an app bundle, or an ESP32 image when it says
    ``"type": "firmware"``) and is answered {"ota_result": 0, "version"} once
    it is staged and switched in (the board then restarts); a failure
    answers the codes above with "error".  After the restart the attribute
    ``version`` is the running one, and the event ``otaResult`` {ota_result,
    version, target, error} tells how the trial ended.  Other commands go to
    ``command``."""
    from ..ota_app import Refused, INTERNAL
    c = dev.cloud
    if upd.version:
        c.version = upd.version
    elif c.version:
        upd.version = c.version

    def on_command(req):
        if req.name != "otaUpgrade":
            if command is None:
                raise ValueError("unknown command %s" % req.name)
            return command(req)
        p = req.params
        if not isinstance(p, dict):
            return {"ota_result": OTA_FAILED, "error": "params must be an object"}
        if "upgrade" in p and not p["upgrade"]:
            return {"ota_result": OTA_OK, "version": upd.version}
        url, ver = p.get("url"), p.get("version")
        if not isinstance(url, str) or not isinstance(ver, str):
            return {"ota_result": OTA_FAILED, "error": "url and version must be strings"}
        size = p.get("size", p.get("file_size"))
        size = size if isinstance(size, int) and not isinstance(size, bool) else None
        sha = p.get("sha256") if isinstance(p.get("sha256"), str) else None
        try:
            if sha is None:
                raise Refused("verify", "order carries no sha256")
            upd.apply(url, ver, sha, size, None, None, p.get("type") == "firmware")
        except Exception as e:
            kind = e.kind if isinstance(e, Refused) else INTERNAL
            return {"ota_result": _code(kind), "version": upd.version, "error": str(e)}
        return {"ota_result": OTA_OK, "version": ver}

    def report(r):
        out = {"ota_result": _code(r["kind"]), "version": r.get("version") or upd.version}
        if r.get("target"):
            out["target"] = r["target"]
        if r["kind"] != "ok":
            out["error"] = r.get("text")
        dev.event("otaResult", out)
    dev.command(on_command)
    upd.send = report
