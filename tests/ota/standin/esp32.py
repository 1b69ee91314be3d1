"""A STAND-IN for MicroPython's ``esp32`` module on the unix port (and
CPython): ``esp32.Partition`` over two app partitions kept in host files,
and the part of the ESP-IDF bootloader that picks one at reset.  Not the
real thing: real flash partitions cannot exist here.  It follows the
documented API (docs.micropython.org, esp32 module: Partition(id,
block_size=4096), info(), readblocks/writeblocks/ioctl, set_boot(),
get_next_update(), mark_app_valid_cancel_rollback()) and ESP-IDF's app
rollback states (new -> pending verify at the first boot -> valid, or
aborted when a second boot finds it still pending), and records every
block write and boot selection in ``flash.json`` for the tests.

``ESP32_STANDIN`` (environment) names its folder; ``bootloader()`` is what
a reset does first.
"""

import json
import os

BOOT = 0
RUNNING = 1
TYPE_APP = 0
_LABELS = ("ota_0", "ota_1")
_SIZE = 64 * 4096


def _dir():
    return os.getenv("ESP32_STANDIN") if hasattr(os, "getenv") else os.environ["ESP32_STANDIN"]


def _load():
    with open(_dir() + "/flash.json") as f:
        return json.load(f)


def _save(st):
    with open(_dir() + "/flash.json", "w") as f:
        json.dump(st, f)


def make(folder, running="ota_0", size=_SIZE):
    """A fresh flash: ``running`` valid and booted, the other partition erased."""
    st = {"running": running, "boot": running, "size": size, "writes": [], "boots": [],
          "state": {running: "valid"}, "valid_calls": 0}
    for label in _LABELS:
        with open(folder + "/" + label + ".bin", "wb") as f:
            f.write(b"\xff" * size)
    with open(folder + "/flash.json", "w") as f:
        json.dump(st, f)


def bootloader():
    """At reset: a selected image still pending verification from the last
    boot is aborted and the previous valid one boots; a new one becomes
    pending.  Returns the label that runs."""
    st = _load()
    want = st["boot"]
    s = st["state"].get(want)
    if s == "pending":
        st["state"][want] = "aborted"
        want = st["boot"] = [x for x in _LABELS if x != want and st["state"].get(x) == "valid"][0]
    elif s == "new":
        st["state"][want] = "pending"
    st["running"] = want
    st["boots"].append(want)
    _save(st)
    return want


class Partition:
    BOOT = BOOT
    RUNNING = RUNNING
    TYPE_APP = TYPE_APP

    def __init__(self, id, block_size=4096):
        st = _load()
        if id == RUNNING:
            id = st["running"]
        elif id == BOOT:
            id = st["boot"]
        if id not in _LABELS:
            raise ValueError("partition not found")
        self.label = id
        self.bs = block_size
        self.size = st["size"]

    def info(self):
        return (TYPE_APP, 0x10 + _LABELS.index(self.label), 0x10000 + _LABELS.index(self.label) * self.size,
                self.size, self.label, False)

    def _path(self):
        return _dir() + "/" + self.label + ".bin"

    def readblocks(self, n, buf, off=0):
        with open(self._path(), "rb") as f:
            f.seek(n * self.bs + off)
            f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        st = _load()
        if self.label == st["running"]:
            raise OSError(13)    # the running app cannot be overwritten
        if off is not None or len(buf) % self.bs or (n + len(buf) // self.bs) * self.bs > self.size:
            raise OSError(22)    # this stand-in takes whole erase blocks only, as the writer should
        with open(self._path(), "r+b") as f:
            f.seek(n * self.bs)
            f.write(buf)
        st["writes"].append([self.label, n, len(buf)])
        _save(st)

    def ioctl(self, op, arg):
        if op == 4:
            return self.size // self.bs
        if op == 5:
            return self.bs
        if op == 6:
            return 0
        return None

    def set_boot(self):
        st = _load()
        st["boot"] = self.label
        if self.label != st["running"]:
            st["state"][self.label] = "new"
        _save(st)

    def get_next_update(self):
        return Partition(_LABELS[1 - _LABELS.index(self.label)], self.bs)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        st = _load()
        st["state"][st["running"]] = "valid"
        st["valid_calls"] += 1
        _save(st)
