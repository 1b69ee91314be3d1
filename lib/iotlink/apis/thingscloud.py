"""ThingsCloud project HTTP API (应用端 API), on a board or a host.

    api = Client("https://<project api host>", app_id=..., access_key=..., secret_key=...)
    for d in api.all_devices():
        print(d["id"], d["name"], d["online"])
    api.send_command(device_id, "restart", {"delay": 5})

Log-in is lazy: the first call gets an AccessToken (app keys: valid 1 day;
admin account: 7 days), later calls reuse it and log in again shortly before
it expires, or once when a call is refused as unauthorised (HTTP 401 or
errcode 401).  Every failure of the platform (``result: false``, HTTP 404
"Request invalid", a reply that is not JSON, another HTTP error) raises
``ApiError`` with ``code`` (errcode, or the HTTP status) and ``message``.
Network failures raise OSError.  Each endpoint has a method; all go through
``call()`` and the ``ENDPOINTS`` table.
"""

import json
import time

_DAY = 86400
_MARGIN = 300          # log in again this long before the token expires
_SERIES_SPAN_MS = 30 * 86400 * 1000

ENDPOINTS = {
    "access_token": ("POST", "access_token"),
    "admin_login": ("POST", "admin_login"),
    "project": ("GET", "project"),
    "devices_stat": ("GET", "devices_stat"),
    "devices_alarm_stat": ("GET", "devices_alarm_stat"),
    "device_types": ("GET", "device_types"),
    "device_groups_tree": ("GET", "device_groups_tree"),
    "devices": ("GET", "devices"),
    "device": ("GET", "device/%s"),
    "device_certificate": ("GET", "device/%s/certificate"),
    "update_device": ("PUT", "device/%s/info"),
    "set_device_tags": ("PUT", "device/%s/tags"),
    "remove_device_tags": ("POST", "device/%s/tags_remove"),
    "delete_device": ("DELETE", "device/%s"),
    "create_device": ("POST", "device"),
    "attributes": ("GET", "device/%s/attributes"),
    "attribute_series": ("GET", "device/%s/attribute/%s/series"),
    "remove_attributes": ("POST", "device/%s/attributes_remove"),
    "push_attributes": ("POST", "control/device/%s/attributes"),
    "update_cloud_attributes": ("PUT", "control/device/%s/attributes"),
    "send_command": ("POST", "control/device/%s/command"),
    "alarm_logs": ("GET", "alarm_logs"),
    "device_alarm_logs": ("GET", "device/%s/alarm_logs"),
    "customers": ("GET", "customers"),
    "customer": ("GET", "customer/%s"),
    "create_customer": ("POST", "customer"),
    "update_customer": ("PUT", "customer/%s/info"),
    "set_customer_password": ("PUT", "customer/%s/pwd"),
    "set_customer_tags": ("PUT", "customer/%s/tags"),
    "delete_customer": ("DELETE", "customer/%s"),
    "admin": ("GET", "admin"),
}


class ApiError(Exception):
    """The platform refused or answered nonsense: ``code`` (errcode or HTTP
    status), ``message``, ``status`` (HTTP)."""

    def __init__(self, code, message, status=200):
        super().__init__("ThingsCloud API error %s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status


def _q(v):
    """Percent-encode a query value or path segment."""
    out = ""
    for b in str(v).encode():
        c = chr(b)
        out += c if ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in "-_.~") else "%%%02X" % b
    return out


def _items(info):
    it = info.get("items") if isinstance(info, dict) else None
    return it if isinstance(it, list) else []


def _pick(**kw):
    return {k: v for k, v in kw.items() if v is not None}


