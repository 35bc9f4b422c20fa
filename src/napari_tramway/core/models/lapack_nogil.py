"""The inverse of a symmetric positive-definite matrix, computed without holding Python's GIL.

scipy's Python wrappers of LAPACK (``scipy.linalg.lapack``) keep the GIL for the whole call: the
inverse of the Hessian of a fine mesh (2,000 to 3,000 variables) takes 0.2–0.4 s, during which no
other thread of the process runs — in the napari plugin, fits run in this process would freeze the
GUI. The same routines of scipy's public low-level interface, ``scipy.linalg.cython_lapack``, are
called here through :mod:`ctypes`, which releases the GIL for the duration of a foreign call
(numba calls them the same way). Same library and routines (``dpotrf``, ``dpotri``), so the same
numbers as ``scipy.linalg.lapack``.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

__all__ = ["spd_inverse"]

_INT_P = ctypes.POINTER(ctypes.c_int)
# void f(char *uplo, int *n, double *a, int *lda, int *info): the signature of both routines
_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_char_p, _INT_P, ctypes.c_void_p, _INT_P, _INT_P)


@functools.cache
def _routine(name: str):
    """The C function ``name`` of scipy.linalg.cython_lapack, callable through ctypes."""
    from scipy.linalg import cython_lapack

    capsule = cython_lapack.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return _SIGNATURE(get_pointer(capsule, get_name(capsule)))


def _call(name: str, a: np.ndarray) -> int:
    n = ctypes.c_int(a.shape[0])
    info = ctypes.c_int(0)
    _routine(name)(b"L", ctypes.byref(n), a.ctypes.data, ctypes.byref(n), ctypes.byref(info))
    return info.value


def spd_inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of the symmetric positive-definite ``a`` (n, n), from its Cholesky factor.

    ``a`` is overwritten. Raises ``numpy.linalg.LinAlgError`` when ``a`` is not positive definite
    or the inverse is singular.
    """
    a = np.asfortranarray(a, dtype=np.float64)  # the layout scipy.linalg.lapack passes
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {a.shape}")
    n = a.shape[0]
    if n == 0:
        return a
    if _call("dpotrf", a) != 0:  # lower triangle: L
        raise np.linalg.LinAlgError("not positive definite")
    if _call("dpotri", a) != 0:  # lower triangle: that of the inverse
        raise np.linalg.LinAlgError("singular")
    lower = np.tril(a)
    return lower + np.tril(lower, -1).T
