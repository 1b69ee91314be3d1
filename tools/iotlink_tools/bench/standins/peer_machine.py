# STAND-IN for ``machine.unique_id``, which the unix port's machine module
# lacks and mqtt_as and mqtt_async import at load time; the bench scenario
# puts this in sys.modules["machine"] before importing a peer.  Not used by
# iotlink.


def unique_id():
    return b"bench1"
