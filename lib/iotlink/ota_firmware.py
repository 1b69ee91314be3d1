"""ESP32 firmware updates into the next OTA partition (``esp32.Partition``),
with the app-update trial on top of ESP-IDF's own rollback.

The image streams into ``Partition.RUNNING``'s ``get_next_update()`` one
4096-byte block at a time (the flash erase size; the last block padded with
0xFF), is read back and hashed, and only then made the boot partition.  After
the reboot the new firmware is on trial: a healthy cloud connection (see
ota_app.Updater.check) calls ``mark_app_valid_cancel_rollback()``; a reset
before that lets the bootloader go back to the old image (firmware built
with rollback, as MicroPython's OTA builds are), and after ``max_boots``
boots, or ``trial_s`` without the cloud, the old partition is selected
explicitly for builds without it.

Needs firmware with OTA partitions (the ESP32_GENERIC-OTA download, or a
partition table with ota_0/ota_1).  The Pico W has no such thing in
MicroPython: there the app update (ota_app) is the update.
"""

from micropython import const
from .ota_app import Refused, TYPE, STORAGE, VERIFY, save_state

BLOCK = const(4096)
_IMAGE_MAGIC = const(0xE9)   # first byte of every ESP32 app image


def _esp32():
    try:
        import esp32
        return esp32
    except ImportError:
        raise Refused(TYPE, "firmware update needs an ESP32 (this port has no esp32.Partition)")


def label(part):
    return part.info()[4]


def install(url, version, sha256, size, headers, progress, upd):
    """Write the image at ``url`` into the next OTA partition and select it
    for the next boot; returns the firmware part of the OTA state."""
    esp32 = _esp32()
    P = esp32.Partition
    running = P(P.RUNNING)
    try:
        part = running.get_next_update()
    except OSError:
        raise Refused(TYPE, "this firmware has no OTA partitions")
    blocks = part.ioctl(4, 0)
    if size is not None and size > blocks * BLOCK:
        raise Refused(STORAGE, "image of %d bytes, partition %s holds %d" % (size, label(part), blocks * BLOCK))
    w = BlockWriter(part, blocks)
    from .ota_install import download
    download(upd, url, w.write, sha256, size, headers, progress)
    n = w.close()
    if sha256 is not None and read_back(part, n) != sha256.lower():
        raise Refused(VERIFY, "partition %s does not read back as written" % label(part))
    part.set_boot()
    good_s, trial_s, boots = upd.trial
    return {"phase": "trial", "version": version, "label": label(part), "old": label(running),
            "old_version": upd.fw_version, "boots": 0, "max_boots": boots, "trial_s": trial_s}


class BlockWriter:
    """Gathers a stream into whole blocks for ``part.writeblocks``."""

    def __init__(self, part, blocks):
        self.part = part
        self.blocks = blocks
        self.buf = bytearray(BLOCK)
        self.fill = 0
        self.block = 0
        self.total = 0

    def write(self, data):
        mv = memoryview(data)
        if self.total == 0 and len(mv) and mv[0] != _IMAGE_MAGIC:
            raise Refused(TYPE, "not an ESP32 app image (first byte 0x%02x)" % mv[0])
        while len(mv):
            n = min(len(mv), BLOCK - self.fill)
            self.buf[self.fill:self.fill + n] = mv[:n]
            self.fill += n
            self.total += n
            mv = mv[n:]
            if self.fill == BLOCK:
                self._flush()

    def _flush(self):
        if self.block >= self.blocks:
            raise Refused(STORAGE, "image larger than the partition")
        from .ota_app import _step
        _step("block")
        self.part.writeblocks(self.block, self.buf)
        self.block += 1
        self.fill = 0

    def close(self):
        if self.fill:
            for i in range(self.fill, BLOCK):
                self.buf[i] = 0xFF
            self._flush()
        return self.total


def read_back(part, n):
    """SHA-256 hex of the first ``n`` bytes of ``part``."""
    import hashlib
    from binascii import hexlify
    h = hashlib.sha256()
    buf = bytearray(BLOCK)
    i = 0
    while n > 0:
        part.readblocks(i, buf)
        h.update(memoryview(buf)[:min(n, BLOCK)])
        n -= BLOCK
        i += 1
    return hexlify(h.digest()).decode()


def boot_check(st):
    """At boot with new firmware on trial: back on the old partition means
    the bootloader rolled back (record the failure); else count the boot,
    and past max_boots select the old partition ourselves."""
    fw = st["fw"]
    esp32 = _esp32()
    P = esp32.Partition
    now = label(P(P.RUNNING))
    if now != fw["label"]:
        st["fw"] = {"version": fw.get("old_version")}
        st["report"] = {"kind": "install", "firmware": True, "version": fw.get("old_version"),
                        "target": fw["version"], "text": "firmware %s did not start; bootloader rolled back"
                        % fw["version"]}
        save_state(st)
        return
    fw["boots"] = fw.get("boots", 0) + 1
    save_state(st)
    if fw["boots"] > fw.get("max_boots", 3):
        roll_back(st, "install", "no cloud connection within %d boots" % fw.get("max_boots", 3))
        from .ota_app import reset
        reset()


def roll_back(st, kind, text):
    """Boot the previous partition next and record why."""
    fw = st["fw"]
    esp32 = _esp32()
    esp32.Partition(fw["old"]).set_boot()
    st["fw"] = {"version": fw.get("old_version")}
    st["report"] = {"kind": kind, "firmware": True, "version": fw.get("old_version"),
                    "target": fw["version"], "text": text}
    save_state(st)


def mark_valid():
    _esp32().Partition.mark_app_valid_cancel_rollback()
