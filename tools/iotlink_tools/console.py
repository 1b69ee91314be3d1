"""The other end of the wire: a host MQTT client that watches a device's
uplinks and sends it downlinks (used by the local clouds, `iotlink run` and
the tests).  Built on paho-mqtt."""

import threading
import time
import uuid

import paho.mqtt.client as paho


class Console:
    def __init__(self, port, host="127.0.0.1", client_id=None, clean=True, username=None,
                 password=None, keepalive=30):
        self.messages = []
        self._cv = threading.Condition()
        self._subs = []
        self.connected = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2,
                             client_id=client_id or "console-" + uuid.uuid4().hex[:8],
                             clean_session=clean)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect(host, port, keepalive)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("console could not connect to %s:%d" % (host, port))

    def _on_connect(self, c, userdata, flags, rc, props=None):
        for topic, qos in self._subs:
            c.subscribe(topic, qos)
        self.connected.set()

    def _on_message(self, c, userdata, msg):
        with self._cv:
            self.messages.append((msg.topic, msg.payload))
            self._cv.notify_all()

    def subscribe(self, topic, qos=1):
        """Subscribe now and again after every reconnect; waits for the SUBACK."""
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self._subs.append((topic, qos))
        self.c.subscribe(topic, qos)
        done.wait(5)
        return self

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        if qos:
            info.wait_for_publish(5)

    def wait(self, match, timeout=10.0, start=0):
        """First message from index ``start`` on for which ``match(topic, payload)``
        is true; raises TimeoutError naming what was seen."""
        end = time.monotonic() + timeout
        with self._cv:
            i = start
            while True:
                while i < len(self.messages):
                    t, p = self.messages[i]
                    if match(t, p):
                        return t, p
                    i += 1
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching message in %.1f s; saw %d: %s" % (
                        timeout, len(self.messages), self.messages[-5:]))
                self._cv.wait(left)

    def on(self, topic):
        """All payloads received so far on exactly ``topic``."""
        with self._cv:
            return [p for t, p in self.messages if t == topic]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
