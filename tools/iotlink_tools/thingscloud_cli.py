"""``iotlink thingscloud``: the ThingsCloud project API from a terminal.

    iotlink thingscloud login                      check the keys, keep the token
    iotlink thingscloud devices [--type T] [--group G]
    iotlink thingscloud create-device NAME --mqtt-host H [--type T] [--device-key K] [-o config.json]
    iotlink thingscloud send-command DEVICE_ID METHOD ['{"params": ...}'] [--id N]
    iotlink thingscloud push-attributes DEVICE_ID '{"relay": true}'

Credentials: --api and --app-id with --access-key/--secret-key (or --account/
--password for an admin), or the THINGSCLOUD_API, THINGSCLOUD_APP_ID,
THINGSCLOUD_ACCESS_KEY, THINGSCLOUD_SECRET_KEY, THINGSCLOUD_ACCOUNT,
THINGSCLOUD_PASSWORD environment variables.  ``login`` keeps the token (not
the keys) in --session (mode 0600) for the other commands until it expires.
"""

import argparse
import json
import os
import sys
import time
import types

from . import paths

SESSION = os.path.join(os.path.expanduser("~"), ".config", "iotlink", "thingscloud-session.json")


def _client(args):
    if paths.LIB not in sys.path:
        sys.path.insert(0, paths.LIB)
    sys.modules.setdefault("micropython", types.SimpleNamespace(const=lambda x: x))
    from iotlink.apis.thingscloud import Client
    if not args.api:
        raise SystemExit("iotlink thingscloud: --api (or THINGSCLOUD_API) is required")
    token = expires = None
    try:
        with open(args.session) as f:
            s = json.load(f)
        if s.get("api") == args.api and s.get("expires", 0) > time.time() + 300:
            token, expires = s["token"], s["expires"]
    except (OSError, ValueError, KeyError):
        pass
    return Client(args.api, args.app_id, args.access_key, args.secret_key, args.account, args.password,
                  token=token, expires=expires, ca=args.ca, verify=not args.insecure)


def _save(args, c):
    os.makedirs(os.path.dirname(os.path.abspath(args.session)), exist_ok=True)
    fd = os.open(args.session, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"api": args.api, "token": c.token, "expires": c.expires}, f)


def _json(text, what):
    try:
        v = json.loads(text)
    except ValueError:
        raise SystemExit("iotlink thingscloud: %s is not JSON" % what)
    if not isinstance(v, dict):
        raise SystemExit("iotlink thingscloud: %s must be a JSON object" % what)
    return v


def cmd_login(args, c):
    c.login()
    _save(args, c)
    print("logged in to %s; token kept in %s until %s" % (
        args.api, args.session, time.strftime("%Y-%m-%d %H:%M", time.localtime(c.expires))))


def cmd_devices(args, c):
    n = 0
    for d in c.all_devices(args.type, args.group):
        n += 1
        print("%-16s %-8s %-24s %s" % (d.get("id"), "online" if d.get("online") else "offline",
                                       d.get("name"), d.get("device_key", "")))
    print("%d device(s)" % n)


def cmd_create_device(args, c):
    d = c.create_device(args.name, descr=args.descr, type=args.type, device_key=args.device_key)
    cert = c.device_certificate(d["id"])
    cloud = {"type": "thingscloud", "host": args.mqtt_host, "access_token": cert["access_token"],
             "project_key": cert["project_key"]}
    if args.mqtt_port:
        cloud["port"] = args.mqtt_port
    cfg = {"cloud": cloud}
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=1)
    print("created device %s (%s); its config is in %s" % (d["id"], d["name"], args.output))


def cmd_send_command(args, c):
    params = _json(args.params, "params") if args.params else {}
    cid = c.send_command(args.device_id, args.method, params, args.id)
    print("command %s sent to %s with id %s" % (args.method, args.device_id, cid))


def cmd_push_attributes(args, c):
    c.push_attributes(args.device_id, _json(args.attributes, "attributes"))
    print("attributes pushed to %s" % args.device_id)


def main(argv=None):
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="iotlink thingscloud", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", default=env("THINGSCLOUD_API"), help="project API address (https://...)")
    ap.add_argument("--app-id", default=env("THINGSCLOUD_APP_ID"))
    ap.add_argument("--access-key", default=env("THINGSCLOUD_ACCESS_KEY"))
    ap.add_argument("--secret-key", default=env("THINGSCLOUD_SECRET_KEY"))
    ap.add_argument("--account", default=env("THINGSCLOUD_ACCOUNT"), help="admin account (instead of keys)")
    ap.add_argument("--password", default=env("THINGSCLOUD_PASSWORD"))
    ap.add_argument("--ca", help="CA file for https (default: the system's)")
    ap.add_argument("--insecure", action="store_true", help="do not check the server certificate")
    ap.add_argument("--session", default=SESSION, help="where login keeps the token")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("login")
    p.set_defaults(fn=cmd_login)
    p = sub.add_parser("devices")
    p.add_argument("--type")
    p.add_argument("--group")
    p.set_defaults(fn=cmd_devices)
    p = sub.add_parser("create-device")
    p.add_argument("name")
    p.add_argument("--mqtt-host", required=True, help="the MQTT access point shown in the console")
    p.add_argument("--mqtt-port", type=int)
    p.add_argument("--type")
    p.add_argument("--descr")
    p.add_argument("--device-key")
    p.add_argument("-o", "--output", default="config.json")
    p.set_defaults(fn=cmd_create_device)
    p = sub.add_parser("send-command")
    p.add_argument("device_id")
    p.add_argument("method")
    p.add_argument("params", nargs="?", help="a JSON object")
    p.add_argument("--id", type=int)
    p.set_defaults(fn=cmd_send_command)
    p = sub.add_parser("push-attributes")
    p.add_argument("device_id")
    p.add_argument("attributes", help="a JSON object")
    p.set_defaults(fn=cmd_push_attributes)
    args = ap.parse_args(argv)
    c = _client(args)
    from iotlink.apis.thingscloud import ApiError
    try:
        args.fn(args, c)
    except ApiError as e:
        print("iotlink thingscloud: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("iotlink thingscloud: network: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
