"""A sub-device seen through its gateway's session (``Device.child(id)``)."""


class Child:
    def __init__(self, dev, target):
        self.dev = dev
        self.id = target

    def report(self, props, service=None, qos=None):
        self.dev.report(props, service, qos, self.id)

    def event(self, name, params=None, qos=None):
        self.dev.event(name, params, qos, self.id)
