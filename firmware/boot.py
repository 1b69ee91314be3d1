# Kept minimal on purpose: anything that fails here stops the board before the
# REPL is useful.  main.py does the work and never boot-loops.
#
# The one job done here: an update (iotlink.ota_app) interrupted by a reset is
# finished or undone before main.py can import a file of it, and an app on
# trial runs under a guard that brings the old one back if it raises.  With no
# update under way or waiting to be reported there is no .ota/state.json (a
# firmware update leaves its version there) and nothing is imported.
import os

try:
    os.stat(".ota/state.json")
    _ota = True
except OSError:
    _ota = False
if _ota:
    from iotlink import ota_app
    if ota_app.boot() == "trial":
        ota_app.guard("main.py")
