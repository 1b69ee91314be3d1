"""Refused credentials surface as AuthError and are not retried in a tight loop."""

import os
import subprocess

from iotlink_tools.broker import Mosquitto
from .agent_host import Agent, write_config


def test_bad_password_raises_auth_error_at_connect(tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "dev1", "right-password"], check=True)
    os.chmod(pw, 0o644)
    b = Mosquitto(extra="allow_anonymous false\npassword_file %s" % pw)
    os.chmod(b.dir, 0o777)
    with b:
        cfg = write_config(tmp_path, b.port, username="dev1", password="wrong-password")
        agent = Agent(cfg, 2000)
        agent.p.wait(20)
        assert agent.p.returncode == 3
        line = agent.wait_line("AUTH")
        assert line.split()[1] in ("4", "5")
        assert "credentials" in line or "not authorised" in line
        assert "wrong-password" not in "\n".join(agent.lines)


def test_auth_failure_during_poll_backs_off(tmp_path):
    """Credentials revoked while running: one attempt, then the long auth wait."""
    pw = tmp_path / "passwd"
    pw.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "dev1", "pw-one"], check=True)
    os.chmod(pw, 0o644)
    b = Mosquitto(extra="allow_anonymous false\npassword_file %s" % pw)
    os.chmod(b.dir, 0o777)
    with b:
        cfg = write_config(tmp_path, b.port, username="dev1", password="pw-one")
        agent = Agent(cfg, 8000)
        agent.wait_line("STATUS up")
        subprocess.run(["mosquitto_passwd", "-b", str(pw), "dev1", "pw-two"], check=True)
        b.stop()
        b.start()
        agent.wait_line("STATUS auth", timeout=10)
        stats = agent.finish()

    refused = [l for l in agent.lines if "refused the connection" in l]
    assert len(refused) == 1, agent.lines   # no retry within the 300 s auth wait
    assert stats["connects"] == 1
