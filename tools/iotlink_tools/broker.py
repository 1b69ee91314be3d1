"""Run a real mosquitto on loopback for the local clouds and the tests."""

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Mosquitto:
    """One mosquitto process: a plain listener and, given certificates, a TLS one.

    ``extra`` is appended to the generated config (per-listener options such as
    ``require_certificate``).  Ports are kept across ``stop()``/``start()`` so a
    test can restart the broker under a connected device.
    """

    def __init__(self, port=None, tls=None, tls_port=None, extra="", workdir=None):
        if not shutil.which("mosquitto") and not os.path.exists("/usr/sbin/mosquitto"):
            raise RuntimeError("mosquitto not found: run tools/bootstrap.sh "
                               "(Debian package 'mosquitto')")
        self.port = port or free_port()
        self.tls = tls
        self.tls_port = (tls_port or free_port()) if tls else None
        self.extra = extra
        self.dir = workdir or tempfile.mkdtemp(prefix="iotlink-mosq-")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.proc = None

    def _config(self):
        lines = ["per_listener_settings false", "allow_anonymous true",
                 "persistence false", "log_type all", "log_timestamp true",
                 "log_dest file " + self.log_path, "user " + getpass.getuser(),
                 "listener %d 127.0.0.1" % self.port]
        if self.tls:
            lines += ["listener %d 127.0.0.1" % self.tls_port,
                      "cafile " + self.tls["ca"], "certfile " + self.tls["server"],
                      "keyfile " + self.tls["server_key"]]
        lines.append(self.extra)
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", self._config()],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for port in filter(None, (self.port, self.tls_port)):
            if not wait_port(port):
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                self.stop()
                raise RuntimeError("mosquitto did not listen on %d: %s %s" % (port, err, self.log()))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """Stop without a clean shutdown (what a crash or power cut looks like)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
