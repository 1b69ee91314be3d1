"""ESP32 (classic, S3, C3) and Raspberry Pi Pico W with nothing attached:
the on-board LED, the chip's own temperature sensor, Wi-Fi from config.json,
a watchdog when app.watchdog_ms is set.

Copy next to main.py as board.py.  app.led_pin overrides the LED pin
(classic ESP32 dev kits: 2; Pico W: "LED").
"""

import sys
import time
import machine

NAME = sys.platform
_led = None
_wdt = None


def setup(cfg):
    global _led, _wdt
    from iotlink import config, wifi
    a = config.section(cfg, "app")
    pin = a.get("led_pin", "LED" if NAME == "rp2" else 2)
    try:
        _led = machine.Pin(pin, machine.Pin.OUT)
    except Exception:
        _led = None
    w = config.section(cfg, "wifi")
    if w:
        wifi.connect(config.get(w, "ssid", str, where="wifi"),
                     config.get(w, "password", str, "", where="wifi", nonempty=False),
                     timeout_ms=config.get(w, "timeout_ms", int, 20000, "wifi", lo=1000),
                     status=status)
    ms = config.get(a, "watchdog_ms", int, 0, "app", lo=0, hi=8388)
    if ms:
        _wdt = machine.WDT(timeout=ms)


def led(on):
    if _led:
        _led.value(1 if on else 0)


def sensors():
    return {"temperature": _temperature()}


def _temperature():
    if NAME == "rp2":
        v = machine.ADC(4).read_u16() * 3.3 / 65535
        return round(27 - (v - 0.706) / 0.001721, 1)
    import esp32
    if hasattr(esp32, "mcu_temperature"):
        return esp32.mcu_temperature()
    return round((esp32.raw_temperature() - 32) / 1.8, 1)  # classic ESP32 reports Fahrenheit


def status(event):
    print("iotlink:", event)
    if _led and event in ("config", "auth"):
        for _ in range(6):  # fast blink: needs a person
            _led.value(not _led.value())
            time.sleep_ms(100)


def feed():
    if _wdt:
        _wdt.feed()


def reboot():
    machine.reset()
