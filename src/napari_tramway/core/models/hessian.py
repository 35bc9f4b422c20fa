"""DV's exact Hessian on a sparsity pattern built once per problem.

The Hessian of the DV objective in (D, V) is

    [[diag(h_DD) + 2 P_D,              diag(k_x) G_x + diag(k_y) G_y],
     [(…)ᵀ,   Σ_ab G_aᵀ diag(D² h_ab) G_b + 2 P_V]]          (a, b ∈ {x, y})

whose sparsity does not change between evaluations. :class:`DVHessian` lists, once, every
(row, column) contribution with its constant factor (products of G entries of one row, prior
entries), and assembles each Hessian with one ``bincount`` into the fixed CSR pattern: a few
vectorised passes instead of a dozen sparse matrix products per Newton iteration.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _rows(a: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))


def row_pairs(a: sp.csr_matrix, b: sp.csr_matrix):
    """Every pair of non-zeros a_ri, b_rj in a common row r: ``(i, j, r, a_ri·b_rj)``."""
    la, lb = np.diff(a.indptr), np.diff(b.indptr)
    counts = la * lb
    r = np.repeat(np.arange(a.shape[0]), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(counts.sum()) - np.repeat(start, counts)
    lbr = lb[r]
    ea = a.indptr[r] + within // np.maximum(lbr, 1)
    eb = b.indptr[r] + within % np.maximum(lbr, 1)
    return a.indices[ea], b.indices[eb], r, a.data[ea] * b.data[eb]


class DVHessian:
    """The fixed pattern of DV's Hessian for ``k`` cells, gradient matrices ``gx``, ``gy`` and the
    (already weighted) prior matrices ``p_d``, ``p_v`` (None for none)."""

    def __init__(self, k: int, gx: sp.csr_matrix, gy: sp.csr_matrix, p_d=None, p_v=None):
        self.k = k
        gx, gy = sp.csr_matrix(gx), sp.csr_matrix(gy)
        rows, cols, self._segments = [], [], []
        fixed_values = []

        def add(r, c, kind, extra=None):
            rows.append(np.asarray(r, np.int64))
            cols.append(np.asarray(c, np.int64))
            self._segments.append((kind, extra, len(r)))

        diag = np.arange(k)
        add(diag, diag, "hdd")
        for p, offset in ((p_d, 0), (p_v, k)):
            if p is not None:
                p = sp.coo_matrix(p)
                add(p.row + offset, p.col + offset, "fixed")
                fixed_values.append(2.0 * p.data)
        for axis, g in (("x", gx), ("y", gy)):
            gr = _rows(g)
            add(gr, g.indices + k, "dv", (axis, gr, g.data))
            add(g.indices + k, gr, "dv", (axis, gr, g.data))
        for ab, (a, b) in (("xx", (gx, gx)), ("yy", (gy, gy)), ("xy", (gx, gy)), ("yx", (gy, gx))):
            i, j, r, v = row_pairs(a, b)
            add(i + k, j + k, "vv", ("xy" if ab in ("xy", "yx") else ab, r, v))
        self._fixed = np.concatenate(fixed_values) if fixed_values else np.zeros(0)
        n = 2 * k
        key = np.concatenate(rows) * n + np.concatenate(cols)
        uniq, self._slot = np.unique(key, return_inverse=True)
        self._indices = (uniq % n).astype(np.int32)
        self._indptr = np.searchsorted(uniq // n, np.arange(n + 1)).astype(np.int32)
        self._nnz = uniq.size
        self.n = n

    def assemble(self, hdd, kx, ky, d2xx, d2xy, d2yy) -> sp.csr_matrix:
        """The Hessian from its per-cell coefficients (see the module docstring)."""
        coef = {"xx": d2xx, "xy": d2xy, "yy": d2yy}
        kxy = {"x": kx, "y": ky}
        values = []
        fixed_used = 0
        for kind, extra, size in self._segments:
            if kind == "hdd":
                values.append(hdd)
            elif kind == "fixed":
                values.append(self._fixed[fixed_used:fixed_used + size])
                fixed_used += size
            elif kind == "dv":
                axis, gr, data = extra
                values.append(kxy[axis][gr] * data)
            else:
                ab, r, v = extra
                values.append(coef[ab][r] * v)
        data = np.bincount(self._slot, np.concatenate(values), minlength=self._nnz)
        return sp.csr_matrix((data, self._indices, self._indptr), shape=(self.n, self.n))
