"""File upload and download for an IoTDA MQTT Device ($file_manager).

    files = iotda_files.Files(dev, ca="obs-ca.pem", on_event=my_event_handler)
    files.upload("log.txt", "/log.txt")          # blocks, polling dev, until done
    files.download("conf.json", "/conf.json")

The request goes up over MQTT, the platform's URL comes back as an
events/down answer, and the bytes go straight to the object store over
HTTP(S): PUT for an upload, GET for a download, streamed in ``chunk``-byte
pieces (one buffer; never the whole file in RAM).  SHA-256 and size travel in
``file_attributes``; a download is checked against them before it replaces
the file (it is written to ``path + ".part"`` first).  Every wait has a
deadline: ``wait_ms`` for the URL, ``timeout_ms`` per socket step.

``Files`` registers itself as the Device's "event" handler: $file_manager
answers are its own, every other event goes on to ``on_event``.  The URLs are
signed (credentials): they are masked in every log line.
"""

import time
import hashlib
from binascii import hexlify

from .. import clock, log
from ..clouds import iotda_files as fm


class Files:
    def __init__(self, dev, ca=None, verify=True, timeout_ms=10000, chunk=1024, on_event=None):
        self.dev = dev
        ep = dev.cloud.ep
        self.ca = ca if ca is not None else ep["ca"]
        self.verify = verify
        self.timeout_ms = timeout_ms
        self.chunk = chunk
        self.on_event = on_event
        self._answers = []
        self._url = None   # the last URL, masked in logs until the next one
        dev.on("event", self.event)

    def event(self, req):
        """The "event" handler: keeps $file_manager answers (the last 4), hands the rest on."""
        if req.service == fm.SERVICE:
            self._answers.append(req)
            if len(self._answers) > 4:
                self._answers.pop(0)
            return True
        if self.on_event:
            return self.on_event(req)
        return None

    def _wait(self, upload, name, wait_ms, target):
        end = time.ticks_add(time.ticks_ms(), wait_ms)
        while True:
            for req in self._answers:
                if req.target != target:
                    continue
                got = fm.answer(req, upload, name)
                if got is not None:
                    self._answers.remove(req)
                    log.secret(got[0], self._url)
                    self._url = got[0]
                    return got
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                raise OSError("no %s URL for %s within %d ms" % ("upload" if upload else "download",
                                                                  name, wait_ms))
            self.dev.poll(min(left, 100))

    def _report(self, upload, name, ok, status, text, target):
        self.dev.publish(*fm.result(self.dev.cloud, upload, name, ok, status, text, clock.now(), target),
                         qos=1)
        self.dev.poll(0)

    def upload(self, name, path, wait_ms=30000, target=None, progress=None):
        """Upload the file at ``path`` as ``name``.  Returns {"object_name",
        "sha256", "size"}; OSError (the result reported as failed) otherwise."""
        h = hashlib.sha256()
        buf = bytearray(self.chunk)
        size = 0
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
                size += n
        del buf
        sha = hexlify(h.digest()).decode()
        dev = self.dev
        self._answers = [a for a in self._answers if a.name != "get_upload_url_response"]
        dev.publish(*fm.get_upload_url(dev.cloud, name, sha, size, clock.now(), target), qos=1)
        url, obj, _ = self._wait(True, name, wait_ms, target)
        from ..http import upload
        h2 = hashlib.sha256()

        def read(mv):
            n = f.readinto(mv)
            if n:
                h2.update(mv[:n])
            return n
        try:
            with open(path, "rb") as f:
                status, _ = upload(url, size, read, {"Content-Type": "text/plain"}, self.ca, self.verify,
                                   self.timeout_ms, self.chunk, progress=progress)
        except Exception as e:
            self._report(True, obj, False, 0, log.err(e), target)
            raise
        if hexlify(h2.digest()).decode() != sha:
            self._report(True, obj, False, status, "file changed during upload", target)
            raise OSError("%s changed while it was uploaded" % path)
        ok = 200 <= status < 300
        self._report(True, obj, ok, status, "OK" if ok else "HTTP %d" % status, target)
        if not ok:
            raise OSError("upload of %s refused: HTTP %d" % (name, status))
        return {"object_name": obj, "sha256": sha, "size": size}

    def download(self, name, path, wait_ms=30000, target=None, progress=None):
        """Download ``name`` into ``path`` (replaced only once the SHA-256 and
        size match).  Returns {"object_name", "sha256", "size"}."""
        dev = self.dev
        self._answers = [a for a in self._answers if a.name != "get_download_url_response"]
        dev.publish(*fm.get_download_url(dev.cloud, name, clock.now(), target), qos=1)
        url, obj, attrs = self._wait(False, name, wait_ms, target)
        sha, size = attrs.get("hash_code"), attrs.get("size")
        from ..ota import download
        part = path + ".part"
        try:
            with open(part, "wb") as f:
                got = download(url, f.write, sha if isinstance(sha, str) else None,
                               size if isinstance(size, int) else None, None, progress,
                               self.ca, self.verify, max(1, self.timeout_ms // 1000), self.chunk)
            import os
            try:
                os.remove(path)
            except OSError:
                pass
            os.rename(part, path)
        except Exception as e:
            self._report(False, obj, False, 0, log.err(e), target)
            try:
                import os
                os.remove(part)
            except OSError:
                pass
            raise
        self._report(False, obj, True, 200, "OK", target)
        n = 0
        with open(path, "rb") as f:
            f.seek(0, 2)
            n = f.tell()
        return {"object_name": obj, "sha256": got, "size": n}
