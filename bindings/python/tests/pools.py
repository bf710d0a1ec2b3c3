"""Process pools for the tests: ended by close() and join(), not terminate().

Pool's own ``with`` block ends with terminate(), which sends SIGTERM to the
workers and then joins them. A fork worker inherits the SIGTERM handler of
the test process (pytest, dask and others install one); a worker that does
not die of it leaves that join() waiting forever, and the run hangs (seen
on CPython 3.12). Closing lets each worker exit on its sentinel instead."""

import contextlib


@contextlib.contextmanager
def pool(ctx, processes: int):
    """ctx.Pool(processes), closed and joined when the block ends; on an
    error, terminated (the test fails either way)."""
    p = ctx.Pool(processes)
    try:
        yield p
    except BaseException:
        p.terminate()
        raise
    else:
        p.close()
    finally:
        p.join()
