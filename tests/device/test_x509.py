"""Client-certificate (X.509) login over verified TLS, on the unix port against
a mosquitto that requires a certificate signed by the test CA."""

import json

from .agent_host import Agent


def test_device_certificate_login(test_ca, tmp_path):
    from iotlink_tools.broker import Mosquitto
    b = Mosquitto(tls=test_ca, extra="require_certificate true\nuse_identity_as_username true")
    import os
    os.chmod(b.dir, 0o777)
    with b:
        def cfg(name, **cloud):
            c = {"type": "iotda", "host": "localhost", "port": b.tls_port, "tls": True,
                 "ca": test_ca["ca"], "device_id": "device1", "keepalive": 30}
            c.update(cloud)
            p = tmp_path / name
            p.write_text(json.dumps({"cloud": c, "session": {"backoff_min_ms": 200}}))
            return str(p)
        ok = Agent(cfg("ok.json", cert=test_ca["device1"], key=test_ca["device1_key"]), 2500)
        ok.wait_line("STATUS up")
        ok.finish()
        log = b.log()
        # the broker took the identity from the certificate: the login was the certificate's
        assert "device1" in log and "New client connected" in log
        refused = Agent(cfg("nocert.json", secret="not-a-certificate"), 1500)
        refused.finish()
        assert not [l for l in refused.lines if l.startswith("STATUS up")], refused.lines
