"""What an update order needs, loaded only when one arrives: the bundle
format (``check_manifest``, ``Unpacker``: see ota_app for the layout), the
download with a deadline on the whole transfer, staging into .ota/new/ and
the switch into trial, and the failure kind of any exception.  Pure parts
run on CPython."""

import json
import os
import time
from micropython import const
from . import log
from .ota_app import (Refused, _step, exists, makedirs, makedirs_for, rmtree, read_json, save_state,
                      forward, DIR, NEW, OLD, SIGNAL, TIMEOUT, DOWNLOAD, VERIFY, TYPE, STORAGE,
                      MEMORY, INTERNAL)

MAGIC = b"IOTB1\n"
_MANIFEST_MAX = const(8192)
_FILES_MAX = const(64)
# what a bundle may not replace: the recovery after a reset, and the updater itself
_NO_BUNDLE = ("boot.py", ".ota/", "lib/iotlink/ota")
_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
_SPARE = const(8192)   # left free beside a staged bundle (state files, logs)


def apply(upd, url, version, sha256, size, headers, progress, firmware):
    """Ota_app.Updater.apply's work; raises only Refused."""
    try:
        if firmware:
            from .ota_firmware import install
            upd.state["fw"] = install(url, version, sha256, size, headers, progress, upd)
            save_state(upd.state)
        else:
            switch(upd, stage(upd, url, version, sha256, size, headers, progress))
    except Refused:
        raise
    except Exception as e:
        raise Refused(kind_of(e), _text(e))


def this_port():
    """(port, arch, mpy version) of the running MicroPython: what a bundle must match."""
    import sys
    p = sys.platform
    port = "unix" if p in ("linux", "darwin") else p
    v = getattr(sys.implementation, "_mpy", 0)
    a = v >> 10
    return port, _ARCHS[a] if a < len(_ARCHS) else None, v & 0xFF


def _safe_path(p):
    if not isinstance(p, str) or not p or len(p) > 96 or p[0] == "/" or "\\" in p:
        return False
    for part in p.split("/"):
        if part in ("", ".", ".."):
            return False
    for bad in _NO_BUNDLE:
        if p == bad or p.startswith(bad):
            return False
    return True


def _hex64(s):
    if not isinstance(s, str) or len(s) != 64:
        return False
    for c in s:
        if c not in "0123456789abcdefABCDEF":
            return False
    return True


def check_manifest(m, port, arch, mpy, free=None):
    """Refused unless manifest ``m`` is well formed and for this board; the
    free bytes ``free`` (None: unknown) must hold its files."""
    if not isinstance(m, dict) or m.get("format") != 1:
        raise Refused(TYPE, "not an iotlink bundle manifest (format 1)")
    for k in ("name", "version"):
        v = m.get(k)
        if not isinstance(v, str) or not v or len(v) > 64:
            raise Refused(VERIFY, "manifest %s: a string of 1..64 characters" % k)
    files = m.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= _FILES_MAX:
        raise Refused(VERIFY, "manifest files: a list of 1..%d entries" % _FILES_MAX)
    total = 0
    seen = []
    for f in files:
        if not isinstance(f, list) or len(f) != 3:
            raise Refused(VERIFY, "manifest files: each entry is [path, size, sha256]")
        p, n, h = f
        if not _safe_path(p):
            raise Refused(VERIFY, "manifest path not allowed: %s" % p)
        if p in seen:
            raise Refused(VERIFY, "manifest path twice: %s" % p)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0 or not _hex64(h):
            raise Refused(VERIFY, "manifest entry %s: bad size or sha256" % p)
        seen.append(p)
        total += n
    if m.get("size") != total:
        raise Refused(VERIFY, "manifest size %r is not the sum of its files (%d)" % (m.get("size"), total))
    want = m.get("port")
    if want not in (None, "any", port):
        raise Refused(TYPE, "bundle is for %s, this board is %s" % (want, port))
    want = m.get("arch")
    if want is not None and want != arch:
        raise Refused(TYPE, "bundle is built for %s, this board runs %s" % (want, arch))
    if want is not None and m.get("mpy") != mpy:
        raise Refused(TYPE, "bundle has .mpy version %r, this firmware loads %d" % (m.get("mpy"), mpy))
    if free is not None and total + _SPARE > free:
        raise Refused(STORAGE, "bundle needs %d bytes, %d free" % (total + _SPARE, free))


