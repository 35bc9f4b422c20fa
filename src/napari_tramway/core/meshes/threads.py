"""How many threads the KD-tree queries of the meshes use (``scipy.spatial.cKDTree(workers=...)``).

Default: every core (``-1``), or ``$NAPARI_TRAMWAY_THREADS`` when set. A process pool running one
unit per core should set 1 in each worker (``set_threads(1)`` or the environment variable) so
that the pools do not fight. Nothing else in the meshes is multithreaded (no BLAS calls).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

_threads = int(os.environ.get("NAPARI_TRAMWAY_THREADS", "-1") or -1)


def get_threads() -> int:
    """The ``workers`` value passed to KD-tree queries (−1: all cores)."""
    return _threads


def workers_for(n_queries: int) -> int:
    """Threads for a query of ``n_queries`` points: one below 20 000 (spawning threads costs
    more than it saves there), else :func:`get_threads`."""
    return 1 if n_queries < 20_000 else _threads


def set_threads(n: int) -> None:
    """Use ``n`` threads (≥ 1) for KD-tree queries, or all cores with ``-1``."""
    global _threads
    n = int(n)
    if n == 0 or n < -1:
        raise ValueError(f"threads must be ≥ 1 or -1 (all cores), got {n}")
    _threads = n


@contextmanager
def threads(n: int):
    """Context manager: ``with threads(1): ...``."""
    old = get_threads()
    set_threads(n)
    try:
        yield
    finally:
        set_threads(old)
