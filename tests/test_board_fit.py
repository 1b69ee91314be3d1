"""Every lib/ module fits a board: compiles for ESP32 and RP2040, imports only
what their firmware has."""

import os
import re

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
    assert "f\"" not in src and "f'" not in re.sub(r"[A-Za-z_]f'", "", src), "no f-strings in lib/"
