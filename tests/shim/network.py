"""The ``network`` module of a Wi-Fi board (ESP32 numbering for STAT_*).

The radio environment is scripted: ``aps`` maps SSID -> key ("" for an open
network) and ``connect_ms`` is how long association takes on the shim clock.
``WLAN(STA_IF)`` is one object per interface, as on a board.  ``connect()``
starts association; ``status()`` reads STAT_CONNECTING until ``connect_ms``
has passed, then STAT_GOT_IP, STAT_NO_AP_FOUND or STAT_WRONG_PASSWORD.
``lose()`` drops a live link (the access point went away).
"""

from . import ticks as _ticks

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

aps = {}            # ssid -> key: the networks in range
connect_ms = 0      # association time on the shim clock
ADDRESS = ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")


class WLAN:
    _ifaces = {}

    def __new__(cls, interface=STA_IF):
        w = cls._ifaces.get(interface)
        if w is None:
            w = object.__new__(cls)
            w._setup(interface)
            cls._ifaces[interface] = w
        return w

    def __init__(self, interface=STA_IF):
        pass

    def _setup(self, interface):
        self.interface = interface
        self._active = False
        self._status = STAT_IDLE
        self._pending = None    # (final status, ticks when it is reached)
        self._ssid = None
        self._addr = None
        self._cfg = {"mac": b"\x24\x0a\xc4\x12\x34\x56", "hostname": "esp32",
                     "ssid": "", "channel": 1, "txpower": 20}

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self.disconnect()

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        if ssid not in aps:
            final = STAT_NO_AP_FOUND
        elif (aps[ssid] or None) != (key or None):
            final = STAT_WRONG_PASSWORD
        else:
            final = STAT_GOT_IP
        self._ssid = ssid
        self._status = STAT_CONNECTING
        self._pending = (final, _ticks.ticks_add(_ticks.ticks_ms(), connect_ms))

    def disconnect(self):
        self._status = STAT_IDLE
        self._pending = None
        self._addr = None

    def lose(self):
        """The access point disappears under a connected station."""
        self._status = STAT_BEACON_TIMEOUT
        self._pending = None
        self._addr = None

    def _update(self):
        if self._pending and _ticks.ticks_diff(_ticks.ticks_ms(), self._pending[1]) >= 0:
            self._status = self._pending[0]
            self._pending = None
            if self._status == STAT_GOT_IP:
                self._addr = ADDRESS

    def status(self, param=None):
        self._update()
        if param == "rssi":
            if self._status != STAT_GOT_IP:
                raise OSError("not connected")
            return -60
        if param is not None:
            raise ValueError("unknown status param")
        return self._status

    def isconnected(self):
        self._update()
        if self.interface == AP_IF:
            return self._active
        return self._status == STAT_GOT_IP

    def ifconfig(self, cfg=None):
        if cfg is not None:
            self._addr = tuple(cfg)
            return
        self._update()
        return self._addr or ("0.0.0.0",) * 4

    def config(self, *names, **kw):
        if kw:
            self._cfg.update(kw)
            return
        if len(names) != 1:
            raise TypeError("can query only one param")
        if names[0] in ("ssid", "essid") and self._ssid:
            return self._ssid
        return self._cfg[names[0]]

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        # (ssid, bssid, channel, RSSI, security, hidden)
        return [(s.encode(), b"\x00\x11\x22\x33\x44\x55", 6, -60, 3 if k else 0, False)
                for s, k in aps.items()]


def _reset_state():
    global connect_ms
    aps.clear()
    connect_ms = 0
    WLAN._ifaces.clear()
