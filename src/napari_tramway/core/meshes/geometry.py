"""Plane geometry for meshes: regions, polygon clipping, Voronoi cells, Delaunay neighbours.

Everything is vectorised over cells or points where it matters; the only per-cell Python loops
are over the few cells that cross the region's boundary (clipping). Coordinates are µm.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import Delaunay, QhullError, Voronoi

from ..roi.polygons import ClosedPolygon, polygon_area, polygon_contains

__all__ = [
    "BoxRegion", "PolygonRegion", "resolve_region", "region_from_polygon", "polygon_area",
    "polygon_areas", "polygon_contains", "clip_polygon", "clip_cells", "voronoi_polygons",
    "delaunay_adjacency", "prune_long_edges", "symmetric_adjacency", "segment_distances",
]


# -- small polygon helpers (polygon_area and polygon_contains are those of core.roi.polygons) ----------

def polygon_areas(polygons) -> np.ndarray:
    """Absolute areas of a list of polygons, in one vectorised shoelace over the packed vertices."""
    n = len(polygons)
    if n == 0:
        return np.zeros(0)
    lens = np.fromiter((len(p) for p in polygons), dtype=np.int64, count=n)
    if lens.sum() == 0:
        return np.zeros(n)
    flat = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in polygons])
    starts = np.zeros(n, dtype=np.int64)
    starts[1:] = np.cumsum(lens)[:-1]
    # index of the next vertex within each polygon
    idx = np.arange(flat.shape[0])
    owner = np.repeat(np.arange(n), lens)
    nxt = idx + 1
    last = starts + lens - 1
    nxt[last[lens > 0]] = starts[lens > 0]
    x, y = flat[:, 0], flat[:, 1]
    terms = x * y[nxt] - y * x[nxt]
    out = np.bincount(owner, weights=terms, minlength=n)
    return np.abs(0.5 * out)


def is_convex(poly: np.ndarray) -> bool:
    """Whether a counter-clockwise polygon is convex (collinear vertices allowed)."""
    p = np.asarray(poly, float)
    d1 = np.roll(p, -1, axis=0) - p
    d2 = np.roll(d1, -1, axis=0)
    cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    scale = np.abs(d1).max() ** 2 if len(p) else 1.0
    return bool(np.all(cross >= -1e-12 * scale))


def _ccw(poly: np.ndarray) -> np.ndarray:
    poly = np.asarray(poly, float).reshape(-1, 2)
    if len(poly) > 3 and np.allclose(poly[0], poly[-1]):
        poly = poly[:-1]
    return poly if polygon_area(poly) >= 0 else poly[::-1].copy()


def segment_distances(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance (µm) from each point to the boundary of the closed polygon ``poly``."""
    xy = np.asarray(xy, float)
    a = np.asarray(poly, float)
    b = np.roll(a, -1, axis=0)
    out = np.full(len(xy), np.inf)
    for (ax, ay), (bx, by) in zip(a, b):
        ex, ey = bx - ax, by - ay
        ll = ex * ex + ey * ey
        px, py = xy[:, 0] - ax, xy[:, 1] - ay
        if ll > 0:
            t = np.clip((px * ex + py * ey) / ll, 0.0, 1.0)
        else:
            t = 0.0
        dx, dy = px - t * ex, py - t * ey
        np.minimum(out, np.sqrt(dx * dx + dy * dy), out=out)
    return out


def count_meeting(poly: np.ndarray, centres: np.ndarray, reach: float) -> int:
    """How many cells meet the polygon: centre inside it, or within ``reach`` of its boundary."""
    centres = np.asarray(centres, float).reshape(-1, 2)
    return int((polygon_contains(poly, centres) | (segment_distances(centres, poly) < reach)).sum())


# -- regions -----------------------------------------------------------------------------------

