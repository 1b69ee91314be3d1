"""IoTDA HTTPS device API (设备侧HTTPS接口): request bodies, paths, answers
and error codes.  Pure: drivers/iotda_https.py sends them.

For boards that wake, send and sleep: ``POST /v5/device-auth`` with the MQTT
password (``sign_type`` an integer here) returns an ``access_token`` valid
``expires_in`` seconds, sent as a header with every report.  No downlinks.

Errors (a JSON body ``{"error_code", "error_msg"}``) become exceptions:

  401 IOTDA.000002            AuthError: the secret is refused (retrying will not help)
  403 IOTDA.000004            TokenInvalid: authenticate again, then retry once
  403 IOTDA.021101 / 021102   RateLimited, with ``retry_ms``
  400 IOTDA.000006            InvalidInput, with the platform's word on what is invalid
  anything else, or not JSON  ApiError (status, code)
"""

import json
from micropython import const
from ..clock import ymdh, gmtime
from ..errors import AuthError
from .. import log
from . import dumps
from .iotda import service_entry, check_size, MSG_MAX

AUTH_PATH = "/v5/device-auth"
BATCH = const(50)            # children per gateway report over HTTPS (MQTT: 100)
_RATE_MIN_MS = const(1000)   # first back-off after a rate-limit answer
_RATE_MAX_MS = const(60000)


class ApiError(OSError):
    """The platform answered an error; ``status`` (HTTP) and ``code`` (IOTDA.xxxxxx)."""

    def __init__(self, status, code, msg):
        super().__init__(msg)
        self.status = status
        self.code = code


class TokenInvalid(ApiError):
    """403 IOTDA.000004: the access_token expired or was replaced."""


class InvalidInput(ApiError):
    """400 IOTDA.000006 (or 021104: children not under this gateway)."""


class RateLimited(ApiError):
    """403 IOTDA.021101 (device) / 021102 (tenant): send nothing before ``retry_ms``."""

    def __init__(self, status, code, msg, retry_ms):
        super().__init__(status, code, msg)
        self.retry_ms = retry_ms


def auth_body(cloud, now):
    """The /v5/device-auth request (JSON text) for Unix time ``now``."""
    # credentials() computes the MQTT password and keeps it masked (the
    # previous hour's replaced, so the list of secrets stays short)
    pw = cloud.credentials(now)[2]
    return dumps({"device_id": cloud.device_id, "sign_type": cloud.sign_type,
                  "timestamp": ymdh(now), "password": pw})


def path(cloud, what):
    """``/v5/devices/{device_id}/sys/`` + what ("properties/report", "messages/up",
    "gateway/sub-devices/properties/report": a hyphen over HTTPS)."""
    return "/v5/devices/" + cloud.device_id + "/sys/" + what


def _entry(cloud, service, props, now):
    """A "services" entry; with ``event_time`` stamped the way the HTTPS pages
    write it (yyyy-MM-dd'T'HH:mm:ss.SSS'Z', not MQTT's yyyyMMdd'T'HHmmss'Z')."""
    e = service_entry(cloud, service, props, now)
    if cloud.stamp:
        t = gmtime(now)
        e["event_time"] = "%04d-%02d-%02dT%02d:%02d:%02d.000Z" % t[:6]
    return e


def report_body(cloud, props, service, now):
    return dumps({"services": [_entry(cloud, service, props, now)]})


def message_body(content, name=None, target=None):
    """messages/up in the system format (HTTPS takes any body up to 1 MB)."""
    body = {"content": content}
    if name is not None:
        body["name"] = name
    if target is not None:
        body["object_device_id"] = target
    return check_size(dumps(body), MSG_MAX, "message")


def sub_bodies(cloud, devices, now):
    """Children's properties ``{child_id: {service_id: {name: value}}}`` (or a
    list of pairs) as gateway report bodies of at most 50 children and 1 MB."""
    out, chunk, size = [], [], 0
    for cid, services in devices.items() if isinstance(devices, dict) else devices:
        e = dumps({"device_id": cid,
                   "services": [_entry(cloud, k, v, now) for k, v in services.items()]})
        if chunk and (len(chunk) >= BATCH or size + len(e) + 15 > MSG_MAX):
            out.append('{"devices":[' + ",".join(chunk) + "]}")
            chunk, size = [], 0
        chunk.append(e)
        size += len(e) + 1
    if chunk:
        out.append('{"devices":[' + ",".join(chunk) + "]}")
    for b in out:
        check_size(b, MSG_MAX, "gateway report")
    return out


def token_of(status, body):
    """(access_token, expires_in s) from a device-auth answer; raises the
    mapped error otherwise."""
    if status != 200:
        raise error_of(status, body, 0)
    try:
        ans = json.loads(body)
        tok, exp = ans["access_token"], ans["expires_in"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(status, None, "device-auth answer is not JSON with access_token and expires_in")
    if not isinstance(tok, str) or not 0 < len(tok) <= 256 or not isinstance(exp, int) or exp <= 0:
        raise ApiError(status, None, "device-auth answer: bad access_token or expires_in")
    return tok, exp


def next_backoff(prev_ms):
    """Back-off after a rate-limit answer: 1 s, doubled per answer in a row, at most 60 s."""
    return _RATE_MIN_MS if not prev_ms else min(prev_ms * 2, _RATE_MAX_MS)


def error_of(status, body, backoff_ms):
    """The exception for an error answer (``body`` bytes, possibly not JSON);
    ``backoff_ms`` is the retry time a rate-limit answer carries.  Texts are
    masked: a platform message never shows a secret."""
    code = msg = None
    try:
        ans = json.loads(body) if body else None
        if isinstance(ans, dict):
            code, msg = ans.get("error_code"), ans.get("error_msg")
    except (ValueError, UnicodeError):
        pass
    if not isinstance(code, str):
        return ApiError(status, None, "HTTP %d: the answer is not an IoTDA error (not JSON)" % status)
    msg = log.mask(msg if isinstance(msg, str) else "")[:200]
    if status == 401 or code == "IOTDA.000002":
        return AuthError(status, "iotda https: device-auth refused (%s %s): check cloud.device_id "
                                 "and cloud.secret" % (code, msg))
    if code == "IOTDA.000004":
        return TokenInvalid(status, code, "access_token not valid (%s)" % code)
    if code in ("IOTDA.021101", "IOTDA.021102"):
        return RateLimited(status, code, "rate limited (%s %s): retry in %d ms"
                           % (code, "device" if code == "IOTDA.021101" else "tenant", backoff_ms),
                           backoff_ms)
    if code in ("IOTDA.000006", "IOTDA.021104", "IOTDA.021105"):
        return InvalidInput(status, code, "invalid input (%s): %s" % (code, msg or "no detail given"))
    return ApiError(status, code, "HTTP %d %s: %s" % (status, code, msg))
