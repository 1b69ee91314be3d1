"""App updates that finish the job: stage a bundle, switch to it, keep it only
when it reaches the cloud, otherwise put the previous app back.

    upd = ota_app.attach(dev, command=app.command, status=app.status, reboot=board.reboot)
    while True:
        dev.poll(1000)
        upd.check()          # marks a trial app good, or rolls it back

and in boot.py (the one file an update never replaces):

    from iotlink import ota_app
    if ota_app.boot() == "trial":
        ota_app.guard()      # runs main.py; if it raises, the old app returns

A bundle (.iotb, built by ``iotlink ota pack``) is ``IOTB1\\n``, a 4-byte
big-endian manifest length, the manifest (JSON: format, name, version,
port, arch, mpy, size, files [[path, size, sha256], ...]) and then each
file's bytes in manifest order.  Not tar: the manifest comes first, so a
bundle for another board, too big for the flash or lying about its sizes is
refused before a byte is written, and a file is hashed and written as it
streams past with one small buffer (no 512-byte headers or padding to skip).

Everything lives under ``.ota/`` beside main.py: ``new/`` (staging),
``old/`` (the previous app while the new one is on trial), ``state.json``
(written to ``state.tmp`` and renamed, so it is always whole).  Files are
switched one rename at a time; ``boot()`` finishes an interrupted switch
(the staged files were all verified) or an interrupted undo, so a power cut
at any point leaves the old app or the new one, never a mix or a file half
written.  Paths the recovery needs (boot.py, .ota/, this module) are refused
in a bundle; a config.json in one must pass the same checks as at start.

Failures raise ``Refused(kind, text)``; the cloud modules (iotda_ota,
thingscloud_ota) turn the kind into their result codes.  Pure parts
(``check_manifest``, ``Unpacker``) run on CPython; every file operation is
in the "filesystem" section at the end.
"""

import json
import os
import time
from micropython import const
from . import log

MAGIC = b"IOTB1\n"
DIR = ".ota/"
NEW = ".ota/new/"
OLD = ".ota/old/"
STATE = ".ota/state.json"
_MANIFEST_MAX = const(8192)
_FILES_MAX = const(64)
_NO_BUNDLE = ("boot.py", ".ota/", "lib/iotlink/ota_app.")
_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
_SPARE = const(8192)   # left free beside a staged bundle (state files, logs)

# why an update failed (the cloud modules map these to their codes)
BUSY = "busy"
LATEST = "latest"
SIGNAL = "signal"        # the link dropped during the download
TIMEOUT = "timeout"      # the download stalled or ran past its deadline
DOWNLOAD = "download"    # HTTP error, redirect, refused connection
VERIFY = "verify"        # hash, size or content check failed
TYPE = "type"            # not for this board / arch / kind of update
STORAGE = "storage"
MEMORY = "memory"
INSTALL = "install"      # the new app crashed or never reached the cloud
INTERNAL = "internal"

step_hook = None   # tests: called with a name before every write, rename and state change


class Refused(Exception):
    """An update refused or failed; ``kind`` is one of the names above."""

    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind


def _step(what):
    if step_hook is not None:
        step_hook(what)


# ----- pure parts -------------------------------------------------------------

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


# ----- the update itself --------------------------------------------------------

