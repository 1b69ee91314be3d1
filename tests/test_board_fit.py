"""Every lib/ module fits a board: compiles for ESP32 and RP2040, imports only
what their firmware has."""

import io
import os
import re
import tokenize

import pytest

from iotlink_tools import cli, paths

MODULES = sorted(os.path.relpath(os.path.join(d, f), paths.LIB)
                 for d, _, fs in os.walk(paths.LIB) for f in fs if f.endswith(".py"))
CPYTHON_ONLY = re.compile(r"^\s*(import|from)\s+(hmac|typing|logging|dataclasses|uuid|abc|enum|"
                          r"threading|asyncio\.subprocess|functools|itertools|collections\.abc)\b", re.M)


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
def test_every_module_compiles(arch, tmp_path):
    sizes = cli.build(arch, str(tmp_path))
    assert set(sizes) == set(MODULES)
    assert all(n > 0 for n in sizes.values())


@pytest.mark.parametrize("module", MODULES)
def test_no_cpython_only_imports(module):
    src = open(os.path.join(paths.LIB, module)).read()
    assert not CPYTHON_ONLY.search(src), CPYTHON_ONLY.search(src).group(0)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        # Python >= 3.12 tokenizes f-strings separately
        assert tok.type != getattr(tokenize, "FSTRING_START", None), "f-string at %s:%d" % (
            module, tok.start[0])
        if tok.type == tokenize.STRING:
            prefix = tok.string[:tok.string.index(tok.string[-1])].lower()
            assert "f" not in prefix, "f-string at %s:%d (MicroPython builds may lack them)" % (
                module, tok.start[0])
