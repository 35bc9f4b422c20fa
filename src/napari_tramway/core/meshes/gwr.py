"""Growing-when-required gas (reference §3.3 'GWR'), as a seeded, vectorised mini-batch variant.

TRamWAy feeds samples one by one to a Python loop (353 s on 1M locations). Here samples come in
batches of ``~8 × n_nodes`` (256 to 65 536), and each batch does, with array operations only:

1. **Best matching nodes.** Nearest and second-nearest node of every sample (KD-tree, all cores).
2. **Insertion.** A sample farther than its insertion radius ``r`` from its nearest node is a
   candidate. Candidates that are closer than ``max(r_i, r_j)`` to each other conflict; a
   maximal independent set of the conflict graph (Luby's rounds with seeded random priorities)
   becomes new nodes, placed at the samples (TRamWAy's ``trust=1``) and linked to the
   sample's two best nodes. So one batch never inserts two nodes within ``r`` of each other.
3. **Adaptation.** For the other samples, each node moves toward its won samples with rate
   ``ε_b·h`` (0.2·h) and toward the samples won by its gas neighbours with ``ε_n·h`` (0.006·h):
   the batch applies the closed form of those sequential updates, ``w ← T + q (w − T)`` with
   ``q = (1 − ε_b h)^{wins} (1 − ε_n h)^{neighbour wins}`` and ``T`` the rate-weighted mean of
   the samples. Habituation ``h`` decays with the wins as in Marsland's GWR
   (α = 1.05, τ = 333): ``h ← h* + (h − h*)(1 − α/τ)^{wins}``, ``h* = 1 − 1/α``.
4. **Edges (competitive Hebbian learning).** The pair (best, second best) of each sample gets an
   edge of age 0; every other edge ages by the wins of its two ends; edges older than
   ``max(20, 0.05 · n_nodes)`` disappear, and so do nodes left without an edge (dead units).

Insertion radius: ``avg_distance/2`` (= resolution/2) when sized by resolution; when sized by
count, the radius of a disc holding ``k = avg_location_count / 4`` points (TRamWAy's knn of 20 for
the default 80), ``sqrt(k / (π ρ))``, clipped to ``[avg_distance/2, max_distance/2]`` as in
TRamWAy; the local density ``ρ`` is counted in the 3×3 bins around each point, the bins sized so
that such a window holds about ``k`` points at the mean density (TRamWAy queries the k nearest
neighbours of every sample; the histogram gives the same scale in O(N)).

Passes: each pass visits every point once in a seeded random order; at least
``p = log(0.05)/log(1 − 1/N)/N`` (≈ 3) passes and at most ``2p``, as TRamWAy; after the minimum,
stop as soon as a pass inserted no more than ``1e-4 × n_nodes`` nodes and fewer than ``5e-3`` of
its samples were farther than their radius from every node. Nodes that won no sample in the
last pass are removed. The mesh is then the Voronoi diagram of the nodes with every Delaunay
edge accepted (TRamWAy's ``complete_delaunay=True``, as its analyzer sets).
Same seed, same data, same parameters → the same mesh, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .sizing import require_ref
from .threads import workers_for
from .voronoi import voronoi_mesh

EPS_B, EPS_N = 0.2, 0.006
ALPHA, TAU = 1.05, 333.0
H_STAR = 1.0 - 1.0 / ALPHA
LIFETIME = 0.05
MIN_AGE = 20
GROWTH_TOL = 1e-4
ERROR_TOL = 5e-3
MIN_BATCH, MAX_BATCH, BATCH_PER_NODE = 256, 65536, 8


def insertion_radius(xy: np.ndarray, sizing, max_distance: float) -> np.ndarray | float:
    """Per-point insertion radius (µm), see the module docstring."""
    avg = require_ref(sizing, "gwr")
    lo, hi = avg / 2, max(max_distance / 2, avg / 2)
    if sizing.mode == "resolution" or len(xy) == 0:
        return lo
    k = sizing.avg_location_count / 4.0
    lo_xy, hi_xy = xy.min(axis=0), xy.max(axis=0)
    area = max(float(np.prod(hi_xy - lo_xy)), 1e-300)
    # bins such that a 3×3 window holds about k points at the mean density (≤ 4M bins)
    s = max(np.sqrt(k * area / (9 * len(xy))), np.sqrt(area / 4e6), 1e-12)
    x0, y0 = lo_xy
    ix = np.floor((xy[:, 0] - x0) / s).astype(np.int64)
    iy = np.floor((xy[:, 1] - y0) / s).astype(np.int64)
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    counts = np.bincount(ix * ny + iy, minlength=nx * ny).reshape(nx, ny).astype(float)
    pad = np.pad(counts, 1)
    smooth = sum(pad[1 + a: 1 + a + nx, 1 + b: 1 + b + ny] for a in (-1, 0, 1) for b in (-1, 0, 1))
    rho = smooth[ix, iy] / (9 * s * s)
    with np.errstate(divide="ignore"):
        r = np.sqrt(k / (np.pi * rho))
    return np.clip(r, lo, hi)


def _luby_mis(P: np.ndarray, rad: np.ndarray, rng) -> np.ndarray:
    """Indices of a maximal set of points no two of which are closer than max(r_i, r_j)."""
    n = len(P)
    if n <= 1:
        return np.arange(n)
    pairs = cKDTree(P).query_pairs(r=float(rad.max()), output_type="ndarray")
    if pairs.size:
        dist = np.hypot(*(P[pairs[:, 0]] - P[pairs[:, 1]]).T)
        pairs = pairs[dist < np.maximum(rad[pairs[:, 0]], rad[pairs[:, 1]])]
    if pairs.size == 0:
        return np.arange(n)
    prio = rng.permutation(n)
    active = np.ones(n, bool)
    chosen = np.zeros(n, bool)
    i, j = pairs[:, 0], pairs[:, 1]
    while active.any():
        live = active[i] & active[j]
        li, lj = i[live], j[live]
        nbmax = np.full(n, -1, dtype=prio.dtype)
        np.maximum.at(nbmax, li, prio[lj])
        np.maximum.at(nbmax, lj, prio[li])
        win = active & (prio > nbmax)
        chosen |= win
        active &= ~win
        active[lj[win[li]]] = False
        active[li[win[lj]]] = False
    return np.flatnonzero(chosen)


class _Gas:
    """Nodes, habituation and aged edges of the gas."""

    def __init__(self, w: np.ndarray):
        self.w = np.array(w, float)
        self.h = np.ones(len(self.w))
        self.ei = np.zeros(0, np.int64)
        self.ej = np.zeros(0, np.int64)
        self.age = np.zeros(0, float)

    @property
    def k(self):
        return len(self.w)

    def adjacency(self):
        k = self.k
        data = np.ones(2 * self.ei.size)
        return sp.csr_matrix((data, (np.concatenate([self.ei, self.ej]), np.concatenate([self.ej, self.ei]))),
                             shape=(k, k))

    def add_edges(self, a, b):
        """Edges (a, b) with age 0 (existing ones are refreshed)."""
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        ok = lo != hi
        k = np.int64(self.k + 1)
        keys = np.concatenate([self.ei * k + self.ej, lo[ok] * k + hi[ok]])
        ages = np.concatenate([self.age, np.zeros(int(ok.sum()))])
        order = np.lexsort((ages, keys))
        keys, ages = keys[order], ages[order]
        first = np.ones(keys.size, bool)
        first[1:] = keys[1:] != keys[:-1]
        keys, ages = keys[first], ages[first]
        self.ei, self.ej, self.age = keys // k, keys % k, ages

    def drop_old_edges_and_dead_nodes(self, protect: np.ndarray):
        max_age = max(MIN_AGE, LIFETIME * self.k)
        keep = self.age <= max_age
        self.ei, self.ej, self.age = self.ei[keep], self.ej[keep], self.age[keep]
        deg = np.bincount(self.ei, minlength=self.k) + np.bincount(self.ej, minlength=self.k)
        alive = (deg > 0) | protect
        if alive.all() or alive.sum() < 2:
            return None
        self.remove(~alive)
        return alive

    def remove(self, dead: np.ndarray):
        alive = ~dead
        remap = np.cumsum(alive) - 1
        ok = alive[self.ei] & alive[self.ej]
        self.ei, self.ej, self.age = remap[self.ei[ok]], remap[self.ej[ok]], self.age[ok]
        self.w, self.h = self.w[alive], self.h[alive]


def gwr_nodes(xy: np.ndarray, radius, *, seed=0, pass_count: int | None = None):
    """Fit the gas to ``xy`` (N, 2); return ``(nodes (K, 2), info dict)``."""
    X = np.asarray(xy, float)
    n = len(X)
    rng = np.random.default_rng(seed)
    rad = np.broadcast_to(np.asarray(radius, float), (n,))
    if n == 0:
        raise ValueError("gwr: no points in the region")
    if n == 1:
        return X.copy(), {"passes": 0, "batches": 0}
    p = math.log(0.05) / math.log1p(-1.0 / n) / n
    min_pass, max_pass = max(1, math.ceil(p)), max(1, math.ceil(2 * p))
    if pass_count is not None:
        min_pass = max_pass = int(pass_count)
    gas = _Gas(X[rng.choice(n, size=2, replace=False)])
    batches = 0
    wins_last = np.zeros(gas.k, np.int64)
    passes = 0
    for passes in range(1, max_pass + 1):
        order = rng.permutation(n)
        inserted = errors = 0
        wins_pass = np.zeros(gas.k, np.int64)
        start = 0
        while start < n:
            b = int(np.clip(BATCH_PER_NODE * gas.k, MIN_BATCH, MAX_BATCH))
            idx = order[start: start + b]
            start += b
            batches += 1
            x, r = X[idx], rad[idx]
            k = gas.k
            d, j = cKDTree(gas.w).query(x, k=2, workers=workers_for(len(x)))
            w1, w2 = j[:, 0].astype(np.int64), j[:, 1].astype(np.int64)
            far = d[:, 0] > r
            errors += int(far.sum())
            cand = np.flatnonzero(far)
            new = cand[_luby_mis(x[cand], r[cand], rng)] if cand.size else cand
            learn = np.ones(len(idx), bool)
            learn[new] = False
            lw, lx = w1[learn], x[learn]
            c = np.bincount(lw, minlength=k).astype(float)
            sx = np.bincount(lw, weights=lx[:, 0], minlength=k)
            sy = np.bincount(lw, weights=lx[:, 1], minlength=k)
            a = gas.adjacency()
            cn, snx, sny = a @ c, a @ sx, a @ sy
            rb, rn = EPS_B * gas.h, EPS_N * gas.h
            denom = rb * c + rn * cn
            mv = denom > 0
            tx = (rb * sx + rn * snx)[mv] / denom[mv]
            ty = (rb * sy + rn * sny)[mv] / denom[mv]
            eta = -np.expm1(c[mv] * np.log1p(-rb[mv]) + cn[mv] * np.log1p(-rn[mv]))
            gas.w[mv, 0] += eta * (tx - gas.w[mv, 0])
            gas.w[mv, 1] += eta * (ty - gas.w[mv, 1])
            gas.h = H_STAR + (gas.h - H_STAR) * np.power(1.0 - ALPHA / TAU, c)
            # edges: ageing by the wins of both ends, then the batch's (best, second) pairs
            gas.age = gas.age + c[gas.ei] + c[gas.ej]
            wins_pass += np.bincount(lw, minlength=k)
            gas.add_edges(lw, w2[learn])
            if new.size:
                ids = np.arange(k, k + new.size)
                gas.w = np.vstack([gas.w, x[new]])
                gas.h = np.concatenate([gas.h, np.ones(new.size)])
                gas.add_edges(np.concatenate([ids, ids]), np.concatenate([w1[new], w2[new]]))
                # the sample a node is created at counts as its first win
                wins_pass = np.concatenate([wins_pass, np.ones(new.size, np.int64)])
                inserted += new.size
            protect = np.zeros(gas.k, bool)
            protect[k:] = True
            alive = gas.drop_old_edges_and_dead_nodes(protect)
            if alive is not None:
                wins_pass = wins_pass[alive]
        wins_last = wins_pass
        if passes >= min_pass and inserted <= GROWTH_TOL * gas.k and errors <= ERROR_TOL * n:
            break
    dead = wins_last == 0
    if dead.any() and (~dead).sum() >= 1:
        gas.w = gas.w[~dead]
    return gas.w, {"passes": passes, "batches": batches}


def build_gwr(xy: np.ndarray, region, params: dict, sizing):
    avg = require_ref(sizing, "gwr")
    max_distance = params.get("max_distance") or 4 * avg
    radius = insertion_radius(xy, sizing, max_distance)
    nodes, info = gwr_nodes(xy, radius, seed=params.get("seed"), pass_count=params.get("pass_count"))
    mesh = voronoi_mesh("gwr", nodes, region, prune=params.get("prune"))
    mesh.parameters.update({"max_distance": float(max_distance), "gwr_passes": int(info["passes"]),
                            "gwr_batches": int(info["batches"])})
    return mesh
