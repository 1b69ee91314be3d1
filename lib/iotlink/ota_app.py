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
written.  Paths the recovery needs (boot.py, .ota/, the updater's own
lib/iotlink/ota* modules) are refused in a bundle; a config.json in one
must pass the same checks as at start.

Failures raise ``Refused(kind, text)``; the cloud modules (iotda_ota,
thingscloud_ota) turn the kind into their result codes.  What only an
update order needs (the bundle parser and checks, the download, staging,
the switch into trial) is in ota_install.py, imported when an order comes;
what every boot and the trial need is here, every file operation in the
"filesystem" section at the end.
"""

import json
import os
import time
from . import log

DIR = ".ota/"
NEW = ".ota/new/"
OLD = ".ota/old/"
STATE = ".ota/state.json"

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
        self._t0 = self._hold = time.ticks_ms()
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
        if self.state.get("phase", "idle") != "idle":   # boot.py has not run since a reset
            raise Refused(BUSY, "an update is half done (%s): a reset lets boot.py finish it"
                          % self.state["phase"])
        from .ota_install import apply
        apply(self, url, version, sha256, size, headers, progress, firmware)
        self._reboot_at = time.ticks_add(time.ticks_ms(), 1000)   # after the answer is out

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
            # the answer to the order first (it waits in the outbox while the
            # link is down), 30 s at most
            s = self.dev.stats if self.dev is not None else None
            held = s["queued"] - s["sent"] - s["dropped"] if s else 0
            if not held or time.ticks_diff(now, self._reboot_at) >= 30000:
                self._reboot_at = None
                self.reboot()
        if not self.on_trial() or time.ticks_diff(now, self._hold) < 0:
            return
        try:
            if self._up_at is not None and time.ticks_diff(now, self._up_at) >= self.good_ms:
                self.good()
            elif time.ticks_diff(now, self._t0) >= self.trial_ms():
                self.fail(INSTALL, "no cloud connection within %d s" % (self.trial_ms() // 1000))
        except Exception as e:   # a flash error here must not end the app's loop
            log.error("OTA trial step failed: %s", log.err(e))
            self._hold = time.ticks_add(time.ticks_ms(), 10000)   # again in 10 s

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
