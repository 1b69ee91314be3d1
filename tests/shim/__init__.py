"""CPython stand-ins for the MicroPython modules iotlink uses.

``install()`` makes ``import iotlink`` (and umqtt.simple) work on CPython:

* ``micropython`` (shim/micropython.py): ``const`` and stubs;
* ``machine`` (shim/machine.py): Pin, RTC, WDT, ADC, unique_id, reset...;
* ``network`` (shim/network.py): a scriptable WLAN;
* ``time`` (shim/ticks.py): CPython's module gains ticks_ms/ticks_us/
  ticks_cpu/ticks_add/ticks_diff/sleep_ms/sleep_us on ``shim.clock``, with a
  30-bit ticks period; ``utime`` is a complete MicroPython time module on that
  clock (int ``time()``, 8-tuple ``gmtime()``, 1970 or 2000 epoch);
* ``usocket``, ``ustruct``, ``ubinascii``, ``uselect``, ``ujson``, ``uhashlib``:
  aliases of the CPython modules (what umqtt.simple 1.3.4 imports);
* ``lib/`` and the fetched ``.deps/`` (umqtt.simple) go first on ``sys.path``.

The network is not replaced globally (pytest, hypothesis and local test
servers need real sockets): ``shim.net`` has the fake stream socket, a
``socket`` module stand-in handing them out and a ``select`` stand-in, for a
test to put where the code under test looks them up, e.g.
``monkeypatch.setattr(iotlink.device, "socket", shim.net.SocketModule(...))``.

``clock`` (shim.ticks.clock) is the time source: real by default,
``clock.use_fake(start_ms)`` stops it and ``clock.advance(ms)`` moves it.
``reset()`` puts the clock and the boards' state back to power-on.
"""

import os
import sys

from . import ticks
from .ticks import clock, TICKS_PERIOD, TICKS_MAX, TICKS_HALFPERIOD
from . import net

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(ROOT, "lib")
DEPS = os.environ.get("IOTLINK_DEPS") or os.path.join(ROOT, ".deps")
UMQTT = os.path.join(DEPS, "umqtt", "simple.py")

_installed = False


def install():
    """Put the stand-ins in place (idempotent)."""
    global _installed
    if _installed:
        return
    import time
    import socket
    import struct
    import binascii
    import select
    import json
    import hashlib
    from . import micropython, machine, network

    for path in (DEPS, LIB):
        if path not in sys.path:
            sys.path.insert(0, path)
    ticks.patch(time)
    sys.modules["micropython"] = micropython
    sys.modules["machine"] = machine
    sys.modules["network"] = network
    for alias, mod in (("utime", ticks.utime), ("usocket", socket), ("ustruct", struct),
                       ("ubinascii", binascii), ("uselect", select), ("ujson", json),
                       ("uhashlib", hashlib)):
        sys.modules.setdefault(alias, mod)
    _installed = True


def reset():
    """Power-on state: real clock, no pins, RTC writes or Wi-Fi networks."""
    from . import machine, network
    clock.use_real()
    machine._reset_state()
    network._reset_state()
