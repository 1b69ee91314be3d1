"""An app that fails at import, to watch an update being rolled back:

    .venv/bin/iotlink ota pack examples/ota/broken --board unix --version 9.9.9 -o .sim/broken.iotb
    .venv/bin/iotlink run --cloud iotda --ota .sim/broken.iotb --seconds 40
"""

import board  # noqa: F401

raise RuntimeError("this app is broken on purpose")
