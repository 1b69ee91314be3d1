"""Seeed SenseCAP Data OpenStream: the organisation's sensor data, receive-only.

  connect  client id org-<OrgID>-<suffix>, username org-<OrgID>, password the
           organisation's API access key; MQTT 3.1.1 on port 1883, no TLS
  down     /device_sensor_data/<OrgID>/<EUI>/<channel>/<reserved>/<measurement ID>
  down     /device_status_event/<OrgID>/<EUI>/<reserved>/<status ID>
           both carry {"value": ..., "timestamp": ...} (numbers or strings)

Every message reaches the app's ``data`` handler as a Request of kind "data",
name "reading" or "status", params a dict::

  {"eui": "2CF7F1C0440000A1", "channel": 1, "id": 4097,
   "name": "Air Temperature", "unit": "\u2103", "value": 23.5, "ts": 1700000000000}

(``channel`` is None for status).  Values: numeric strings become numbers,
"true"/"false" booleans; lists, objects and other strings stay as they came.
``ts`` is an int in ms, or None when the message had no usable timestamp.
The last value per (EUI, ID) is kept in ``cloud.latest`` (iotlink.latest).

There is nothing to publish: report() and event() raise, replies are None.
"""

import json
from micropython import const
from .. import config
from ..errors import ConfigError
from ..request import Request, DATA, SYSTEM

_MAX_FILTERS = const(16)
_SUFFIX_MAX = const(32)
_HOSTS = {"cc": "sensecap-openstream.seeed.cc", "global": "sensecap-openstream.seeed.cc",
          "cn": "sensecap-openstream.seeed.cn", "china": "sensecap-openstream.seeed.cn"}
_DATA = b"device_sensor_data"
_STATUS = b"device_status_event"
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"
_HEX = "0123456789ABCDEF"
_NUM = "0123456789+-.eE"
_IDS = "iotlink.clouds.sensecap_ids"
_NAMES_MAX = const(32)


