"""Shared fixtures: a real mosquitto (plain and TLS), the MicroPython unix port."""

import contextlib
import io
import json
import os
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from iotlink_tools import broker, certs, upy  # noqa: E402


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A test CA with a server certificate for localhost/127.0.0.1 and a client certificate."""
    folder = str(tmp_path_factory.mktemp("ca"))
    os.chmod(folder, 0o755)
    c = certs.make_ca(folder, clients=("device1",))
    c["ca_der"] = certs.pem_to_der(c["ca"], os.path.join(folder, "ca.der"))
    return c


@pytest.fixture
def mosquitto(test_ca):
    """A fresh mosquitto with a plain and a TLS listener on free loopback ports."""
    b = broker.Mosquitto(tls=test_ca)
    os.chmod(b.dir, 0o777)
    b.start()
    yield b
    b.stop()


class MicroPython:
    """Run code on the real MicroPython unix port (lib/ and umqtt on the path)."""

    def __init__(self, folder):
        self.folder = folder
        self.n = 0

    def write(self, code):
        self.n += 1
        path = os.path.join(self.folder, "script%d.py" % self.n)
        with open(path, "w") as f:
            f.write(textwrap.dedent(code))
        return path

    def run(self, code, timeout=60, heap=None, args=()):
        """Run ``code``; return the CompletedProcess.  Fails the test on a non-zero exit."""
        r = upy.run(self.write(code), timeout=timeout, heap=heap, args=args, cwd=self.folder)
        if r.returncode != 0:
            pytest.fail("micropython exited %d\n--- stdout\n%s\n--- stderr\n%s"
                        % (r.returncode, r.stdout, r.stderr))
        return r

    def same_as_cpython(self, code):
        """Run ``code`` here on CPython and on the unix port; assert the JSON
        line each prints last is the same, and return it."""
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(textwrap.dedent(code), {})
        cpython = json.loads(buf.getvalue().strip().splitlines()[-1])
        assert json.loads(self.run(code).stdout.strip().splitlines()[-1]) == cpython
        return cpython

    def start(self, code, heap=None, args=()):
        """Start ``code`` in the background (a Popen with merged text output)."""
        return upy.start(self.write(code), heap=heap, args=args, cwd=self.folder)


# The file names codec tests give cloud.ca / cert / key / api_ca.
_CERT_NAMES = ("ca", "c", "ca.pem", "ca.der", "c.pem", "d.crt", "d.key", "dev.crt", "dev.key")


@pytest.fixture
def cert_files(tmp_path, monkeypatch):
    """Config load opens every file a config names: stand-in PEM files under
    the names the codec tests use, in the working directory (tmp_path, where
    upy_run runs too)."""
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    for name in _CERT_NAMES:
        (tmp_path / name).write_bytes(pem)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def upy_run(tmp_path):
    return MicroPython(str(tmp_path))
