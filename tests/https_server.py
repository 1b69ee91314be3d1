"""A throw-away HTTPS server on loopback with the test CA's server certificate."""

import http.server
import ssl
import threading


def serve(handler, test_ca):
    """Start ``handler`` (a BaseHTTPRequestHandler class); return (base URL, stop)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(test_ca["server"], test_ca["server_key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return "https://localhost:%d" % srv.server_address[1], srv.shutdown


def module_fixture(handler):
    """A module-scoped pytest fixture (needs ``test_ca``) serving ``handler``
    for the tests of one file: its base URL."""
    import pytest

    @pytest.fixture(scope="module")
    def https(test_ca):
        url, stop = serve(handler, test_ca)
        yield url
        stop()
    return https
