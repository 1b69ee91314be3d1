"""A one-shot TCP port a device script connects to when it reaches a point:
the test's ``fn()`` runs then, and the script goes on once it returns (so a
test can change the local cloud between two steps of a running device)."""

import socket
import threading

# what the device script calls: gate(PORT)
DEVICE_SIDE = r"""
def gate(port):
    import socket
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    s.send(b"x")
    s.recv(1)
    s.close()
"""


def gate(fn, timeout=60):
    """Listen on a free loopback port; on the first connection run ``fn()``
    and answer one byte.  Returns the port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(timeout)

    def serve():
        try:
            c, _ = srv.accept()
            c.recv(1)
            try:
                fn()
            finally:
                c.send(b"k")
                c.close()
        finally:
            srv.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]