class BoxRegion:
    """Axis-aligned rectangle [xmin, xmax] × [ymin, ymax] (µm), boundary included.

    Used when no region is given (the data's bounding box) and for stored rectangular regions.
    """

    def __init__(self, xmin, ymin, xmax, ymax):
        self.xmin, self.ymin, self.xmax, self.ymax = (float(v) for v in (xmin, ymin, xmax, ymax))

    def contains(self, xy) -> np.ndarray:
        xy = np.asarray(xy, float)
        x, y = xy[:, 0], xy[:, 1]
        return (x >= self.xmin) & (x <= self.xmax) & (y >= self.ymin) & (y <= self.ymax)

    @property
    def bounds(self):
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    def polygon(self) -> np.ndarray:
        return np.array([[self.xmin, self.ymin], [self.xmax, self.ymin], [self.xmax, self.ymax],
                         [self.xmin, self.ymax]])

    def __repr__(self):
        return f"BoxRegion({self.xmin}, {self.ymin}, {self.xmax}, {self.ymax})"


class PolygonRegion:
    """A simple polygon (µm, stored counter-clockwise), boundary included (fast test)."""

    def __init__(self, vertices):
        self.vertices = _ccw(vertices)
        self._closed = ClosedPolygon(self.vertices)

    def contains(self, xy) -> np.ndarray:
        return self._closed.contains(xy)

    @property
    def bounds(self):
        return self._closed.bounds

    def polygon(self) -> np.ndarray:
        return self.vertices.copy()


class _Unbounded:
    """No region test at all (``region=False``)."""

    def contains(self, xy):
        return np.ones(len(xy), dtype=bool)


def region_from_polygon(poly) -> BoxRegion | PolygonRegion:
    """The region a stored polygon describes: a :class:`BoxRegion` when axis-aligned rectangle."""
    poly = np.asarray(poly, float).reshape(-1, 2)
    if len(poly) == 4:
        xs, ys = np.unique(poly[:, 0]), np.unique(poly[:, 1])
        if len(xs) == 2 and len(ys) == 2:
            cornerset = {(float(a), float(b)) for a, b in poly}
            if cornerset == {(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])}:
                return BoxRegion(xs[0], ys[0], xs[1], ys[1])
    return PolygonRegion(poly)


def data_box(xy: np.ndarray, pad: float = 0.5) -> BoxRegion:
    """Bounding box of points; a zero-size side is widened by ``pad`` on each side."""
    xy = np.asarray(xy, float)
    if len(xy) == 0:
        return BoxRegion(0.0, 0.0, 1.0, 1.0)
    lo = np.array([xy[:, 0].min(), xy[:, 1].min()])
    hi = np.array([xy[:, 0].max(), xy[:, 1].max()])
    for k in range(2):
        if not hi[k] > lo[k]:
            lo[k] -= pad
            hi[k] += pad
    return BoxRegion(lo[0], lo[1], hi[0], hi[1])


def resolve_region(region, xy: np.ndarray, pad: float = 0.5):
    """The region object to build on: ``region`` itself, or the points' bounding box when None.

    A region whose bounds or polygon are unavailable (a ``FullRegion`` without bounds) is
    replaced by the data's bounding box.
    """
    if region is None or region is False:
        return data_box(xy, pad)
    try:
        b = region.bounds
        poly = region.polygon()
    except (ValueError, AttributeError, NotImplementedError):
        return data_box(xy, pad)
    b = tuple(float(v) for v in b)
    if not (b[2] > b[0] and b[3] > b[1]) or len(poly) < 3:
        return data_box(np.concatenate([xy, np.asarray(poly, float).reshape(-1, 2)]), pad)
    return region


# -- clipping ----------------------------------------------------------------------------------

