"""The sans-I/O session core (lib/iotlink/session.py): the cases in
session_cases.py, each a test on CPython and all of them in one run of the
MicroPython unix port."""

import os

import pytest

from iotlink_tools import upy

from . import session_cases

CASES = sorted(n for n in dir(session_cases) if n.startswith("case_"))
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("name", CASES)
def test_core_on_cpython(name):
    getattr(session_cases, name)()


def test_core_on_micropython(tmp_path):
    src = open(os.path.join(HERE, "session_cases.py")).read()
    path = tmp_path / "session_cases.py"
    path.write_text(src)
    r = upy.run(str(path), cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    got = dict(l.split(" ", 1)[::-1] if l.startswith("PASS") else (l[5:].split(":", 1)[0], l)
               for l in r.stdout.splitlines() if l.startswith(("PASS ", "FAIL ")))
    assert sorted(got) == CASES, r.stdout + r.stderr
    fails = [v for v in got.values() if v.startswith("FAIL")]
    assert not fails, "\n".join(fails)
