"""IoTDA secure tunnel (安全隧道), device side: the tunnel_notify event and the
tunnel protocol's messages.  Pure; drivers/iotda_tunnel.py holds the socket.
Protocol notes and what is unverified: docs/iotda_tunnel.md.

  events/down $tunnel_manager / tunnel_notify {tunnel_uri, tunnel_access_token, expires_in}
  WebSocket to tunnel_uri (wss://.../v5/iot/tunnels/{id}/device-connect),
  header tunnel_access_token; messages are JSON objects
  {"operation_type", "tunnel_service_type": "ssh", "request_id", "data"}:
    connect -> connect_response, command -> command_response,
    ping (device) -> pong (platform), disconnect (platform, on close)
  One WebSocket message at most 10 KB.
"""

import json
from micropython import const
from . import dumps

SERVICE = "$tunnel_manager"
FRAME_MAX = const(10240)
_TOKEN_MAX = const(256)


def notice(req):
    """(tunnel_uri, token, expires_in s) of a tunnel_notify Request; None for
    another event; ValueError naming what is wrong otherwise."""
    if req.service != SERVICE or req.name != "tunnel_notify":
        return None
    p = req.params if isinstance(req.params, dict) else {}
    uri, tok, exp = p.get("tunnel_uri"), p.get("tunnel_access_token"), p.get("expires_in")
    if not isinstance(uri, str) or not uri.startswith("wss://"):
        raise ValueError("tunnel_notify: tunnel_uri must be a wss:// URL")
    if not isinstance(tok, str) or not 0 < len(tok) <= _TOKEN_MAX:
        raise ValueError("tunnel_notify: tunnel_access_token must be 1..256 characters")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= 0:
        raise ValueError("tunnel_notify: expires_in must be a positive integer")
    return uri, tok, exp


def message(kind, request_id, data):
    """One tunnel message as JSON text."""
    return dumps({"operation_type": kind, "tunnel_service_type": "ssh",
                  "request_id": request_id, "data": data})


def fitted(kind, request_id, text, limit=FRAME_MAX):
    """``message(kind, request_id, text)`` cut until it fits one frame (JSON
    escapes can make a short text long); the cut is marked."""
    m = message(kind, request_id, text)
    while len(m) > limit and text:
        text = text[:len(text) // 2]
        m = message(kind, request_id, text + "\n[output cut to fit the 10 KB frame]\n")
    return m


def parse(data):
    """(operation_type, request_id, data) of a received message; ValueError if
    it is not a tunnel message."""
    try:
        m = json.loads(data)
    except (ValueError, UnicodeError):
        raise ValueError("tunnel message is not JSON")
    if not isinstance(m, dict) or not isinstance(m.get("operation_type"), str):
        raise ValueError("tunnel message has no operation_type")
    rid = m.get("request_id")
    return m["operation_type"], rid if isinstance(rid, str) else None, m.get("data")
