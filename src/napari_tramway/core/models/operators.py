"""Spatial derivative operators on a mesh's neighbour graph, as sparse matrices built once.

``grad1`` (TRamWAy's default gradient, reference §4.9) is linear in the cell values, so each
axis is one sparse matrix: ``∂X/∂x = Gx @ X``. For cell i and axis k, a neighbour j is "above"
when the unit vector u = (x_j − x_i)/‖x_j − x_i‖ satisfies 1 − 2·arccos(u_k)/π > 1 − s (s, the
selection angle, 0.9 by default: within 81° of +e_k), "below" when it is < s − 1. With neighbours
on both sides the derivative is that of the quadratic through (x̄⁻, X̄⁻), (x_i, X_i), (x̄⁺, X̄⁺)
(means over each side, coordinate k only); with one side it is the one-sided difference. With no
neighbour on either side TRamWAy returns NaN; here the row is zero (no information on that
axis) and the cell is flagged in :attr:`GradientOperator.missing` (deliberate fix of §9.10).

``delta0`` is the local variation: ΔX_i = [(X_j − X_i)/‖x_j − x_i‖/√|N_i|]_j, one row per directed
edge.

:func:`penalty_matrix` gives P with ``Xᵀ P X = Σ_i A_i ‖∇X_i‖²`` (or the delta0 variant), the
area-weighted smoothing prior of every model; its gradient is ``2 P X``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class GradientOperator:
    """``grad1`` as two sparse (K, K) matrices.

    Attributes
    ----------
    gx, gy : scipy.sparse.csr_matrix
        ``gx @ X`` is ∂X/∂x per cell (value units per µm), likewise y.
    missing : (K, 2) bool
        True where the cell has no neighbour on either side of the axis (row left at zero).
    one_sided : (K, 2) bool
        True where only one side has neighbours (one-sided difference).
    """

    gx: sp.csr_matrix
    gy: sp.csr_matrix
    missing: np.ndarray
    one_sided: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """(K, 2) gradient of ``values`` (K,)."""
        return np.column_stack([self.gx @ values, self.gy @ values])


def _edges(adjacency) -> tuple[np.ndarray, np.ndarray]:
    a = sp.coo_matrix(adjacency)
    keep = a.row != a.col
    if a.dtype != bool:
        keep &= a.data != 0
    return a.row[keep].astype(np.int64), a.col[keep].astype(np.int64)


def grad1_operator(centres: np.ndarray, adjacency, selection_angle: float = 0.9) -> GradientOperator:
    """Build :class:`GradientOperator` for cells at ``centres`` (K, 2) with neighbour graph ``adjacency``.

    ``adjacency`` is a (K, K) sparse matrix, symmetric, whose non-zero off-diagonal entries are edges.
    """
    centres = np.asarray(centres, dtype=np.float64)
    k = centres.shape[0]
    i, j = _edges(adjacency)
    d = centres[j] - centres[i]
    length = np.sqrt((d * d).sum(axis=1))
    if np.any(length == 0):
        raise ValueError("two neighbouring cells share the same centre")
    u = d / length[:, None]
    mats, missing, one_sided = [], np.zeros((k, 2), bool), np.zeros((k, 2), bool)
    for axis in range(2):
        a = 1.0 - 2.0 * np.arccos(np.clip(u[:, axis], -1.0, 1.0)) / np.pi
        above = a > 1.0 - selection_angle
        below = a < selection_angle - 1.0
        xi = centres[:, axis]
        n_up = np.bincount(i[above], minlength=k).astype(float)
        n_dn = np.bincount(i[below], minlength=k).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            x_up = np.bincount(i[above], centres[j[above], axis], minlength=k) / n_up
            x_dn = np.bincount(i[below], centres[j[below], axis], minlength=k) / n_dn
        has_up, has_dn = n_up > 0, n_dn > 0
        both = has_up & has_dn
        only_up = has_up & ~has_dn
        only_dn = has_dn & ~has_up
        # per-cell coefficients of X̄⁻, X_i, X̄⁺
        w_dn = np.zeros(k)
        w_c = np.zeros(k)
        w_up = np.zeros(k)
        aa, bb, cc = x_dn[both], xi[both], x_up[both]
        w_dn[both] = (bb - cc) / ((aa - bb) * (aa - cc))
        w_c[both] = (2 * bb - aa - cc) / ((bb - aa) * (bb - cc))
        w_up[both] = (bb - aa) / ((cc - aa) * (cc - bb))
        inv = 1.0 / (xi[only_up] - x_up[only_up])
        w_c[only_up] = inv
        w_up[only_up] = -inv
        inv = 1.0 / (xi[only_dn] - x_dn[only_dn])
        w_c[only_dn] = inv
        w_dn[only_dn] = -inv
        with np.errstate(invalid="ignore", divide="ignore"):
            c_up = np.where(has_up, w_up / n_up, 0.0)
            c_dn = np.where(has_dn, w_dn / n_dn, 0.0)
        rows = np.concatenate([i[above], i[below], np.arange(k)])
        cols = np.concatenate([j[above], j[below], np.arange(k)])
        vals = np.concatenate([c_up[i[above]], c_dn[i[below]], w_c])
        m = sp.coo_matrix((vals, (rows, cols)), shape=(k, k)).tocsr()
        m.sum_duplicates()
        m.eliminate_zeros()
        mats.append(m)
        missing[:, axis] = ~has_up & ~has_dn
        one_sided[:, axis] = only_up | only_dn
    return GradientOperator(mats[0], mats[1], missing, one_sided)


def safe_areas(areas, k: int) -> np.ndarray:
    """Cell areas (µm²) with missing, non-finite or non-positive values replaced by 1 (as TRamWAy)."""
    if areas is None:
        return np.ones(k)
    a = np.asarray(areas, dtype=np.float64).copy()
    a[~(np.isfinite(a) & (a > 0))] = 1.0
    return a


def delta0_operator(centres: np.ndarray, adjacency, areas=None) -> sp.csr_matrix:
    """(E, K) matrix whose product with X gives √A_i·ΔX_i stacked over directed edges (i, j).

    ``‖E @ X‖² = Σ_i A_i · mean_j ((X_j − X_i)/‖x_j − x_i‖)²``.
    """
    centres = np.asarray(centres, dtype=np.float64)
    k = centres.shape[0]
    i, j = _edges(adjacency)
    a = safe_areas(areas, k)
    deg = np.bincount(i, minlength=k).astype(float)
    length = np.sqrt(((centres[j] - centres[i]) ** 2).sum(axis=1))
    w = np.sqrt(a[i] / deg[i]) / length
    e = np.arange(i.size)
    return sp.coo_matrix((np.concatenate([w, -w]), (np.concatenate([e, e]), np.concatenate([j, i]))),
                         shape=(i.size, k)).tocsr()


def penalty_matrix(kind: str, centres: np.ndarray, adjacency, areas=None, *, gradient: GradientOperator | None = None,
                   selection_angle: float = 0.9) -> sp.csr_matrix:
    """Symmetric PSD (K, K) P with Xᵀ P X = Σ_i A_i ‖∇X_i‖² (``'grad1'``) or Σ_i A_i ‖ΔX_i‖² (``'delta0'``)."""
    k = np.asarray(centres).shape[0]
    if kind == "grad1":
        g = gradient if gradient is not None else grad1_operator(centres, adjacency, selection_angle)
        a = sp.diags(safe_areas(areas, k))
        p = g.gx.T @ a @ g.gx + g.gy.T @ a @ g.gy
    elif kind == "delta0":
        e = delta0_operator(centres, adjacency, areas)
        p = e.T @ e
    else:
        raise ValueError(f"unknown rgrad {kind!r}; expected 'grad1' or 'delta0'")
    p = sp.csr_matrix(p)
    p.sum_duplicates()
    return p