class Updater:
    """The update of one board: apply an order, run the trial, report the
    outcome once the cloud is reachable.  Made by ``attach()``."""

    def __init__(self, dev=None, good_s=60, trial_s=300, max_boots=3, deadline_s=600,
                 reboot=None, version=None, ca=None, verify=True):
        self.dev = dev
        self.good_ms = good_s * 1000
        self.trial = (good_s, trial_s, max_boots)
        self.deadline_ms = deadline_s * 1000
        self.ca, self.verify = ca, verify
        self._reboot = reboot
        self._reboot_at = None
        self._t0 = time.ticks_ms()
        self._up_at = None
        self.state = load_state()
        m = read_json(DIR + "app.json")
        st = self.state
        if st.get("phase") == "trial":
            self.version = st["new"]["version"]
        else:
            self.version = m["version"] if isinstance(m, dict) and "version" in m else version
        fw = st.get("fw")
        self.fw_version = fw.get("version") if isinstance(fw, dict) else None
        self.send = None     # fn(report dict): set by the cloud module
        self.staged = None

    def on_trial(self):
        fw = self.state.get("fw")
        return self.state.get("phase") == "trial" or (isinstance(fw, dict) and fw.get("phase") == "trial")

    # -- orders

    def apply(self, url, version, sha256=None, size=None, headers=None, progress=None, firmware=False):
        """Download and install an update; on return the board reboots soon
        (``check()``) into it.  Raises Refused; the running app is untouched then."""
        if version == (self.fw_version if firmware else self.version):
            raise Refused(LATEST, "already running %s" % version)
        if self.on_trial():
            raise Refused(BUSY, "the last update is still on trial")
        try:
            if firmware:
                from .ota_firmware import install
                self.state["fw"] = install(url, version, sha256, size, headers, progress, self)
                save_state(self.state)
            else:
                self._stage(url, version, sha256, size, headers, progress)
                self._switch()
        except Refused:
            raise
        except Exception as e:
            raise Refused(kind_of(e), _text(e))
        self._reboot_at = time.ticks_add(time.ticks_ms(), 1000)   # after the answer is out

    def download(self, url, sink, sha256, size, headers, progress):
        """ota.download with a deadline on the whole transfer (a trickling
        server would pass every per-read timeout)."""
        from . import ota
        end = time.ticks_add(time.ticks_ms(), self.deadline_ms)

        def write(b):
            if time.ticks_diff(end, time.ticks_ms()) < 0:
                raise Refused(TIMEOUT, "download took over %d s" % (self.deadline_ms // 1000))
            sink(b)
        return ota.download(url, write, sha256=sha256, size=size, headers=headers,
                            progress=progress, ca=self.ca, verify=self.verify)

    def _stage(self, url, version, sha256, size, headers, progress):
        port, arch, mpy = this_port()
        rmtree(NEW)
        rmtree(OLD)
        makedirs(NEW)
        fw = self.state.get("fw")    # the firmware's version stays known whatever happens here
        save_state({"phase": "staging", "version": version, "fw": fw})

        def on_manifest(m):
            check_manifest(m, port, arch, mpy, free_bytes())
            if m["version"] != version:
                raise Refused(VERIFY, "bundle is version %s, the order says %s" % (m["version"], version))

        u = Unpacker(on_manifest, open_staged)
        try:
            self.download(url, u.feed, sha256, size, headers, progress)
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
        self.staged = u.manifest

    def _switch(self):
        m = self.staged
        old = read_json(DIR + "app.json")
        ours = [f[0] for f in m["files"]]
        theirs = [f[0] for f in old["files"]] if isinstance(old, dict) and "files" in old else []
        for p in ours:   # a stale x.py would shadow a new x.mpy, and the other way round
            if p[-3:] == ".py" or p[-4:] == ".mpy":
                twin = p[:-3] + ".mpy" if p[-3:] == ".py" else p[:-4] + ".py"
                if twin not in ours and twin not in theirs and exists(twin):
                    theirs.append(twin)
        paths = ours + [p for p in theirs if p not in ours]
        good_s, trial_s, boots = self.trial
        st = {"phase": "switch", "new": {"name": m["name"], "version": m["version"], "files": m["files"]},
              "old_version": self.version, "paths": paths, "ours": ours,
              "had": [p for p in paths if exists(p)], "good_s": good_s, "trial_s": trial_s,
              "max_boots": boots, "boots": 0, "fw": self.state.get("fw")}
        save_state(st)
        forward(st)
        st["phase"] = "trial"
        save_state(st)
        self.state = st
        log.info("app %s staged and switched in; on trial after reboot", m["version"])

    # -- the trial and the loop

    def status(self, event, detail):
        """The Device's "status" events: the trial clock and the pending report."""
        if event == "up":
            if self._up_at is None:
                self._up_at = time.ticks_ms()
            rep = self.state.get("report")
            if rep and self.send is not None:
                try:
                    self.send(rep)
                except Exception as e:
                    log.warn("OTA report not sent: %s", e)
                    return
                self.state.pop("report", None)
                save_state(self.state)
        else:
            self._up_at = None

    def check(self):
        """Call from the main loop (outside poll): reboot into an installed
        update, mark a trial good, or give up on it."""
        now = time.ticks_ms()
        if self._reboot_at is not None and time.ticks_diff(now, self._reboot_at) >= 0:
            self._reboot_at = None
            self.reboot()
        if not self.on_trial():
            return
        if self._up_at is not None and time.ticks_diff(now, self._up_at) >= self.good_ms:
            self.good()
        elif time.ticks_diff(now, self._t0) >= self.trial_ms():
            self.fail(INSTALL, "no cloud connection within %d s" % (self.trial_ms() // 1000))

    def trial_ms(self):
        st = self.state
        fw = st.get("fw") if st.get("phase") != "trial" else None
        return (fw or st).get("trial_s", self.trial[1]) * 1000

    def good(self):
        """The trial app stayed up: keep it, drop the old one, report success."""
        st = self.state
        fw = st.get("fw")
        if isinstance(fw, dict) and fw.get("phase") == "trial":
            from .ota_firmware import mark_valid
            mark_valid()
            st["fw"] = {"version": fw["version"]}
            st["report"] = {"kind": "ok", "firmware": True, "version": fw["version"],
                            "target": fw["version"], "text": "firmware %s running" % fw["version"]}
        if st.get("phase") == "trial":
            v = st["new"]["version"]
            write_json(DIR + "app.json", st["new"])
            st = {"phase": "idle", "report": {"kind": "ok", "version": v, "target": v,
                                             "text": "app %s running" % v},
                  "fw": st.get("fw")}
            save_state(st)
            rmtree(OLD)
        else:
            save_state(st)
        self.state = st
        log.info("update good: %s", st["report"]["version"])
        self.status("up", None)   # connected already: report now

    def fail(self, kind, text):
        """Give the trial up: the old app (or firmware) back, the failure
        reported after the next connect; reboots."""
        log.error("update failed on trial: %s", text)
        st = self.state
        fw = st.get("fw")
        if st.get("phase") == "trial":
            undo(st, kind, text)
        elif isinstance(fw, dict) and fw.get("phase") == "trial":
            from .ota_firmware import roll_back
            roll_back(st, kind, text)
        self.reboot()

    def reboot(self):
        if self._reboot is not None:
            self._reboot()
        reset()


def options(section, where="app.ota"):
    """attach()'s options from a config section (``app.ota``), checked: a
    ConfigError names the field."""
    from . import config
    if section is True:
        section = {}
    g = config.get
    o = {"good_s": g(section, "good_s", int, 60, where, lo=1, hi=86400),
         "trial_s": g(section, "trial_s", int, 300, where, lo=10, hi=86400),
         "max_boots": g(section, "max_boots", int, 3, where, lo=1, hi=100),
         "deadline_s": g(section, "deadline_s", int, 600, where, lo=10, hi=86400),
         "verify": g(section, "verify", bool, True, where),
         "version": g(section, "version", str, None, where)}
    o["ca"] = config.file(section, "ca", where)
    return o


def attach(dev, command=None, status=None, reboot=None, **opts):
    """Wire OTA into ``dev`` for its cloud (``clouds/<cloud>_ota.py``):
    upgrade orders are applied, the running version is what the cloud is
    told after every connect, the outcome of the last update is reported
    once connected.  The app's own ``command`` and ``status`` handlers are
    called for everything else (the Device holds one handler per kind).
    ``opts``: good_s (60), trial_s (300), max_boots (3), deadline_s (600),
    ca, verify, version (the running app's when none was installed yet)."""
    upd = Updater(dev, reboot=reboot, **opts)
    try:
        mod = __import__("iotlink.clouds.%s_ota" % dev.cloud.NAME, None, None, ("attach",))
    except ImportError:
        from .errors import ConfigError
        raise ConfigError("app.ota: cloud.type %s has no OTA updates (iotda, thingscloud have)"
                          % dev.cloud.NAME)
    mod.attach(dev, upd, command)

    def on_status(event, detail):
        upd.status(event, detail)
        if status is not None:
            status(event, detail)
    dev.on("status", on_status)
    return upd


# ----- boot time ------------------------------------------------------------------

def boot():
    """From boot.py: finish what a reset interrupted.  Returns the phase
    now: "idle", or "trial" when the new app runs on trial (then call
    ``guard()``)."""
    st = load_state()
    ph = st.get("phase", "idle")
    if ph == "staging":
        rmtree(NEW)
        save_state({"phase": "idle", "fw": st.get("fw"), "report": {
            "kind": INTERNAL, "version": None, "target": st.get("version"),
            "text": "reset during the download of %s" % st.get("version")}})
        return "idle"
    if ph == "switch":
        forward(st)
        st["phase"] = ph = "trial"
        save_state(st)
    if ph == "undo":
        undo(st, st["report"]["kind"], st["report"]["text"])
        return "idle"
    fw = st.get("fw")
    if isinstance(fw, dict) and fw.get("phase") == "trial":
        from .ota_firmware import boot_check
        boot_check(st)
    if ph == "trial":
        st["boots"] = st.get("boots", 0) + 1
        if st["boots"] > st.get("max_boots", 3):
            undo(st, INSTALL, "no cloud connection within %d boots" % st.get("max_boots", 3))
            return "idle"
        save_state(st)
        return "trial"
    return "idle"


def guard(main="main.py"):
    """Run the trial app from boot.py: an exception out of it (at import or
    later) restores the old app.  Resets afterwards either way, so the port
    does not run main.py a second time."""
    try:
        with open(main) as f:
            code = f.read()
        exec(compile(code, main, "exec"), {"__name__": "__main__", "__file__": main})
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        import sys
        sys.print_exception(e)
        text = "the new app raised %s: %s" % (type(e).__name__, e)
        log.error("update failed on trial: %s", text)
        undo(load_state(), INSTALL, text)
    reset()


def check_config(path):
    """ConfigError (naming the field) unless ``path`` is a config this
    library accepts: parsed, the cloud section built, the session checked."""
    from . import config, clouds
    cfg = config.load(path)
    try:
        clouds.load(cfg)
        config.session(cfg)
    except Exception as e:
        raise Refused(VERIFY, "config.json in the bundle refused: %s" % e)


# ----- the switch: one rename at a time, safe to repeat after a reset ---------------

def forward(st):
    """Move the old app's files to .ota/old/ and the staged ones in.  A
    path's staged copy still present means its move is not done yet."""
    ours = st["ours"]
    for p in st["paths"]:
        mine = p in ours
        if mine and not exists(NEW + p):
            continue    # done before the reset
        if exists(p):
            if not exists(OLD + p):
                makedirs_for(OLD + p)
                _step("move")
                os.rename(p, OLD + p)
            else:
                _step("move")
                os.remove(p)
        if mine:
            makedirs_for(p)
            _step("move")
            os.rename(NEW + p, p)
    rmtree(NEW)     # empty folders are left


def undo(st, kind, text):
    """Put the previous app back (safe to repeat) and record the failure to report."""
    if st.get("phase") not in ("trial", "switch", "undo"):
        return     # nothing on trial (an app kept already)
    st["phase"] = "undo"
    st["report"] = {"kind": kind, "version": st.get("old_version"),
                    "target": st["new"]["version"], "text": text}
    save_state(st)
    had = st["had"]
    for p in st["paths"]:
        if exists(OLD + p):
            if exists(p):
                _step("move")
                os.remove(p)
            _step("move")
            os.rename(OLD + p, p)
        elif p not in had and exists(p):
            _step("move")
            os.remove(p)
    rmtree(NEW)
    rmtree(OLD)
    save_state({"phase": "idle", "report": st["report"], "fw": st.get("fw")})


# ----- filesystem: every side effect of this module -----------------------------------

def exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def makedirs(d):
    path = ""
    for part in d.rstrip("/").split("/"):
        path += part
        try:
            os.mkdir(path)
        except OSError:
            pass
        path += "/"


def makedirs_for(p):
    i = p.rfind("/")
    if i > 0:
        makedirs(p[:i])


def rmtree(d):
    d = d.rstrip("/")
    try:
        entries = list(os.ilistdir(d))
    except OSError:
        return
    for e in entries:
        p = d + "/" + e[0]
        if e[1] & 0x4000:
            rmtree(p)
        else:
            _step("remove")
            os.remove(p)
    os.rmdir(d)


def open_staged(p):
    makedirs_for(NEW + p)
    return open(NEW + p, "wb")


def free_bytes():
    try:
        s = os.statvfs(".")
        return s[0] * s[4]
    except (OSError, AttributeError):
        return None


def read_json(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(p, obj):
    """Whole or not at all: written beside and renamed over."""
    makedirs(DIR)
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    _step("state")
    try:
        os.rename(tmp, p)
    except OSError:    # FAT will not rename over a file
        os.remove(p)
        os.rename(tmp, p)


def load_state():
    st = read_json(STATE)
    if st is None:
        st = read_json(STATE + ".tmp")   # a reset between the FAT remove and rename
    return st if isinstance(st, dict) else {"phase": "idle"}


def save_state(st):
    """Nothing left to do or report: no state file, so boot.py has nothing to import."""
    for k in st:
        if k != "phase" and st[k] is not None or k == "phase" and st[k] != "idle":
            write_json(STATE, st)
            return
    for p in (STATE + ".tmp", STATE):
        if exists(p):
            _step("state")
            os.remove(p)


def reset():
    try:
        import machine
        machine.reset()
    except (ImportError, AttributeError):
        pass
    import sys
    sys.exit(0)    # the unix port: the process ends, the board script restarts it
