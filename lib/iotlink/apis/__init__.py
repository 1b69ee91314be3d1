"""Clouds' HTTP APIs, usable on a board (MicroPython) and on a host (CPython)."""
