"""The unix board: the firmware runs unchanged on the MicroPython unix port.

Sensors are simulated (a slow temperature wave and a counter), the LED is a
line on the console, Wi-Fi is the host's network, reboot ends the process.
"""

import sys
import time

NAME = "unix"
_t0 = time.ticks_ms()
_n = 0


def setup(cfg):
    print("board unix: no Wi-Fi to bring up, using the host network")


def led(on):
    print("LED", "on" if on else "off")


def sensors():
    global _n
    _n += 1
    s = (time.ticks_diff(time.ticks_ms(), _t0) // 1000) % 60
    wave = s if s < 30 else 60 - s   # 0..30..0 over a minute
    return {"temperature": 20 + wave / 10, "count": _n}


def status(event):
    print("STATUS", event)


def feed():
    pass  # no watchdog on the host


def reboot():
    print("REBOOT")
    sys.exit(0)
