# Helpers for tests that run under both pytest and the micropython binary (tests/mpy/run.py).
# Portable test files start with the line "# portable" and use only plain asserts and these helpers.


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised nothing or something else."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s was not raised" % exc_type.__name__)


def run_async(coro):
    """Run a coroutine to completion on a fresh event loop (asyncio on CPython and MicroPython)."""
    import asyncio

    return asyncio.run(coro)
