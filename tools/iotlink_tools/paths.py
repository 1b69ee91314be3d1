"""Where things live in a checkout."""

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(ROOT, "lib")
DEPS = os.environ.get("IOTLINK_DEPS") or os.path.join(ROOT, ".deps")
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
