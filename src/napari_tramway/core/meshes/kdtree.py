"""Quadtree (TRamWAy's 2D ``kdtree``, reference §3.3 'KD-tree'): square boxes split where dense.

The root is the square of side ``max(width, height)`` at the lower-left corner of the region's
bounds. A box is split in four while it holds more than ``min_count`` points and its children
would not be smaller than ``avg_distance`` (= resolution; 2 × mean step length otherwise) nor
deeper than ``max_level``; a split is kept when a child holds more than ``max_count`` points or
all four hold more than ``min_count`` (TRamWAy's rules). Cells are the leaf boxes (clipped to the
region; leaves outside it are dropped), neighbours share a side of positive length, and a point
belongs to the leaf box that holds it (half-open boxes; the root's upper sides are closed).
"""

from __future__ import annotations

import numpy as np

from .base import Mesh
from .geometry import clip_cells, symmetric_adjacency
from .locate import Locator
from .sizing import DEFAULT_MIN_COUNT

MAX_LEVEL = 24


def _part1by1(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64(0x00000000FFFFFFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


def morton(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Z-order code of integer coordinates (uint64)."""
    return _part1by1(ix) | (_part1by1(iy) << np.uint64(1))


def _finest(v, lo, side, levels):
    """Integer coordinate at the finest level, and whether v lies in [lo, lo + side]."""
    n = 1 << levels
    with np.errstate(invalid="ignore"):
        ok = (v >= lo) & (v <= lo + side)
        i = np.floor((np.where(ok, v, lo) - lo) / side * n).astype(np.int64)
    np.clip(i, 0, n - 1, out=i)
    return i, ok


def build_kdtree(xy: np.ndarray, region, params: dict, sizing) -> Mesh:
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    side = max(x1 - x0, y1 - y0)
    mlc = params.get("min_location_count") or 0
    min_count = params.get("min_count") or (mlc if mlc > 0 else DEFAULT_MIN_COUNT)
    max_count = params.get("max_count") or 10 * min_count
    min_edge = sizing.avg_distance or 0.0
    levels = MAX_LEVEL
    if min_edge > 0:
        levels = max(0, min(levels, int(np.floor(np.log2(side / min_edge) + 1e-12))))
    if params.get("max_level") is not None:
        levels = min(levels, int(params["max_level"]))
    ix, okx = _finest(xy[:, 0], x0, side, levels)
    iy, oky = _finest(xy[:, 1], y0, side, levels)
    ok = okx & oky
    ix, iy = ix[ok], iy[ok]
    leaves = []  # arrays of (level, i, j)
    cand = np.zeros((1, 2), np.int64)  # candidates at level 0: the root
    if len(ix) > min_count and levels > 0:
        active = np.arange(len(ix))
    else:
        leaves.append(np.array([[0, 0, 0]]))
        cand = np.zeros((0, 2), np.int64)
        active = np.zeros(0, np.int64)
    for lev in range(levels):
        if len(cand) == 0:
            break
        shift = levels - lev - 1
        ci, cj = ix[active] >> shift, iy[active] >> shift
        pcode = (ci >> 1) * (1 << lev) + (cj >> 1)
        ccode = cand[:, 0] * (1 << lev) + cand[:, 1]
        pos = np.searchsorted(ccode, pcode)
        quad = (ci & 1) * 2 + (cj & 1)
        counts = np.bincount(pos * 4 + quad, minlength=4 * len(cand)).reshape(-1, 4)
        split = (counts > max_count).any(axis=1) | (counts > min_count).all(axis=1)
        if (~split).any():
            c = cand[~split]
            leaves.append(np.column_stack([np.full(len(c), lev), c]))
        ps = cand[split]
        kids = np.concatenate([np.column_stack([2 * ps[:, 0] + a, 2 * ps[:, 1] + b])
                               for a in (0, 1) for b in (0, 1)])
        kid_counts = np.concatenate([counts[split][:, 2 * a + b] for a in (0, 1) for b in (0, 1)])
        more = (kid_counts > min_count) & (lev + 1 < levels)
        if (~more).any():
            c = kids[~more]
            leaves.append(np.column_stack([np.full(len(c), lev + 1), c]))
        nxt = kids[more]
        order = np.lexsort((nxt[:, 1], nxt[:, 0]))
        nxt = nxt[order]
        ncode = nxt[:, 0] * (1 << (lev + 1)) + nxt[:, 1]
        # keep the points whose child is a next candidate
        pc_all = ci * (1 << (lev + 1)) + cj
        if len(ncode):
            p = np.minimum(np.searchsorted(ncode, pc_all), len(ncode) - 1)
            active = active[ncode[p] == pc_all]
        else:
            active = active[:0]
        cand = nxt
    leaves = np.concatenate(leaves).astype(np.int64)
    lev, li, lj = leaves[:, 0], leaves[:, 1], leaves[:, 2]
    size = side / (1 << lev).astype(float)
    bx0, by0 = x0 + li * size, y0 + lj * size
    centres = np.column_stack([bx0 + size / 2, by0 + size / 2])
    boxes = np.stack([np.column_stack([bx0, by0]), np.column_stack([bx0 + size, by0]),
                      np.column_stack([bx0 + size, by0 + size]), np.column_stack([bx0, by0 + size])], axis=1)
    polygons, areas = clip_cells(list(boxes), centres, size * np.sqrt(0.5), np.asarray(region.polygon(), float))
    keep = np.flatnonzero(areas > 1e-12 * size * size)
    # order the cells along the Z curve (stable, deterministic)
    sh = levels - lev[keep]
    start = morton(li[keep] << sh, lj[keep] << sh)
    keep = keep[np.argsort(start, kind="stable")]
    leaves = leaves[keep]
    centres, areas = centres[keep], areas[keep]
    polygons = [polygons[i] for i in keep]
    adj = _face_adjacency(leaves, levels)
    extra = {"kd_origin": np.array([x0, y0]), "kd_side": np.array(side), "kd_levels": np.array(levels),
             "kd_leaf": leaves, "kd_min_count": np.array(min_count), "kd_max_count": np.array(max_count)}
    return Mesh(method="kdtree", parameters={}, centres=centres, adjacency=adj, polygons=polygons,
                areas=np.asarray(areas, float), bounds=np.array([x0, y0, x1, y1]), extra=extra)


def _leaf_boxes(leaves, levels):
    sh = levels - leaves[:, 0]
    lo_x, lo_y = leaves[:, 1] << sh, leaves[:, 2] << sh
    ext = np.left_shift(np.ones_like(sh), sh)
    return lo_x, lo_x + ext, lo_y, lo_y + ext


def _touching(line_a, lo_a, hi_a, line_b, lo_b, hi_b, m):
    """Pairs (a, b) with line_a == line_b and overlapping open intervals (lo, hi)."""
    order = np.lexsort((lo_b, line_b))
    kb_lo = line_b[order] * m + lo_b[order]
    kb_hi = line_b[order] * m + hi_b[order]
    start = np.searchsorted(kb_hi, line_a * m + lo_a, side="right")
    end = np.searchsorted(kb_lo, line_a * m + hi_a, side="left")
    cnt = np.maximum(end - start, 0)
    a = np.repeat(np.arange(len(line_a)), cnt)
    offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    b = order[np.repeat(start, cnt) + offs]
    return a, b


def _face_adjacency(leaves, levels):
    k = len(leaves)
    if k < 2:
        return symmetric_adjacency([], [], k)
    x0, x1, y0, y1 = _leaf_boxes(leaves, levels)
    m = (1 << levels) + 1
    a1, b1 = _touching(x1, y0, y1, x0, y0, y1, m)  # right side of a = left side of b
    a2, b2 = _touching(y1, x0, x1, y0, x0, x1, m)  # top side of a = bottom side of b
    return symmetric_adjacency(np.concatenate([a1, a2]), np.concatenate([b1, b2]), k)


class BoxLocator(Locator):
    """The leaf box holding each point (Z-order code + binary search)."""

    def __init__(self, origin, side, levels, leaves):
        self.x0, self.y0 = (float(v) for v in origin)
        self.side = float(side)
        self.levels = int(levels)
        leaves = np.asarray(leaves, np.int64).reshape(-1, 3)
        sh = self.levels - leaves[:, 0]
        start = morton(leaves[:, 1] << sh, leaves[:, 2] << sh)
        order = np.argsort(start, kind="stable")
        self.start = start[order]
        self.end = self.start + (np.uint64(1) << (2 * sh[order]).astype(np.uint64))
        self.ids = order.astype(np.int64)
        if len(leaves):
            self.cell_size = float(self.side / (1 << int(leaves[:, 0].max())))

    @classmethod
    def from_mesh(cls, mesh):
        e = mesh.extra
        return cls(e["kd_origin"], float(e["kd_side"]), int(e["kd_levels"]), e["kd_leaf"])

    def cells(self, xy):
        xy = np.asarray(xy, float)
        ix, okx = _finest(xy[:, 0], self.x0, self.side, self.levels)
        iy, oky = _finest(xy[:, 1], self.y0, self.side, self.levels)
        code = morton(ix, iy)
        out = np.full(len(xy), -1, np.int64)
        if len(self.start) == 0:
            return out
        pos = np.searchsorted(self.start, code, side="right") - 1
        good = (pos >= 0) & okx & oky
        pos = np.maximum(pos, 0)
        good &= code < self.end[pos]
        out[good] = self.ids[pos[good]]
        return out

    def blocks(self, bx0, bx1, by0, by1):
        c00 = self.cells(np.column_stack([bx0, by0]))
        c01 = self.cells(np.column_stack([bx0, by1]))
        c10 = self.cells(np.column_stack([bx1, by0]))
        c11 = self.cells(np.column_stack([bx1, by1]))
        return c00, (c00 >= 0) & (c00 == c01) & (c00 == c10) & (c00 == c11)
