"""Write package.json (for `mpremote mip install ./package.json` from a checkout, or
github:<owner>/<repo> of a fork: its urls are relative to package.json) from lib/.

    python -m iotlink_tools.package      # run after adding or removing a module
"""

import json
import os

from . import paths

VERSION = "0.1.0"


def modules():
    return sorted(os.path.relpath(os.path.join(d, f), paths.LIB).replace(os.sep, "/")
                  for d, _, fs in os.walk(paths.LIB) for f in fs if f.endswith(".py"))


def render():
    urls = ",\n".join('    ["%s", "lib/%s"]' % (m, m) for m in modules())
    return ('{\n  "urls": [\n%s\n  ],\n  "deps": [\n    ["umqtt.simple", "latest"]\n  ],\n'
            '  "version": "%s"\n}\n' % (urls, VERSION))


def main():
    path = os.path.join(paths.ROOT, "package.json")
    with open(path, "w") as f:
        f.write(render())
    json.load(open(path))
    print("package.json: %d modules" % len(modules()))


if __name__ == "__main__":
    main()
