"""A TCP proxy that misbehaves on demand, for resilience tests on loopback.

Sits between a device and the broker.  Faults act on the connections open at
the time of the call (new connections pass normally unless ``refuse`` is on):

  cut()        close both ends at once (what a broker crash or an AP reset does)
  blackhole()  keep the sockets open but forward nothing, ever (a half-open
               link: Wi-Fi gone, NAT entry expired, peer powered off)
  refuse       attribute; when true new connections are closed on accept
"""

import socket
import threading


class _Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b
        self.silent = False
        self.closed = False

    def close(self):
        self.closed = True
        for s in (self.a, self.b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class FaultProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.pairs = []
        self.accepted = 0
        self.refuse = False
        self._stop = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            if self.refuse:
                a.close()
                continue
            try:
                b = socket.create_connection(self.target, timeout=5)
                b.settimeout(None)
            except OSError:
                a.close()
                continue
            p = _Pair(a, b)
            with self._lock:
                self.pairs.append(p)
            threading.Thread(target=self._pump, args=(p, a, b), daemon=True).start()
            threading.Thread(target=self._pump, args=(p, b, a), daemon=True).start()

    def _pump(self, p, src, dst):
        while not p.closed:
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                if not p.silent:
                    p.close()
                return
            if p.silent:
                continue  # swallow: the other side never hears of it
            try:
                dst.sendall(data)
            except OSError:
                p.close()
                return

    def live(self):
        with self._lock:
            return [p for p in self.pairs if not p.closed]

    def cut(self):
        for p in self.live():
            p.close()

    def blackhole(self):
        for p in self.live():
            p.silent = True

    def close(self):
        self._stop = True
        self.srv.close()
        self.cut()
