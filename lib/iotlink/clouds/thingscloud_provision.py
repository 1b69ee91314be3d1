"""ThingsCloud AccessToken at run time ("一型一密"): only the ProjectKey is in
the firmware; the device asks the device API for its certificate once and
keeps it in a small JSON file.

    from iotlink import config
    from iotlink.clouds import thingscloud_provision as tp
    cfg = tp.provision(config.load("config.json"))   # network on first boot only
    dev = iotlink.connect(cfg)

``cloud`` fields used: api (the device HTTP API, e.g. http://sh-1-api.iot-api.com),
project_key, device_key (default: the vendor SDK's chip id from
machine.unique_id()), type_key (optional: with auto-registration on the
device type an unknown device_key creates the device), customer_id
(optional), api_ca / api_verify for https.  An ``access_token`` already in the
config is used as it is.  This module does I/O; the codec stays pure.
"""

import json
from .. import config, log
from ..errors import ConfigError

CACHE = "thingscloud.json"


def certificate(api, project_key, device_key, type_key=None, customer_id=None, timeout=10,
                ca=None, verify=True):
    """POST {api}/device/v1/certificate -> the "device" object (id, name,
    access_token, conn_type).  ValueError when the platform refuses (its
    message), OSError on network failures."""
    from .. import http
    body = {"device_key": device_key}
    if type_key:
        body["type_key"] = type_key
    if customer_id:
        body["customer_id"] = customer_id
    status, data = http.request("POST", api.rstrip("/") + "/device/v1/certificate",
                                json.dumps(body), {"Content-Type": "application/json",
                                                   "Project-Key": project_key},
                                int(timeout * 1000), ca, verify)
    try:
        out = json.loads(data)
    except (ValueError, UnicodeError):
        raise ValueError("certificate: HTTP %d, not JSON" % status)
    dev = out.get("device") if isinstance(out, dict) else None
    if status != 200 or out.get("result") not in (1, True) or not isinstance(dev, dict) \
            or not isinstance(dev.get("access_token"), str) or not dev["access_token"]:
        msg = out.get("message") if isinstance(out, dict) else None
        raise ValueError("certificate refused (HTTP %d): %s" % (status, msg if isinstance(msg, str) else "no token"))
    log.secret(dev["access_token"])
    return dev


def default_device_key():
    from machine import unique_id
    from .thingscloud import chip_id
    return chip_id(unique_id())


def _read(path):
    try:
        with open(path) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else None
    except (OSError, ValueError):
        return None


def provision(cfg, cache=CACHE, timeout=10):
    """``cfg`` with cloud.access_token filled in: from the config, else from
    ``cache`` when it was made for the same api and device_key, else fetched
    and cached.  Gateways (conn_type "3") get cloud.gateway true unless set."""
    c = config.section(cfg, "cloud")
    if c.get("access_token"):
        return cfg
    api = config.get(c, "api", str)
    pk = config.get(c, "project_key", str)
    dk = config.get(c, "device_key", str, None)
    if dk is None:
        try:
            dk = default_device_key()
        except (ImportError, AttributeError):
            raise ConfigError("cloud.device_key: required (this port has no machine.unique_id)")
    d = _read(cache)
    if not (d and d.get("api") == api and d.get("device_key") == dk and d.get("access_token")):
        dev = certificate(api, pk, dk, config.get(c, "type_key", str, None),
                          config.get(c, "customer_id", str, None), timeout,
                          config.file(c, "api_ca"), config.get(c, "api_verify", bool, True))
        d = {"api": api, "device_key": dk, "access_token": dev["access_token"],
             "id": dev.get("id"), "conn_type": dev.get("conn_type")}
        with open(cache, "w") as f:
            json.dump(d, f)
        log.info("ThingsCloud certificate fetched for device %s", d["id"])
    log.secret(d["access_token"])
    c = dict(c)
    c["access_token"] = d["access_token"]
    if d.get("conn_type") == "3" and "gateway" not in c:
        c["gateway"] = True
    out = dict(cfg)
    out["cloud"] = c
    return out
