"""log.py: levels, sinks and masking of registered secrets."""

from hypothesis import given, settings, HealthCheck, strategies as st

from iotlink import log


def test_levels_and_prefix(logs):
    log.set_level("warn")
    log.debug("d")
    log.info("i")
    log.warn("w %d", 1)
    log.error("e %s", "x")
    assert logs == ["iotlink W: w 1", "iotlink E: e x"]


def test_bad_format_args_still_log(logs):
    log.warn("only %d", "text")
    assert logs == ["iotlink W: only %d"]


def test_secret_masked_inside_exception_text(logs):
    log.secret("hunter2-pass")
    try:
        raise OSError("auth failed for user with password hunter2-pass")
    except OSError as e:
        log.error("connect failed: %s", e)
        log.error("connect failed: %r", e)
    assert len(logs) == 2
    assert all("hunter2-pass" not in line and "***" in line for line in logs)


def test_bytes_secret_masked_in_reprs(logs):
    log.secret(b"tok-abcdef")
    log.warn("sent %s", b"user:tok-abcdef")
    assert "tok-abcdef" not in logs[0]


def test_short_secret_inside_a_long_one(logs):
    # registered short first: masking it must not leave the long one's tail
    log.secret("key1")
    log.secret("key1-very-private-tail")
    log.warn("creds %s", "key1-very-private-tail")
    assert "private" not in logs[0] and "tail" not in logs[0]


def test_too_short_values_are_not_masked(logs):
    log.secret("ab")
    log.warn("tab")
    assert logs == ["iotlink W: tab"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secrets=st.lists(st.text(min_size=3, max_size=20).filter(lambda s: "*" not in s),
                        min_size=1, max_size=4),
       before=st.text(max_size=10), after=st.text(max_size=10), which=st.integers(0, 3))
def test_every_registered_secret_is_masked(secrets, before, after, which, logs):
    del logs[:]
    del log._secrets[:]
    for s in secrets:
        log.secret(s)
    s = secrets[which % len(secrets)]
    log.error("x %s y", ValueError(before + s + after))
    assert s not in logs[0][len("iotlink E: "):]


def test_an_exception_text_over_several_lines_logs_as_one(logs):
    # what mbedTLS raises for an untrusted certificate, newlines included
    e = ValueError("\nThe certificate is not correctly signed by the trusted CA\n")
    log.warn("connect failed: %s", log.err(e))
    assert logs == ["iotlink W: connect failed: ValueError: The certificate is not correctly "
                    "signed by the trusted CA"]


def test_a_derived_password_replaces_the_one_before_last(logs):
    log.secret("pw-hour-1")
    log.secret("pw-hour-2")
    log.secret("pw-hour-3", "pw-hour-1")
    assert log._secrets.count("pw-hour-1") == 0
    assert log.mask("pw-hour-2 pw-hour-3") == "*** ***"