class Cloud:
    NAME = "sensecap"
    REPORT_AFTER_SET = False
    RECEIVE_ONLY = True  # Device refuses report()/event() before touching its state

    def __init__(self, cfg):
        c = cfg["cloud"]
        org = c.get("org_id")
        if isinstance(org, int) and not isinstance(org, bool):
            org = str(org)
            c = dict(c)
            c["org_id"] = org
        org = config.get(c, "org_id", str)
        if not _word(org.lower()):
            raise ConfigError("cloud.org_id: letters and digits only (the Organization ID from SenseCAP Portal)")
        self.org = org
        self._org = org.encode()
        self._key = config.get(c, "access_key", str)
        suffix = config.get(c, "client_suffix", str, None)
        if suffix is None:
            suffix = board_suffix()
            if suffix is None:
                raise ConfigError("cloud.client_suffix: required on a board without machine.unique_id "
                                  "(digits and lowercase letters, different on every board)")
        elif not _word(suffix) or len(suffix) > _SUFFIX_MAX:
            raise ConfigError("cloud.client_suffix: 1..32 digits and lowercase letters")
        self.client_id = "org-" + org + "-" + suffix
        self.username = "org-" + org
        station = config.get(c, "station", str, "global", choices=("global", "china", "cc", "cn"))
        self.ep = config.endpoint(c, 1883, False, 60, 10, 3600, host=_HOSTS[station])
        self.names = config.get(c, "names", bool, True)
        self._names = {}   # id -> (name, unit) of the IDs seen
        qos = config.get(c, "qos", int, 0, lo=0, hi=1)
        self.stale_ms = config.get(c, "stale_s", int, 3600, lo=1, hi=30 * 86400) * 1000
        size = config.get(c, "latest", int, 16, lo=0, hi=256)
        self.latest = None
        if size:
            from ..latest import Latest
            self.latest = Latest(size)
        self._subs = _filters(c, self._org, qos)

    # ----- session ---------------------------------------------------------

    def credentials(self, now):
        return self.client_id, self.username, self._key

    def subscriptions(self):
        return self._subs

    def will(self):
        return None

    def on_connect(self, now):
        return ()

    def report(self, props, service, now, target=None):
        raise NotImplementedError("sensecap: OpenStream is receive-only, there is nothing to report to")

    def event(self, name, params, now, target=None):
        raise NotImplementedError("sensecap: OpenStream is receive-only, there is nothing to send events to")

    def reply(self, req, result, err):
        return None

    # ----- downlinks -------------------------------------------------------

    def decode(self, topic, payload):
        """A Request (kind SYSTEM until system() files it) or None for a topic that
        is not OpenStream's or not this organisation's.  Raises ValueError on a
        payload that carries no reading."""
        parts = topic.split(b"/")
        n = len(parts)
        if n == 7 and parts[1] == _DATA:
            status = False
        elif n == 6 and parts[1] == _STATUS:
            status = True
        else:
            return None
        if parts[0] or parts[2] != self._org:
            return None
        r = reading(parts, payload, status, self.describe if self.names else None)
        return Request(SYSTEM, "status" if status else "reading", r)

    def system(self, req, now_ms):
        """Keep the reading in ``latest``, hand it to the app's "data" handler."""
        p = req.params
        if self.latest is not None:
            self.latest.put(p["eui"], p["id"], p["value"], p["ts"], now_ms)
        req.kind = DATA
        return (("event", DATA, req),)

    def service_key(self, service):
        return service or ""

    # ----- for the app -----------------------------------------------------

    def describe(self, mid):
        """(name, unit) of a measurement or status ID, remembered per ID."""
        got = self._names.get(mid)
        if got is None:
            got = describe(mid)
            if len(self._names) >= _NAMES_MAX:
                self._names.clear()
            self._names[mid] = got
        return got

    def value(self, eui, mid, default=None):
        """The last value of measurement ``mid`` from ``eui``."""
        if self.latest is None:
            return default
        return self.latest.value(eui.upper(), mid, default)

    def online(self, eui, now_ms, max_age_ms=None):
        """True when ``eui`` sent anything within ``max_age_ms`` (default
        cloud.stale_s), False when its last reading is older, None if never seen."""
        if self.latest is None:
            return None
        return self.latest.fresh(eui.upper(), now_ms, self.stale_ms if max_age_ms is None else max_age_ms)


def board_suffix():
    """machine.unique_id() as lowercase hex, or None where the port has none."""
    try:
        import machine
        from binascii import hexlify
        return hexlify(machine.unique_id()).decode().lower()
    except Exception:
        return None


def reading(parts, payload, status, names=None):
    """The reading dict of a split topic and its payload (see the module text)."""
    try:
        body = json.loads(payload)
    except Exception:
        raise ValueError("payload is not UTF-8 JSON")
    if not isinstance(body, dict):
        raise ValueError("payload is not a JSON object")
    v = body.get("value")
    if v is None:
        raise ValueError("payload has no value")
    try:
        eui = parts[3].decode()
        mid = _id(parts[-1].decode())
        ch = None if status else _id(parts[4].decode())
    except UnicodeError:
        raise ValueError("topic is not UTF-8")
    r = {"eui": eui, "channel": ch, "id": mid, "value": normalise(v), "ts": timestamp(body.get("timestamp"))}
    if names is not None:
        r["name"], r["unit"] = names(mid)
    return r


def describe(mid):
    """(name, unit) from the catalogue; the bare ID as the name when unknown.

    The catalogue module is imported for this lookup and dropped again, so its
    table (about 3 KB when loaded from the filesystem) only takes RAM while a
    lookup runs; Cloud keeps the answers for the IDs it has seen."""
    got = None
    if isinstance(mid, int):
        import sys
        from . import sensecap_ids
        try:
            got = sensecap_ids.lookup(mid)
        finally:
            sys.modules.pop(_IDS, None)
            try:
                delattr(sys.modules[__name__.rpartition(".")[0]], "sensecap_ids")
            except (AttributeError, KeyError):
                pass
    return got or (str(mid), "")


