# MicroPython side of the OTA tests: a stand-in for a board's flash chip (a
# block device kept in a host file, so it outlives a killed process), with
# the real littlefs (VfsLfs2, as on ESP32 and Pico W) on it.
import os
import vfs

_BS = 512


class FileBlocks:
    def __init__(self, path, blocks):
        self.blocks = blocks
        try:
            self.f = open(path, "r+b")
        except OSError:
            self.f = open(path, "w+b")
            self.f.write(b"\xff" * (blocks * _BS))
            self.f.flush()

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * _BS + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * _BS + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return _BS
        if op == 6:   # erase
            return 0
        return None


def mount(path, blocks=256, fresh=False):
    """littlefs from the image ``path`` at /flash, the working directory."""
    bd = FileBlocks(path, blocks)
    if fresh:
        vfs.VfsLfs2.mkfs(bd)
    vfs.mount(vfs.VfsLfs2(bd), "/flash")
    os.chdir("/flash")
