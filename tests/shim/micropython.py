"""The ``micropython`` module: ``const`` is the identity (the compiler's
constant folding does not change behaviour); memory reports are stubs."""

_heap_locks = 0


def const(x):
    return x


def opt_level(level=None):
    return 0 if level is None else None


def mem_info(verbose=None):
    print("stack: 0 out of 0\nGC: total: 0, used: 0, free: 0")


def qstr_info(verbose=None):
    print("qstr pool: n_pool=0, n_qstr=0, n_str_data_bytes=0, n_total_bytes=0")


def stack_use():
    return 0


def heap_lock():
    global _heap_locks
    _heap_locks += 1
    return _heap_locks - 1


def heap_unlock():
    global _heap_locks
    _heap_locks = max(0, _heap_locks - 1)
    return _heap_locks


def heap_locked():
    return _heap_locks


def alloc_emergency_exception_buf(size):
    pass


def kbd_intr(chr):
    pass


def schedule(fn, arg):
    """Runs ``fn(arg)`` at once (a board runs it soon, from the main loop)."""
    fn(arg)


def native(f):
    return f


viper = native
