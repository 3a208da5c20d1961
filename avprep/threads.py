"""One BLAS thread per build worker.

A build parallelises across clips (worker processes, Beam or Dask workers), and the BLAS
calls inside a clip's stages are small: OpenBLAS's thread pool gains nothing there and costs
much, since its threads spin after every call. A one-worker build of LRW-like clips spent
1.6-1.7x the CPU per clip (``benchmarks/bench_build_speed.py``, issue 18) until they were
limited, the waste landing on the cores other workers need. OpenMP pools are left alone:
torch (the FAN backend on a CPU) parallelises its own work with them.
"""

from __future__ import annotations


def limit_native_threads() -> None:
    """BLAS pools (every library loaded so far: call after the stages' setup has imported
    theirs) and OpenCV's to one thread; ``OPENBLAS_NUM_THREADS`` to 1 for libraries loaded
    later and child processes, unless the user has set it."""
    import os

    import cv2
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)
