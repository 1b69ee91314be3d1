"""Driving a board's raw REPL from Python (mpremote's serial transport): run a
script and get its output, and copy files in one stream.

``mpremote fs cp`` sends a file as one REPL command per 256 bytes, which the
emulated RP2040 (about 1000x slower than the host) takes half a second to
compile each: about 0.6 KB/s.  ``put`` instead runs one small receiver on the
board that reads raw bytes from the USB serial line and writes them out, so
copying costs what the serial line costs.  `iotlink deploy` keeps using
mpremote, as a user does.
"""

import os

_RECEIVER = """
import sys, os, micropython
micropython.kbd_intr(-1)
_in = sys.stdin.buffer
def _line():
    b = bytearray()
    while True:
        c = _in.read(1)
        if c == b'\\n':
            return b.decode()
        b += c
while True:
    path = _line()
    if not path:
        break
    size = int(_line())
    d = ''
    for part in path.split('/')[:-1]:
        d += '/' + part
        try:
            os.mkdir(d)
        except OSError:
            pass
    with open(path, 'wb') as f:
        while size:
            n = min(size, 512)
            f.write(_in.read(n))
            size -= n
    print('PUT', path)
micropython.kbd_intr(3)
"""


class BoardError(Exception):
    """A script on the board raised: the text is its traceback."""


class Board:
    """A MicroPython board (real or emulated) on a serial port."""

    def __init__(self, port):
        from mpremote.transport_serial import SerialTransport
        self.port = port
        self.transport = SerialTransport(port, baudrate=115200)

    def enter(self, soft_reset=True, attempts=3):
        """Into the raw REPL, interrupting whatever runs; a board still booting
        (or busy in a slow main.py) gets more than mpremote's one try."""
        from mpremote.transport import TransportError
        for left in range(attempts - 1, -1, -1):
            try:
                return self.transport.enter_raw_repl(soft_reset=soft_reset)
            except TransportError:
                if not left:
                    raise

    def run(self, code, timeout=60, soft_reset=True):
        """Run ``code`` (after a soft reset: a fresh heap, boot.py run, main.py not);
        return what it printed.  Raises BoardError with the traceback if it raised."""
        t = self.transport
        self.enter(soft_reset)
        try:
            t.exec_raw_no_follow(code)
            out, err = t.follow(timeout)
        finally:
            t.exit_raw_repl()
        if err:
            raise BoardError(err.decode(errors="replace"))
        return out.decode(errors="replace").replace("\r\n", "\n")

    def put(self, files, timeout=300):
        """Copy ``files`` ([(host path or bytes, board path)]) onto the board's filesystem."""
        t = self.transport
        self.enter()
        try:
            t.exec_raw_no_follow(_RECEIVER)
            for src, dst in files:
                if isinstance(src, str):
                    with open(src, "rb") as f:
                        src = f.read()
                t.serial.write(b"%s\n%d\n" % (dst.lstrip("/").encode(), len(src)) + src)
                ack = b"PUT %s\r\n" % dst.lstrip("/").encode()
                if not t.read_until(1, ack, timeout=timeout).endswith(ack):
                    raise BoardError("the board did not confirm %s within %d s" % (dst, timeout))
            t.serial.write(b"\n")
            out, err = t.follow(timeout)
        finally:
            t.exit_raw_repl()
        if err:
            raise BoardError(err.decode(errors="replace"))

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tree(folder, prefix):
    """[(host path, board path)] for every file under ``folder``, placed under ``prefix``."""
    out = []
    for d, _, names in os.walk(folder):
        for n in sorted(names):
            src = os.path.join(d, n)
            out.append((src, prefix.rstrip("/") + "/" + os.path.relpath(src, folder).replace(os.sep, "/")))
    return sorted(out)
