"""Installing the library without the iotlink CLI, as README "Without the CLI"
says: `mpremote mip install ./package.json` from a checkout, run through the
installed mpremote's own mip code against a stand-in board filesystem (no board
here), and package.json in step with lib/."""

import json
import os
import re

import pytest

from iotlink_tools import paths

mip = pytest.importorskip("mpremote.mip")


class BoardFiles:
    """Stand-in for a board reached over mpremote's transport: an in-memory
    filesystem with the calls mip makes (mkdir, exists, write, eval of sys)."""

    def __init__(self):
        self.files, self.dirs = {}, {"/lib"}

    def fs_exists(self, path):
        return path in self.dirs or path in self.files

    def fs_mkdir(self, path):
        self.dirs.add(path)

    def fs_writefile(self, path, data, progress_callback=None):
        assert os.path.dirname(path) in self.dirs, "mip writes %s before making its folder" % path
        self.files[path] = data

    def fs_hashfile(self, path, algo):
        raise FileNotFoundError(path)

    def exec(self, code):
        pass

    def eval(self, code):
        return 6   # sys.implementation._mpy & 0xFF of current firmware


def test_mip_install_from_a_checkout_puts_every_module_under_lib(monkeypatch):
    board = BoardFiles()
    fetched = []
    real = mip._install_package

    def install(transport, package, index, target, version, mpy):
        if package.endswith(".json"):
            return real(transport, package, index, target, version, mpy)
        fetched.append(package)   # the index (network): only what is asked for is checked here
    monkeypatch.setattr(mip, "_install_package", install)
    monkeypatch.chdir(paths.ROOT)
    mip._install_package(board, "./package.json", mip._PACKAGE_INDEX, "/lib", None, True)
    modules = sorted(os.path.relpath(os.path.join(d, f), paths.LIB).replace(os.sep, "/")
                     for d, _, fs in os.walk(paths.LIB) for f in fs if f.endswith(".py"))
    assert sorted(board.files) == ["/lib/" + m for m in modules]
    for m in modules:
        with open(os.path.join(paths.LIB, m), "rb") as f:
            assert board.files["/lib/" + m] == f.read()
    assert fetched == ["umqtt.simple"]


def test_package_json_uses_urls_relative_to_itself():
    # relative urls resolve against where package.json was found: a checkout, or
    # github:<owner>/<repo> of any fork (mpremote >= 1.25, on-board mip of MicroPython >= 1.25)
    pkg = json.load(open(os.path.join(paths.ROOT, "package.json")))
    assert all(not src.startswith(mip._ALLOWED_MIP_URL_PREFIXES) for _, src in pkg["urls"])
    with open(os.path.join(paths.ROOT, "pyproject.toml")) as f:
        extras = dict(re.findall(r"^(\w+) = \[(.*)\]", f.read(), re.M))
    assert '"mpremote>=1.25"' in extras["board"] and '"mpremote>=1.25"' in extras["dev"]
