"""Fetch the on-device dependencies that pip cannot install.

PyPI's ``micropython-umqtt.simple`` is an old-style sdist that pip refuses to
build, so we do what MicroPython's ``upip`` did: ask the package index for the
release, download the tarball, check its SHA-256 against the pin below and
unpack ``umqtt/simple.py`` into ``.deps/`` (git-ignored).  The index is the
one pip itself is configured with, so mirrors keep working.
"""

import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request

from . import paths

# name, version, sha256 of the sdist, files to take out of it
UMQTT = ("micropython-umqtt.simple", "1.3.4",
         "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f",
         ("umqtt/simple.py",))
# the asyncio peer of the benchmark (Thorsten von Eicken's fork of mqtt_as):
# fetched by `iotlink bench` only, never at bootstrap or by a test
MQTT_ASYNC = ("micropython-mqtt", "0.7b4",
              "254a0af13d37cb92372538b6ded44c5f26e2e77c0d8b9b4e2d73c4f26f43e042",
              ("mqtt_async.py",))


def _index_json_base():
    """The JSON API root of the index pip uses (PIP_INDEX_URL, pip config, default)."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        try:
            from pip._internal.configuration import Configuration
            conf = Configuration(isolated=False)
            conf.load()
            url = dict(conf.items()).get("global.index-url")
        except Exception:
            url = None
    if not url:
        from pip._internal.models.index import PyPI
        return PyPI.pypi_url
    url = url.rstrip("/")
    return url[:-len("/simple")] + "/pypi" if url.endswith("/simple") else url


def _download(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def fetch_sdist(spec, dest, stamp, quiet=False):
    """Unpack ``spec``'s files (name, version, sha256, files) from its sdist on
    the index into ``dest``, once (the file ``stamp`` in ``dest`` marks it
    done); the path of the first file."""
    name, version, sha, files = spec
    target = os.path.join(dest, files[0])
    stamp = os.path.join(dest, stamp)
    if os.path.exists(target) and os.path.exists(stamp):
        return target
    meta = json.loads(_download("%s/%s/json" % (_index_json_base(), name)))
    sdists = [u for u in meta["releases"].get(version, ()) if u["packagetype"] == "sdist"]
    if not sdists:
        raise SystemExit("%s %s: the index lists no sdist" % (name, version))
    blob = _download(sdists[0]["url"])
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise SystemExit("%s %s: sha256 %s does not match the pinned %s" % (name, version, got, sha))
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            for want in files:
                if member.name.endswith("/" + want):
                    out = os.path.join(dest, want)
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    with open(out, "wb") as f:
                        f.write(tar.extractfile(member).read())
    for want in files:
        if not os.path.exists(os.path.join(dest, want)):
            raise SystemExit("%s %s: %s missing from the sdist" % (name, version, want))
    open(stamp, "w").close()
    if not quiet:
        print("%s %s (sha256 verified) -> %s" % (files[0], version, target), file=sys.stderr)
    return target


def fetch_umqtt(dest=None, quiet=False):
    """Install umqtt.simple into ``dest`` (default ``.deps/``); return the path of simple.py.
    (umqtt is a namespace package on the board; no __init__ is needed.)"""
    return fetch_sdist(UMQTT, dest or paths.DEPS, ".umqtt-" + UMQTT[1], quiet)


def fetch_mqtt_async(quiet=False):
    """mqtt_async.py (micropython-mqtt 0.7b4) into .deps/peers/; its folder."""
    dest = os.path.join(paths.DEPS, "peers")
    fetch_sdist(MQTT_ASYNC, dest, ".mqtt_async-" + MQTT_ASYNC[1], quiet)
    return dest


def main():
    fetch_umqtt()


if __name__ == "__main__":
    main()
