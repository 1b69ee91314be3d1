"""Wi-Fi station bring-up with a bound on every wait."""

import time

# status codes that retrying will not fix (rp2: CYW43, esp32: ESP-IDF)
_BAD_PASSWORD = (-3, 202)
_NO_AP = (-2, 201)


def connect(ssid, password, timeout_ms=20000, retries=3, status=None):
    """Join ``ssid``; return the WLAN.  Raises OSError with the reason after
    ``retries`` attempts of ``timeout_ms`` each.  ``status(text)`` is told
    each step (for an LED pattern or a display)."""
    import network
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    try:
        wlan.config(pm=0xA11140)  # rp2: no power save, or downlinks are late
    except Exception:
        pass
    if wlan.isconnected():
        return wlan
    why = "timed out"
    for attempt in range(retries):
        if status:
            status("wifi %d/%d" % (attempt + 1, retries))
        wlan.connect(ssid, password)
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
            if wlan.isconnected():
                if status:
                    status("wifi up")
                return wlan
            st = wlan.status()
            if st in _BAD_PASSWORD:
                wlan.disconnect()
                raise OSError("Wi-Fi: wrong password for %s" % ssid)
            if st in _NO_AP:
                why = "network not found"
            time.sleep_ms(200)
        wlan.disconnect()
        time.sleep_ms(1000 << attempt)
    raise OSError("Wi-Fi: could not join %s (%s)" % (ssid, why))
