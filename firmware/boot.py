# Kept minimal on purpose: anything that fails here stops the board before the
# REPL is useful.  main.py does the work and never boot-loops.
#
# The one job done here: an update (iotlink.ota_app) interrupted by a reset is
# finished or undone before main.py can import a file of it, and an app on
# trial runs under a guard that brings the old one back if it raises.
try:
    from iotlink import ota_app
except ImportError:
    ota_app = None
if ota_app is not None and ota_app.boot() == "trial":
    ota_app.guard("main.py")
