"""lib/ importable on CPython, for the tests that run a codec or a library
module on the host beside the same code on the MicroPython unix port."""

import os
import sys
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LIB = os.path.join(ROOT, "lib")


def lib_on_host():
    """lib/ on the module path; ``micropython`` stands in with the one name
    the library needs from it on CPython (``const``) unless a fuller shim
    (tests/shim) or MicroPython itself provides it."""
    if LIB not in sys.path:
        sys.path.insert(0, LIB)
    try:
        import micropython  # noqa: F401
    except ImportError:
        sys.modules["micropython"] = types.SimpleNamespace(const=lambda x: x)
