"""Run on the MicroPython unix port by `iotlink deploy` and `iotlink creds`:
load config.json with the library itself, as the board will.

    micropython config_check.py CONFIG [UNIX_TIME]

Prints ``TYPE <cloud.type>``, one ``FILE <field> <path>`` per file the config
names (as the library opened it), then ``CONFIG <message>`` for a config
error, or with UNIX_TIME the MQTT credentials at that time.  Run in the
config's folder: relative paths there are relative to the board's root.
"""

import sys

from iotlink import config

opened = []
_file = config.file


def _recording_file(section, key, where="cloud"):
    path = _file(section, key, where)
    if path:
        opened.append((where + "." + key, path))
    return path


config.file = _recording_file   # every file field goes through config.file


def main(path, at=None):
    kind = None
    try:
        cfg = config.load(path)
        kind = config.section(cfg, "cloud").get("type")
        print("TYPE", kind)
        if kind == "alientek":   # not an MQTT cloud: the board is an application on the WebSocket
            from iotlink.apis import alientek
            alientek.Session(cfg)
            ep = cloud = None
        else:
            from iotlink import clouds
            cloud = clouds.load(cfg)
            ep = cloud.ep
    except ValueError as e:   # ConfigError, and codec checks that raise ValueError
        for field, p in opened:
            print("FILE", field, p)
        print("CONFIG", e)
        return
    for field, p in opened:
        print("FILE", field, p)
    if at is None or cloud is None:
        return
    cid, user, pw = cloud.credentials(at)
    print("host      ", ep["host"])
    print("port      ", ep["port"], "(TLS)" if ep["tls"] else "")
    print("client id ", cid)
    print("username  ", user)
    print("password  ", pw)
    print("keepalive ", ep["keepalive"])


class _BoardMachine:
    """A board has machine.unique_id (ids default to it); the unix port does not.
    Only for checking a config that goes onto a board, never for credentials."""

    @staticmethod
    def unique_id():
        return b"\x00\x00\x00\x00\x00\x00"


if len(sys.argv) > 2:
    main(sys.argv[1], int(sys.argv[2]))
else:
    try:
        from machine import unique_id  # noqa: F401
    except ImportError:
        sys.modules["machine"] = _BoardMachine
    main(sys.argv[1])
