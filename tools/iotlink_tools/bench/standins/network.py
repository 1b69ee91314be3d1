# STAND-IN for the firmware's ``network`` module, for the mqtt_as peers of
# `iotlink bench` only: the unix port has no network module, and mqtt_as and
# mqtt_async ask a WLAN whether it is connected before they connect.  Here
# the host's network is always up.  Not used by iotlink.
STA_IF = 0
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


class WLAN:
    def __init__(self, *args):
        pass

    def active(self, *args):
        return True

    def connect(self, *args, **kw):
        pass

    def disconnect(self):
        pass

    def isconnected(self):
        return True

    def status(self, *args):
        return STAT_GOT_IP

    def config(self, *args, **kw):
        return None
