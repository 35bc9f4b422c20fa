"""k-means mesh (reference §3.3 'KMeans'): centres seeded by a grid of the same sizing, refined by
Lloyd iterations, then Voronoi cells and Delaunay neighbours.

Lloyd's algorithm ends on all the points, exactly, but fast:

* **Coarse to fine.** When there are many points per cluster, Lloyd first runs on seeded random
  subsets of N/8^j points (each level only while it keeps ≥ 256 points per cluster on
  average), each level starting from the previous one's centres; the big early moves are cheap
  there, and the full-data iterations start close to their fixed point.
* **Hamerly's bounds** (an upper bound on the distance to the own centre, a lower bound on the
  distance to the second nearest, both moved by the centre shifts of each iteration) let an
  iteration re-query only the points near a Voronoi boundary (KD-tree, all cores); per-cluster
  sums are updated incrementally for the points that change cluster.

Stopping (each level): the root-mean-square distance of the points to their centre decreases by
no more than ``tol`` (µm; 1e-7 like TRamWAy's ``thresh``, which scipy's ``kmeans`` compares with
the change of the *mean* distance) between two iterations, or no point changed cluster (exact
fixed point), or ``max_iter``. The RMS distance comes exactly from per-cluster sums.
Empty clusters are dropped as scipy's ``kmeans`` does.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .grid import build_grid
from .threads import get_threads, workers_for
from .voronoi import voronoi_mesh

RECOMPUTE_EVERY = 10  # iterations between exact recomputations of the per-cluster sums


def _stats(X, a, k):
    n = np.bincount(a, minlength=k).astype(float)
    sx = np.bincount(a, weights=X[:, 0], minlength=k)
    sy = np.bincount(a, weights=X[:, 1], minlength=k)
    q = np.bincount(a, weights=X[:, 0] ** 2 + X[:, 1] ** 2, minlength=k)
    return n, sx, sy, q


def lloyd(points: np.ndarray, init: np.ndarray, *, tol: float = 1e-7, max_iter: int = 300):
    """Exact Lloyd k-means from ``init``; returns ``(centres, labels, n_iter, converged)``.

    Points and centres are shifted by the points' mean internally (accurate sums of squares).
    """
    X = np.asarray(points, float)
    mu = X.mean(axis=0)
    X = X - mu
    Xx, Xy = X[:, 0].copy(), X[:, 1].copy()
    C = np.asarray(init, float) - mu
    k = len(C)
    if k == 1:
        return X.mean(axis=0, keepdims=True) + mu, np.zeros(len(X), np.int64), 0, True
    d, j = cKDTree(C).query(X, k=2, workers=get_threads())
    a = j[:, 0].astype(np.int64)
    u, low = d[:, 0].copy(), d[:, 1].copy()
    n, sx, sy, q = _stats(X, a, k)
    rms_prev = np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        # drop empty clusters (bounds stay valid: removing centres only lengthens distances)
        if (n == 0).any():
            keep = n > 0
            remap = np.cumsum(keep) - 1
            a = remap[a]
            C, n, sx, sy, q = C[keep], n[keep], sx[keep], sy[keep], q[keep]
            k = len(C)
            if k == 1:
                C = X.mean(axis=0, keepdims=True)
                converged = True
                break
        newC = np.column_stack([sx / n, sy / n])
        shift = np.hypot(*(newC - C).T)
        C = newC
        rms = float(np.sqrt(max(np.sum(q - (sx * sx + sy * sy) / n), 0.0) / len(X)))
        if rms_prev < np.inf and rms_prev - rms <= tol:
            converged = True
            break
        rms_prev = rms
        if not shift.max() > 0:
            converged = True
            break
        u += np.take(shift, a)
        low -= shift.max()
        cand = np.flatnonzero(u > low)
        if cand.size:
            ac = a[cand]
            u[cand] = np.hypot(Xx[cand] - C[ac, 0], Xy[cand] - C[ac, 1])
            cand = cand[u[cand] > low[cand]]
        changed = 0
        if cand.size:
            d, j = cKDTree(C).query(X[cand], k=2, workers=workers_for(cand.size))
            new = j[:, 0].astype(np.int64)
            u[cand], low[cand] = d[:, 0], d[:, 1]
            moved = new != a[cand]
            changed = int(moved.sum())
            if changed:
                ch = cand[moved]
                old, nw = a[ch], new[moved]
                a[cand] = new
                if it % RECOMPUTE_EVERY == 0:
                    n, sx, sy, q = _stats(X, a, k)
                else:
                    xc = X[ch]
                    qq = xc[:, 0] ** 2 + xc[:, 1] ** 2
                    for sign, lab in ((-1.0, old), (1.0, nw)):
                        n += sign * np.bincount(lab, minlength=k)
                        sx += sign * np.bincount(lab, weights=xc[:, 0], minlength=k)
                        sy += sign * np.bincount(lab, weights=xc[:, 1], minlength=k)
                        q += sign * np.bincount(lab, weights=qq, minlength=k)
                    n = np.round(n)
        if changed == 0:
            # assignment is a fixed point: the centres are its means -> converged
            converged = True
            break
    return C + mu, a, it, converged


def coarse_to_fine(points, init, *, tol, max_iter, seed=0, per_cluster=256, factor=8):
    """Lloyd on nested random subsets (coarse to fine), then on all points; see module doc."""
    X = np.asarray(points, float)
    n, k = len(X), max(1, len(init))
    levels = []
    f = factor
    while n // f >= per_cluster * k:
        levels.append(f)
        f *= factor
    order = np.random.default_rng(seed).permutation(n) if levels else None
    c = init
    total = 0
    for f in reversed(levels):
        c, _, it, _ = lloyd(X[order[: n // f]], c, tol=tol, max_iter=max_iter)
        total += it
    c, labels, it, converged = lloyd(X, c, tol=tol, max_iter=max_iter)
    return c, labels, total + it, converged, levels


def build_kmeans(xy: np.ndarray, region, params: dict, sizing):
    seed_mesh = build_grid(xy, region, params, sizing)
    init = seed_mesh.centres
    if params.get("initial") == "random":
        rng = np.random.default_rng(params.get("seed"))
        x0, y0, x1, y1 = region.bounds
        k = len(init)
        pts = np.zeros((0, 2))
        for _ in range(100):
            cand = np.column_stack([rng.uniform(x0, x1, 4 * k), rng.uniform(y0, y1, 4 * k)])
            pts = np.concatenate([pts, cand[region.contains(cand)]])
            if len(pts) >= k:
                break
        init = pts[:k] if len(pts) >= k else init
    if len(xy) == 0:
        raise ValueError("kmeans: no points in the region")
    centres, labels, n_iter, converged, levels = coarse_to_fine(
        xy, init, tol=params["tol"], max_iter=params["max_iter"], seed=params.get("seed"))
    mesh = voronoi_mesh("kmeans", centres, region, prune=params.get("prune"))
    mesh.parameters["kmeans_iterations"] = int(n_iter)
    mesh.parameters["kmeans_converged"] = bool(converged)
    mesh.parameters["kmeans_subsample_levels"] = [int(f) for f in levels]
    return mesh
