"""The Hessian's inverse (Laplace uncertainties) is scipy's, and other threads run while it is computed."""

import threading

import numpy as np
import pytest
from scipy.linalg import lapack

from napari_tramway.core.models.lapack_nogil import spd_inverse


def _spd(n, seed=0):
    m = np.random.default_rng(seed).normal(size=(n, n))
    return m @ m.T + n * np.eye(n)


def test_same_numbers_as_scipy_lapack():
    a = _spd(300)
    c, info = lapack.dpotrf(a.copy(), lower=1, clean=1)
    assert info == 0
    ref, info = lapack.dpotri(c, lower=1)
    ref = np.tril(ref) + np.tril(ref, -1).T
    inv = spd_inverse(a.copy())
    assert np.array_equal(inv, ref)
    assert np.allclose(inv @ a, np.eye(300), atol=1e-12)
    assert np.array_equal(inv, inv.T)


def test_not_positive_definite_is_an_error():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        spd_inverse(np.diag([1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="square"):
        spd_inverse(np.zeros((2, 3)))
    assert spd_inverse(np.zeros((0, 0))).shape == (0, 0)


def test_other_threads_run_during_the_inverse():
    """A thread ticking every millisecond while the main thread inverts a large matrix: with the
    GIL held for the whole LAPACK call (as scipy.linalg.lapack does) its longest silence would be
    the call's whole duration."""
    import time

    from napari_tramway.core.models import lapack_nogil

    a = _spd(2000)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    calls = []
    original = lapack_nogil._call

    def timed_call(name, m):
        t0 = time.perf_counter()
        try:
            return original(name, m)
        finally:
            calls.append((name, t0, time.perf_counter()))

    thread = threading.Thread(target=tick)
    thread.start()
    lapack_nogil._call = timed_call
    try:
        spd_inverse(a)
    finally:
        lapack_nogil._call = original
        stop.set()
        thread.join()
    assert [c[0] for c in calls] == ["dpotrf", "dpotri"]
    ticks = np.asarray(ticks)
    for name, t0, t1 in calls:
        during = ticks[(ticks > t0) & (ticks < t1)]
        edges = np.concatenate([[t0], during, [t1]])
        longest_silence = np.diff(edges).max()
        assert during.size >= 3, f"{name}: the other thread never ran in {1000 * (t1 - t0):.0f} ms"
        assert longest_silence < 0.5 * (t1 - t0), f"{name}: the other thread waited {1000 * longest_silence:.0f} ms"