class Unpacker:
    """Feed the bundle's bytes as they arrive; each file is written to
    ``opener(path)`` (a binary file) and checked against its SHA-256 when
    complete.  ``on_manifest(m)`` may refuse the bundle before any file."""

    def __init__(self, on_manifest, opener):
        self._on_manifest = on_manifest
        self._open = opener
        self._head = b""
        self.manifest = None
        self._i = -1        # index of the file being written
        self._left = 0      # its bytes still to come
        self._f = self._h = None
        self.written = 0

    def feed(self, data):
        mv = memoryview(data)
        while len(mv):
            if self.manifest is None:
                mv = self._take_head(mv)
                continue
            if self._f is None:
                if not self._next():
                    raise Refused(VERIFY, "bundle is longer than its manifest says")
                continue
            n = min(len(mv), self._left)
            part = mv[:n]
            self._h.update(part)
            _step("write")
            self._f.write(part)
            self.written += n
            self._left -= n
            mv = mv[n:]
            if not self._left:
                self._close_file()

    def _take_head(self, mv):
        need = 10 if len(self._head) < 10 else 10 + _mlen(self._head)
        n = min(len(mv), need - len(self._head))
        self._head += bytes(mv[:n])
        h = self._head
        if len(h) >= 6 and h[:6] != MAGIC:
            raise Refused(TYPE, "not an iotlink bundle")
        if len(h) == 10 and not 2 <= _mlen(h) <= _MANIFEST_MAX:
            raise Refused(VERIFY, "manifest length %d out of range" % _mlen(h))
        if len(h) > 10 and len(h) == 10 + _mlen(h):
            try:
                m = json.loads(h[10:])
            except ValueError:
                raise Refused(VERIFY, "manifest is not JSON")
            self._on_manifest(m)
            self.manifest = m
            self._head = b""
            self._next()
        return mv[n:]

    def _next(self):
        """Open the next file (empty ones are written at once); False when none is left."""
        import hashlib
        files = self.manifest["files"]
        while self._i + 1 < len(files):
            self._i += 1
            self._left = files[self._i][1]
            self._h = hashlib.sha256()
            self._f = self._open(files[self._i][0])
            if self._left:
                return True
            self._close_file()
        return False

    def _close_file(self):
        from binascii import hexlify
        f, self._f = self._f, None
        f.close()
        path, _, want = self.manifest["files"][self._i]
        if hexlify(self._h.digest()).decode() != want.lower():
            raise Refused(VERIFY, "SHA-256 of %s does not match the manifest" % path)

    def finish(self):
        """Refused unless every file arrived whole."""
        if self.manifest is None or self._f is not None or self._next():
            raise Refused(VERIFY, "bundle ends before its last file")

    def abort(self):
        f, self._f = self._f, None
        if f is not None:
            f.close()


_ERRNO = {28: "no space left", 110: "timed out", 104: "connection reset", 111: "connection refused",
          12: "out of memory"}


def _text(e):
    """An exception as a line for the cloud: MicroPython's OSError(28) says only "28"."""
    t = str(e)
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int):
        return "%s (errno %d)" % (_ERRNO.get(e.args[0], "OSError"), e.args[0])
    return t if t else type(e).__name__


def _mlen(h):
    return h[6] << 24 | h[7] << 16 | h[8] << 8 | h[9]


def kind_of(e):
    """The failure kind of an exception raised by a download or an install."""
    if isinstance(e, Refused):
        return e.kind
    if isinstance(e, MemoryError):
        return MEMORY
    t = str(e)
    if isinstance(e, ValueError):   # ota.download: hash or size wrong
        return VERIFY
    if isinstance(e, OSError):
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code == 28:
            return STORAGE
        if code in (110, 116) or "timed out" in t or "TIMEDOUT" in t:
            return TIMEOUT
        if t.startswith("HTTP ") or "no HTTP answer" in t or code in (111, 113, -2, -202):
            return DOWNLOAD
        return SIGNAL
    return INTERNAL