def _clip_halfplane(p: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Keep the part of polygon ``p`` where a·x + b·y ≤ c (one Sutherland–Hodgman pass)."""
    if len(p) == 0:
        return p
    s = p[:, 0] * a + p[:, 1] * b - c
    inside = s <= 0
    if inside.all():
        return p
    if not inside.any():
        return p[:0]
    prev = np.roll(p, 1, axis=0)
    sp_ = np.roll(s, 1)
    inp = np.roll(inside, 1)
    cross = inside != inp
    with np.errstate(divide="ignore", invalid="ignore"):
        t = sp_ / (sp_ - s)
        inter = prev + t[:, None] * (p - prev)
    # per vertex: [intersection if the edge crosses] then [vertex if inside]
    pts = np.stack([inter, p], axis=1).reshape(-1, 2)
    keep = np.stack([cross, inside], axis=1).reshape(-1)
    return pts[keep]


def clip_polygon(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Part of ``subject`` (any simple polygon) inside the **convex** CCW polygon ``clip``.

    Sutherland–Hodgman: exact area; when the result is disconnected (a non-convex subject) its
    pieces are joined by zero-width bridges along the clip boundary, which do not change the area.
    """
    out = np.asarray(subject, float)
    q = np.asarray(clip, float)
    qn = np.roll(q, -1, axis=0)
    for (x1, y1), (x2, y2) in zip(q, qn):
        # inside of a CCW edge is to the left: (x2-x1)(y-y1) - (y2-y1)(x-x1) >= 0
        a, b = (y2 - y1), -(x2 - x1)
        c = a * x1 + b * y1
        out = _clip_halfplane(out, a, b, c)
        if len(out) == 0:
            break
    return _dedupe(out)


def _dedupe(p: np.ndarray) -> np.ndarray:
    if len(p) < 2:
        return p
    d = np.abs(p - np.roll(p, 1, axis=0)).max(axis=1)
    scale = max(1.0, float(np.abs(p).max()))
    keep = d > 1e-13 * scale
    if not keep.any():
        return p[:1]
    return p[keep]


def clip_cells(polygons: list, centres: np.ndarray, radii: np.ndarray, region_poly: np.ndarray):
    """Clip convex cells to a region polygon; return ``(polygons, areas)``.

    ``radii`` bound each cell around its centre (max vertex distance). Cells farther than their
    radius from the region boundary are kept whole (centre inside) or emptied (centre outside)
    without clipping; only the cells crossing the boundary are clipped. A convex region clips
    the cell (Sutherland–Hodgman with the region as window); a non-convex region is clipped by
    the convex cell instead, which is exact in area for any simple region polygon.
    """
    region_poly = _ccw(region_poly)
    k = len(polygons)
    centres = np.asarray(centres, float).reshape(-1, 2)
    radii = np.asarray(radii, float)
    inside = polygon_contains(region_poly, centres)
    dist = segment_distances(centres, region_poly) if k else np.zeros(0)
    margin = 1e-9 * max(1.0, float(np.abs(region_poly).max()))
    whole = inside & (dist > radii + margin)
    empty = ~inside & (dist > radii + margin)
    out = list(polygons)
    convex = is_convex(region_poly)
    for i in np.flatnonzero(~whole & ~empty):
        cell = np.asarray(polygons[i], float)
        if len(cell) < 3:
            out[i] = cell[:0]
            continue
        if convex:
            out[i] = clip_polygon(cell, region_poly)
        else:
            out[i] = clip_polygon(region_poly, cell)
    for i in np.flatnonzero(empty):
        out[i] = np.zeros((0, 2))
    out = [p if len(p) >= 3 else np.zeros((0, 2)) for p in out]
    return out, polygon_areas(out)


def cell_radii(polygons: list, centres: np.ndarray) -> np.ndarray:
    """Largest distance from each centre to its polygon's vertices."""
    n = len(polygons)
    lens = np.fromiter((len(p) for p in polygons), dtype=np.int64, count=n)
    if n == 0 or lens.sum() == 0:
        return np.zeros(n)
    flat = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in polygons])
    owner = np.repeat(np.arange(n), lens)
    d = np.hypot(*(flat - centres[owner]).T)
    out = np.zeros(n)
    np.maximum.at(out, owner, d)
    return out


# -- Voronoi / Delaunay -------------------------------------------------------------------------

