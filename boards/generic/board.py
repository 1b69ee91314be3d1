"""Board support for ESP32 (classic, S3, C3) and Raspberry Pi Pico W / Pico 2 W.

The facts come from board.json, copied next to this file by `iotlink deploy`
(boards/<name>/board.json): LED pin and polarity, which temperature sensor the
chip has.  config.json `app.led_pin` overrides the LED pin.  Wi-Fi comes from
config.json `wifi`; a watchdog is armed when `app.watchdog_ms` is set.
"""

import sys
import time
import machine

NAME = sys.platform
_facts = {}
_led = None
_np = None
_wdt = None


def setup(cfg):
    global _led, _np, _wdt, _facts
    import json
    from iotlink import config, wifi
    try:
        with open("board.json") as f:
            _facts = json.load(f)
    except (OSError, ValueError):
        _facts = {}
    a = config.section(cfg, "app")
    pin = a.get("led_pin", _facts.get("led_pin", "LED" if NAME == "rp2" else None))
    if pin is not None:
        try:
            if _facts.get("led_neopixel"):
                import neopixel
                _np = neopixel.NeoPixel(machine.Pin(pin), 1)
            else:
                _led = machine.Pin(pin, machine.Pin.OUT)
        except Exception as e:
            print("board: no LED on pin", pin, e)
    led(False)
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
    if _np is not None:
        _np[0] = (0, 16, 0) if on else (0, 0, 0)
        _np.write()
    elif _led is not None:
        _led.value((1 if on else 0) ^ (1 if _facts.get("led_active_low") else 0))


def sensors():
    t = _temperature()
    return {} if t is None else {"temperature": t}


def _temperature():
    kind = _facts.get("temperature", "adc4" if NAME == "rp2" else "mcu_temperature")
    try:
        if kind == "adc4":
            v = machine.ADC(4).read_u16() * 3.3 / 65535
            return round(27 - (v - 0.706) / 0.001721, 1)
        import esp32
        if kind == "mcu_temperature" and hasattr(esp32, "mcu_temperature"):
            return esp32.mcu_temperature()
        return round((esp32.raw_temperature() - 32) / 1.8, 1)  # classic ESP32: Fahrenheit
    except Exception:
        return None


def status(event):
    print("iotlink:", event)
    if event in ("config", "auth"):
        for i in range(6):  # fast blink: a person is needed
            led(i & 1 == 0)
            time.sleep_ms(100)


def feed():
    if _wdt:
        _wdt.feed()


def reboot():
    machine.reset()