class Client:
    def __init__(self, api, app_id=None, access_key=None, secret_key=None, account=None,
                 password=None, token=None, expires=None, timeout=10, ca=None, verify=True,
                 clock=None, http=None):
        if not isinstance(api, str) or not (api.startswith("http://") or api.startswith("https://")):
            raise ValueError("api: an http:// or https:// address")
        self.base = api.rstrip("/") + "/api/v1/"
        self.app_id = app_id
        self._keys = (access_key, secret_key)
        self._admin = (account, password)
        self.token = token
        self.clock = clock or time.time
        self.expires = expires if expires is not None else (
            None if token is None else self.clock() + _DAY)
        self.timeout = timeout
        self.ca = ca
        self.verify = verify
        if http is None:
            from .. import http as _h
            http = _h.request
        self._http = http
        self._cmd = 0

    def __repr__(self):
        return "<ThingsCloud API %s app %s>" % (self.base[:-8], self.app_id)

    # ----- the one request function ---------------------------------------

    def call(self, name, ids=(), body=None, query=None, auth=True):
        """Call endpoint ``name`` of ENDPOINTS; return its ``info`` (or the whole
        reply when it has none)."""
        method, path = ENDPOINTS[name]
        if ids:
            for i in ids:
                if not isinstance(i, (str, int)) or isinstance(i, bool) or not str(i):
                    raise ValueError("%s: ids must be non-empty strings" % name)
            path = path % tuple(_q(i) for i in ids)
        url = self.base + path
        if query:
            url += "?" + "&".join("%s=%s" % (k, _q(v)) for k, v in query.items() if v is not None)
        for attempt in (0, 1):
            headers = {"Content-Type": "application/json"}
            if auth:
                headers["Authorization"] = "Bearer " + self._token(attempt)
            status, data = self._http(method, url, None if body is None else json.dumps(body),
                                      headers, int(self.timeout * 1000), self.ca, self.verify)
            try:
                out = json.loads(data) if data else None
            except (ValueError, UnicodeError):
                raise ApiError(status, "reply is not JSON (HTTP %d)" % status, status)
            if not isinstance(out, dict):
                raise ApiError(status, "reply is not a JSON object (HTTP %d)" % status, status)
            code = out.get("errcode", status)
            if auth and not attempt and (status == 401 or code == 401):
                self.token = None  # expired or revoked: log in again, once
                continue
            if status != 200 or out.get("result") is not True:
                msg = out.get("message")
                raise ApiError(code if code is not None else status,
                               msg if isinstance(msg, str) and msg else "HTTP %d" % status, status)
            return out.get("info", out)

    def _token(self, attempt):
        if self.token is None or (self.expires is not None and self.clock() >= self.expires - _MARGIN):
            self.login()
        return self.token

    def login(self):
        """Get a new AccessToken with the app keys, else the admin account."""
        if self._keys[0] and self._keys[1] and self.app_id:
            info = self.call("access_token", body={"app_id": self.app_id, "access_key": self._keys[0],
                                                    "secret_key": self._keys[1]}, auth=False)
            life = _DAY
        elif self._admin[0] and self._admin[1] and self.app_id:
            info = self.call("admin_login", body={"app_id": self.app_id, "account": self._admin[0],
                                                   "password": self._admin[1]}, auth=False)
            life = 7 * _DAY
        else:
            raise ApiError(401, "no valid token and no app keys or admin account to log in with", 0)
        tok = info.get("access_token") if isinstance(info, dict) else None
        if not isinstance(tok, str) or not tok:
            raise ApiError(0, "log-in reply has no access_token")
        self.token, self.expires = tok, self.clock() + life
        return tok

    # ----- project ---------------------------------------------------------

    def access_token(self):
        """Log in with the app keys (1 day); returns the token."""
        self._admin = (None, None)
        return self.login()

    def admin_login(self, account=None, password=None):
        """Log in as a project admin (7 days); returns the token."""
        if account:
            self._admin = (account, password)
        self._keys = (None, None)
        return self.login()

    def project(self):
        return self.call("project")

    def devices_stat(self):
        return self.call("devices_stat")

    def devices_alarm_stat(self):
        return self.call("devices_alarm_stat")

    def device_types(self):
        return _items(self.call("device_types"))

    def device_groups_tree(self):
        return _items(self.call("device_groups_tree"))

    def admin(self):
        """The logged-in admin (admin_login tokens only)."""
        return self.call("admin")

    # ----- devices ---------------------------------------------------------

    def devices(self, page=None, type=None, group=None):
        """One page: {"items": [...], "total": n, "page_total": n}."""
        return self.call("devices", query=_pick(page=page, type=type, group=group))

    def all_devices(self, type=None, group=None, max_pages=1000):
        """Every device, page after page."""
        page = 1
        while page <= max_pages:
            info = self.devices(page, type, group)
            for d in info.get("items") or ():
                yield d
            if page >= (info.get("page_total") or 1):
                return
            page += 1

    def device(self, device_id):
        return self.call("device", (device_id,))

    def device_certificate(self, device_id):
        """{"id", "name", "access_token", "project_key"}: what the device logs in with."""
        return self.call("device_certificate", (device_id,))

    def update_device(self, device_id, name=None, descr=None, device_key=None):
        return self.call("update_device", (device_id,), _pick(name=name, descr=descr, device_key=device_key))

    def set_device_tags(self, device_id, tags):
        return self.call("set_device_tags", (device_id,), {"tags": tags})

    def remove_device_tags(self, device_id, keys):
        return self.call("remove_device_tags", (device_id,), {"keys": list(keys)})

    def delete_device(self, device_id):
        return self.call("delete_device", (device_id,))

    def create_device(self, name, descr=None, type=None, tags=None, device_key=None):
        """{"id", "name"} of the new device."""
        if not isinstance(name, str) or not name:
            raise ValueError("name: required")
        return self.call("create_device", body=_pick(name=name, descr=descr, type=type, tags=tags,
                                                     device_key=device_key))

    # ----- data ------------------------------------------------------------

    def attributes(self, device_id):
        return self.call("attributes", (device_id,))

    def attribute_series(self, device_id, identifier, page=None, page_records=None,
                         start_time=None, end_time=None):
        """History of one attribute; times in ms, at most 30 days apart."""
        if page_records is not None and not (isinstance(page_records, int) and 1 <= page_records <= 100):
            raise ValueError("page_records: 1..100")
        if page is not None and not (isinstance(page, int) and page >= 1):
            raise ValueError("page: 1 or more")
        if (start_time is None) != (end_time is None):
            raise ValueError("start_time and end_time: both or neither")
        if start_time is not None and not 0 <= end_time - start_time <= _SERIES_SPAN_MS:
            raise ValueError("start_time..end_time: at most 30 days, end after start")
        return self.call("attribute_series", (device_id, identifier),
                         query=_pick(page=page, page_records=page_records,
                                     start_time=start_time, end_time=end_time))

    def remove_attributes(self, device_id, keys):
        return self.call("remove_attributes", (device_id,), {"keys": list(keys)})

    # ----- control ---------------------------------------------------------

    def push_attributes(self, device_id, attrs):
        """Send attributes to the device (it gets attributes/push)."""
        return self.call("push_attributes", (device_id,), attrs)

    def update_cloud_attributes(self, device_id, attrs):
        return self.call("update_cloud_attributes", (device_id,), attrs)

    def send_command(self, device_id, method, params=None, id=None):
        """Send a command (the device gets command/send/<id>); returns the id used."""
        if id is None:
            self._cmd = self._cmd % 1000000 + 1
            id = int(self.clock()) % 1000000 * 1000 + self._cmd % 1000
        self.call("send_command", (device_id,), {"method": method, "params": params or {}, "id": id})
        return id

    # ----- alarms ----------------------------------------------------------

    def alarm_logs(self):
        return _items(self.call("alarm_logs"))

    def device_alarm_logs(self, device_id):
        return _items(self.call("device_alarm_logs", (device_id,)))

    # ----- customers -------------------------------------------------------

    def customers(self):
        return _items(self.call("customers"))

    def customer(self, customer_id):
        return self.call("customer", (customer_id,))

    def create_customer(self, name, account, password, descr=None, email=None, mobile=None, tags=None):
        return self.call("create_customer", body=_pick(name=name, account=account, password=password,
                                                       descr=descr, email=email, mobile=mobile, tags=tags))

    def update_customer(self, customer_id, name=None, descr=None, email=None, mobile=None):
        body = _pick(name=name, descr=descr, email=email, mobile=mobile)
        if not body:
            raise ValueError("update_customer: at least one of name, descr, email, mobile")
        return self.call("update_customer", (customer_id,), body)

    def set_customer_password(self, customer_id, password):
        return self.call("set_customer_password", (customer_id,), {"password": password})

    def set_customer_tags(self, customer_id, tags):
        return self.call("set_customer_tags", (customer_id,), {"tags": tags})

    def delete_customer(self, customer_id):
        return self.call("delete_customer", (customer_id,))