def voronoi_polygons(centres: np.ndarray, extent) -> list:
    """Counter-clockwise Voronoi polygon of each centre, bounded (µm).

    Eight far-away guard points on a circle around ``extent`` (xmin, ymin, xmax, ymax) close the
    outer cells: inside ``extent`` every cell equals the true (unbounded) Voronoi cell, so
    clipping to a region within ``extent`` is exact.
    """
    c = np.asarray(centres, float)
    k = len(c)
    x0, y0, x1, y1 = extent
    lo = np.minimum([x0, y0], c.min(axis=0)) if k else np.array([x0, y0])
    hi = np.maximum([x1, y1], c.max(axis=0)) if k else np.array([x1, y1])
    mid = (lo + hi) / 2
    diag = float(np.hypot(*(hi - lo))) + 1.0
    ang = np.arange(8) * (np.pi / 4) + np.pi / 8
    guards = mid + 10 * diag * np.column_stack([np.cos(ang), np.sin(ang)])
    if k == 1:
        # a single cell: the whole extent (guard diagram would also give that, but be explicit)
        r = 10 * diag
        return [np.array([[mid[0] - r, mid[1] - r], [mid[0] + r, mid[1] - r], [mid[0] + r, mid[1] + r],
                          [mid[0] - r, mid[1] + r]])]
    vor = Voronoi(np.vstack([c, guards]))
    regions = vor.regions
    pr = vor.point_region[:k]
    lists = [regions[r] for r in pr]
    lens = np.fromiter((len(v) for v in lists), dtype=np.int64, count=k)
    flat_idx = np.fromiter((i for v in lists for i in v), dtype=np.int64, count=int(lens.sum()))
    if (flat_idx < 0).any():  # cannot happen with guards, but never return infinite vertices
        raise RuntimeError("unbounded Voronoi cell despite guard points")
    verts = vor.vertices[flat_idx]
    owner = np.repeat(np.arange(k), lens)
    rel = verts - c[owner]
    theta = np.arctan2(rel[:, 1], rel[:, 0])
    order = np.lexsort((theta, owner))
    verts = verts[order]
    bounds = np.cumsum(lens)[:-1]
    return np.split(verts, bounds)


def symmetric_adjacency(rows, cols, n: int) -> sp.csr_matrix:
    """Boolean symmetric CSR graph from edge lists (self loops and duplicates removed)."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    keep = rows != cols
    r = np.concatenate([rows[keep], cols[keep]])
    c = np.concatenate([cols[keep], rows[keep]])
    a = sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = True
    a.sort_indices()
    return a


def delaunay_adjacency(centres: np.ndarray) -> sp.csr_matrix:
    """Delaunay graph of the centres (the Voronoi-ridge neighbours, unbounded ridges included).

    Collinear centres are chained along their line; one centre has no neighbour.
    """
    c = np.asarray(centres, float)
    k = len(c)
    if k < 2:
        return sp.csr_matrix((k, k), dtype=bool)
    if k == 2:
        return symmetric_adjacency([0], [1], 2)
    try:
        tri = Delaunay(c)
        indptr, indices = tri.vertex_neighbor_vertices
        rows = np.repeat(np.arange(k), np.diff(indptr))
        adj = symmetric_adjacency(rows, indices, k)
        if (np.diff(adj.indptr) == 0).any() and len(tri.coplanar):
            # coincident points are dropped by Qhull: link each to the vertex it coincides with
            cop = tri.coplanar
            adj = (adj + symmetric_adjacency(cop[:, 0], tri.simplices[cop[:, 1], 0], k)).astype(bool)
        return sp.csr_matrix(adj)
    except (QhullError, ValueError):
        centred = c - c.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        order = np.argsort(centred @ vt[0], kind="stable")
        return symmetric_adjacency(order[:-1], order[1:], k)


def prune_long_edges(adj: sp.csr_matrix, centres: np.ndarray, factor: float | None) -> sp.csr_matrix:
    """Remove edges longer than ``factor`` × the median edge length (None: unchanged).

    Lengths, not squared lengths, are compared (TRamWAy compares squared lengths with
    ``prune`` × the median squared length; see docs/meshes.md).
    """
    if factor is None or adj.nnz == 0:
        return adj
    coo = sp.triu(adj, k=1).tocoo()
    length = np.hypot(*(centres[coo.row] - centres[coo.col]).T)
    keep = length <= factor * np.median(length)
    return symmetric_adjacency(coo.row[keep], coo.col[keep], adj.shape[0])