# ----- staging and the switch ------------------------------------------------------

def download(upd, url, sink, sha256, size, headers, progress):
    """ota.download with a deadline on the whole transfer (a trickling
    server would pass every per-read timeout)."""
    from . import ota
    end = time.ticks_add(time.ticks_ms(), upd.deadline_ms)

    def write(b):
        if time.ticks_diff(end, time.ticks_ms()) < 0:
            raise Refused(TIMEOUT, "download took over %d s" % (upd.deadline_ms // 1000))
        sink(b)
    return ota.download(url, write, sha256=sha256, size=size, headers=headers,
                        progress=progress, ca=upd.ca, verify=upd.verify)


def stage(upd, url, version, sha256, size, headers, progress):
    """Download the bundle into .ota/new/, every check on the way; its manifest."""
    port, arch, mpy = this_port()
    rmtree(NEW)
    rmtree(OLD)
    makedirs(NEW)
    fw = upd.state.get("fw")    # the firmware's version stays known whatever happens here
    save_state({"phase": "staging", "version": version, "fw": fw})

    def on_manifest(m):
        check_manifest(m, port, arch, mpy, free_bytes())
        if m["version"] != version:
            raise Refused(VERIFY, "bundle is version %s, the order says %s" % (m["version"], version))

    u = Unpacker(on_manifest, open_staged)
    try:
        download(upd, url, u.feed, sha256, size, headers, progress)
        u.finish()
        if "config.json" in [f[0] for f in u.manifest["files"]]:
            check_config(NEW + "config.json")
    except BaseException as e:
        try:
            u.abort()    # its close may fail again (no space)
        except OSError:
            pass
        rmtree(NEW)
        save_state({"phase": "idle", "fw": fw})
        raise e
    return u.manifest


def switch(upd, m):
    """The staged app in place of the running one, on trial from the next boot."""
    old = read_json(DIR + "app.json")
    ours = [f[0] for f in m["files"]]
    theirs = [f[0] for f in old["files"]] if isinstance(old, dict) and "files" in old else []
    for p in ours:   # a stale x.py would shadow a new x.mpy, and the other way round
        if p[-3:] == ".py" or p[-4:] == ".mpy":
            twin = p[:-3] + ".mpy" if p[-3:] == ".py" else p[:-4] + ".py"
            if twin not in ours and twin not in theirs and exists(twin):
                theirs.append(twin)
    paths = ours + [p for p in theirs if p not in ours]
    good_s, trial_s, boots = upd.trial
    st = {"phase": "switch", "new": {"name": m["name"], "version": m["version"], "files": m["files"]},
          "old_version": upd.version, "paths": paths, "ours": ours,
          "had": [p for p in paths if exists(p)], "good_s": good_s, "trial_s": trial_s,
          "max_boots": boots, "boots": 0, "fw": upd.state.get("fw")}
    save_state(st)
    forward(st)
    st["phase"] = "trial"
    save_state(st)
    upd.state = st
    log.info("app %s staged and switched in; on trial after reboot", m["version"])


def check_config(path):
    """Refused (with the ConfigError naming the field) unless ``path`` is a
    config this library accepts: parsed, the cloud section built, the
    session checked.  Files it names are looked for where the running app
    has them (the board's root)."""
    from . import config, clouds
    try:
        cfg = config.load(path)
        clouds.load(cfg)
        config.session(cfg)
    except Exception as e:
        raise Refused(VERIFY, "config.json in the bundle refused: %s" % e)


def open_staged(p):
    makedirs_for(NEW + p)
    return open(NEW + p, "wb")


def free_bytes():
    try:
        s = os.statvfs(".")
        return s[0] * s[4]
    except (OSError, AttributeError):
        return None
