"""What every local MQTT cloud shares: a real mosquitto behind the checking
front door (mqtt_front), and a "platform" client on the broker side that sees
every device's uplinks and sends the downlinks.

A subclass sets ``self.tls``, ``self.host`` and ``self._ports`` (plain, TLS),
implements ``_check(info)`` and ``_acl(info, topic, action)`` for the door,
and calls ``_start_mqtt()`` from its ``start()``.
"""

import os
import threading

from .. import broker, mqtt_front


class MqttSim:
    mosq = front = client = None

    def _start_mqtt(self, front_cls=None, platform_filter=None, name="platform", acl=True,
                    broker_dir=None, **front_kw):
        """Start the broker, the door and the platform client.  With
        ``platform_filter`` the client subscribes it and hands each message to
        ``self._on_up(topic, payload)``; ``acl=None`` leaves topics unchecked."""
        # Platforms answer uplinks (a reply, an ack per report): mosquitto then
        # writes the PUBACK and, a moment later, the answer to the same socket,
        # and with Nagle on the second small segment waits for the delayed ACK
        # of the first (~40 ms a round trip on loopback).
        self.mosq = broker.Mosquitto(workdir=broker_dir, extra="set_tcp_nodelay true").start()
        self.front = (front_cls or mqtt_front.Front)(
            self.mosq.port, self._check, self._acl if acl is True else acl, tls=self.tls,
            host=self.host, port=self._ports[0], tls_port=self._ports[1], **front_kw)
        self.client = self._platform_client(name, platform_filter)

    def _platform_client(self, name, platform_filter):
        import paho.mqtt.client as mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="%s-%d" % (name, os.getpid()))
        ready = threading.Event()
        if platform_filter:
            c.on_subscribe = lambda *a: ready.set()
            c.on_connect = lambda cl, *a: cl.subscribe(platform_filter, 1)
            c.on_message = lambda cl, ud, msg: self._on_up(msg.topic, msg.payload)
        else:
            c.on_connect = lambda *a: ready.set()
        c.connect("127.0.0.1", self.mosq.port, 60)
        c.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the local cloud's platform client did not come up")
        return c

    def stop(self):
        if self.client:
            self.client.loop_stop()
            self.client.disconnect()
        if self.front:
            self.front.stop()
        if self.mosq:
            self.mosq.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self.front.port

    @property
    def tls_port(self):
        return self.front.tls_port
