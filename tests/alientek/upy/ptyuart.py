# A UART stand-in on the unix port: a pseudo-terminal opened as a file, with
# machine.UART's any()/read()/write().
import select


class PtyUart:
    def __init__(self, path):
        self.f = open(path, "r+b", buffering=0)
        self.p = select.poll()
        self.p.register(self.f, select.POLLIN)

    def any(self):
        return 1 if self.p.poll(0) else 0

    def read(self, n=64):
        out = bytearray()
        while len(out) < n and self.p.poll(0):
            out += self.f.read(1)
        return bytes(out) if out else None

    def write(self, b):
        return self.f.write(b)
