"""The package download server of a local cloud: what IoTDA's and
ThingsCloud's file stores do for OTA, on loopback.

HTTPS with the local CA (or plain HTTP), one URL per offered file, an
optional ``Authorization: Bearer <token>`` check (IoTDA's v1 upgrade events
carry an access_token), and faults a real network has, chosen per file:
``redirect`` (302 elsewhere), ``stall`` (headers, half the body, then
nothing), ``drop`` (half the body, then the connection closed), ``short``
(Content-Length says less than the file), ``slow`` (512 bytes every 0.5 s).
"""

import hashlib
import http.server
import json
import os
import ssl
import struct
import threading
import time

FAULTS = ("redirect", "stall", "drop", "short", "slow")


class Files:
    def __init__(self, tls=None, host="127.0.0.1", port=0):
        self.tls = tls
        self.host = host
        self.port = port
        self.files = {}      # name -> [bytes, token, fault]
        self.gets = []       # (name, status) served
        self.srv = None

    def start(self):
        self.srv = http.server.ThreadingHTTPServer((self.host, self.port), _handler(self))
        self.srv.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls["server"], self.tls["server_key"])
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def offer(self, name, data, token=None, fault=None):
        """Serve ``data`` as ``name``; return (url, size, sha256 hex)."""
        if fault not in (None,) + FAULTS:
            raise ValueError("fault: one of %s" % ", ".join(FAULTS))
        self.files[name] = [data, token, fault]
        host = "localhost" if self.tls else self.host
        url = "%s://%s:%d/ota/%s" % ("https" if self.tls else "http", host, self.srv.server_address[1], name)
        return url, len(data), hashlib.sha256(data).hexdigest()

    def offer_file(self, path, token=None, fault=None):
        with open(path, "rb") as f:
            return self.offer(os.path.basename(path), f.read(), token, fault)


def _handler(files):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            item = files.files.get(name) if self.path.startswith("/ota/") else None
            if item is None:
                return self._status(404)
            data, token, fault = item
            if token and self.headers.get("Authorization") != "Bearer " + token:
                return self._status(401)
            if fault == "redirect":
                self.send_response(302)
                self.send_header("Location", "/ota/elsewhere/" + name)
                self.end_headers()
                files.gets.append((name, 302))
                return
            self.send_response(200)
            n = len(data) // 2 if fault == "short" else len(data)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            files.gets.append((name, 200))
            try:
                if fault in ("stall", "drop"):
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    if fault == "stall":
                        time.sleep(60)
                    return
                if fault == "slow":
                    for i in range(0, len(data), 512):
                        self.wfile.write(data[i:i + 512])
                        self.wfile.flush()
                        time.sleep(0.5)
                    return
                self.wfile.write(data[:n])
            except OSError:
                pass

        def _status(self, code):
            files.gets.append((self.path, code))
            self.send_error(code)

        def log_message(self, *a):
            pass
    return H


def bundle_version(path):
    """The version in an .iotb bundle's manifest (ValueError for anything else)."""
    with open(path, "rb") as f:
        head = f.read(10)
        if head[:6] != b"IOTB1\n":
            raise ValueError("not an .iotb bundle (iotlink ota pack makes them)")
        return json.loads(f.read(struct.unpack(">I", head[6:10])[0]))["version"]
