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
