"""One native thread per build worker.

A build parallelises across clips (worker processes, Beam or Dask workers), so the native
thread pools inside a worker only compete with the other workers. OpenBLAS's are worse than
idle: its threads spin after every BLAS call, and a one-worker build of LRW-like clips spent
1.6-1.7x the CPU per clip (``benchmarks/bench_build_speed.py``, issue 18) until they were
limited, the waste landing on the cores other workers need.
"""

from __future__ import annotations


def limit_native_threads() -> None:
    """BLAS/OpenMP pools (every library loaded so far: call after the stages' setup has
    imported theirs) and OpenCV's to one thread; ``OPENBLAS_NUM_THREADS`` and
    ``OMP_NUM_THREADS`` to 1 for libraries loaded later and for child processes the user has
    not configured otherwise."""
    import os

    import cv2
    from threadpoolctl import threadpool_limits

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    threadpool_limits(limits=1)
    cv2.setNumThreads(1)