def normalise(v):
    """Numeric strings to int or float, "true"/"false" to bool, the rest as is."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if s == "true":
        return True
    if s == "false":
        return False
    if not s or len(s) > 40:
        return v
    digit = False
    for ch in s:
        if ch not in _NUM:
            return v
        if "0" <= ch <= "9":
            digit = True
    if not digit:
        return v
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return v
    return f if f - f == 0 else v  # not inf or nan


def timestamp(v):
    """Milliseconds as an int from an int, float or numeric string; else None.
    "1561373812474.0" is read by its digits: a board's 32-bit float is up to a minute off."""
    if isinstance(v, str):
        whole, _, frac = v.strip().partition(".")
        if whole.isdigit() and (frac.isdigit() or not frac):
            return int(whole)
        v = normalise(v)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v - v == 0:
        return int(v)
    return None


def _id(s):
    return int(s) if s and s.isdigit() and len(s) < 10 else s


def _word(s):
    if not s:
        return False
    for ch in s:
        if ch not in _ALNUM:
            return False
    return True


def _level(f, key, where, hexa=False):
    """One topic level of a filter: the configured value or "+"."""
    v = f.get(key)
    if v is None or v == "+":
        return b"+"
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise ConfigError("%s.%s: must not be negative" % (where, key))
        return str(v).encode()
    if not isinstance(v, str):
        raise ConfigError("%s.%s: must be a string or an integer" % (where, key))
    if hexa:
        v = v.upper()
        if len(v) != 16 or [ch for ch in v if ch not in _HEX]:
            raise ConfigError("%s.%s: must be 16 hex digits (the device EUI)" % (where, key))
    elif not v.isdigit():
        raise ConfigError("%s.%s: must be a number" % (where, key))
    return v.encode()


def _filters(c, org, qos):
    """Subscriptions from cloud.filters (a list of {eui, channel, measurement},
    "+" where absent; default: everything) and cloud.status (false, true or a
    list of status IDs)."""
    fl = config.get(c, "filters", list, None)
    if fl is None:
        fl = [c]  # eui / channel / measurement given directly in cloud
        where = ["cloud"]
    else:
        if not fl:
            raise ConfigError("cloud.filters: must not be empty (leave it out to receive everything)")
        where = ["cloud.filters[%d]" % i for i in range(len(fl))]
    data = []
    euis = []
    for i, f in enumerate(fl):
        if not isinstance(f, dict):
            raise ConfigError("%s: must be an object" % where[i])
        eui = _level(f, "eui", where[i], True)
        t = b"/%s/%s/%s/%s/+/%s" % (_DATA, org, eui, _level(f, "channel", where[i]),
                                     _level(f, "measurement", where[i]))
        if t not in data:
            data.append(t)
        if eui not in euis:
            euis.append(eui)
    st = c.get("status", False)
    sids = []
    if st is True:
        sids = [b"+"]
    elif isinstance(st, list):
        for i, s in enumerate(st):
            sids.append(_level({"id": s}, "id", "cloud.status[%d]" % i))
    elif st is not False:
        raise ConfigError("cloud.status: must be true, false or a list of status IDs")
    if b"+" in euis:
        euis = [b"+"]
    subs = [(t, qos) for t in data]
    for e in euis:
        for s in sids:
            subs.append((b"/%s/%s/%s/+/%s" % (_STATUS, org, e, s), qos))
    if len(subs) > _MAX_FILTERS:
        raise ConfigError("cloud.filters: %d subscriptions, at most %d (use \"+\" to widen a filter)"
                          % (len(subs), _MAX_FILTERS))
    return tuple(subs)
