"""One BLAS thread per process: parallelism comes from the workers, not from inside a product.

numpy's OpenBLAS starts a thread per core and splits a matrix product across them once it is big
enough. A decision's products are small, but scored in batches (``decisioning.batching``) they
cross that line: with 2 workers on 2 cores, each worker's product then waited for cores the other
worker was using, and its threads spun while they waited. Measured with one worker under wrk (32
connections, ``bench/load.py``'s data): 1,797 µs of CPU per decision with OpenBLAS's default
threads, 925 µs with one; the code before batching, 1,230 and 1,090 µs. ``NBO_BLAS_THREADS``
sets it; 0 leaves the library's default.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

__all__ = ["limit_blas_threads"]


def limit_blas_threads(threads: int) -> None:
    """Limit the BLAS libraries loaded in this process to ``threads`` threads (0: leave them)."""
    if threads > 0:
        threadpool_limits(limits=threads, user_api="blas")
