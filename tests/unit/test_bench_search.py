"""The bench's minimum-heap search: a run that fails for a reason other than
heap must not leave the figure above the true minimum."""

from iotlink_tools.bench import smallest


def completes(least, spurious=()):
    """ok(n) for a scenario needing ``least`` bytes, failing once at each of ``spurious``."""
    tried = []

    def ok(n):
        tried.append(n)
        if n in spurious and tried.count(n) == 1:
            return False
        return n >= least
    ok.tried = tried
    return ok


def test_exact_minimum_in_steps():
    assert smallest(completes(37 * 1024), 1024, 256 * 1024, 1024) == 37 * 1024
    assert smallest(completes(37 * 1024 + 1), 1024, 256 * 1024, 1024) == 38 * 1024


def test_none_when_not_even_the_top_completes():
    assert smallest(completes(300 * 1024), 1024, 256 * 1024, 1024) is None


def test_a_spurious_failure_during_the_search_is_walked_back():
    # the first trial below the top fails once although it would complete:
    # bisection alone then ends one step above that point (129 KiB)
    ok = completes(37 * 1024, spurious=(128 * 1024,))
    assert smallest(ok, 1024, 256 * 1024, 1024) == 37 * 1024
    assert ok.tried.count(128 * 1024) == 2      # the failure, then the check that completes
    assert len(ok.tried) < 30                   # searched again, not walked down step by step


def test_one_more_trial_when_the_search_went_right():
    ok = completes(37 * 1024)
    smallest(ok, 1024, 256 * 1024, 1024)
    assert ok.tried[-1] == 36 * 1024 and ok.tried.count(36 * 1024) == 2
