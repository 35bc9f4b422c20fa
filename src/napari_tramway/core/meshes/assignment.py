"""Assigning steps to cells (reference §3.4) and rasterising a mesh onto an image grid.

Base rule: a step belongs to the cell of its **origin** — the nearest centre (grid, hexagon:
arithmetic; k-means, GWR: KD-tree), or the leaf box (kd-tree) — when the origin lies in the
region. Then, in TRamWAy's order:

1. ``min_location_count``: cells with fewer **locations** than this lose their steps. As in TRamWAy
   (which assigns locations, reference §3.4), every location counts: the origin of each step, plus
   the trajectory end points (the last location of each trajectory starts no step) when ``ends``
   is given — the pipeline passes them, so a spec's ``min_location_count`` keeps the cells TRamWAy
   keeps for the same number. Without ``ends`` only the steps are counted.
2. ``knn`` max (``knn=(min, max)``): a cell with more than ``max`` steps keeps the ``max``
   nearest to its centre.
3. ``knn`` min: a cell with fewer than ``min`` steps (but at least one, see below) also takes the
   steps nearest to its centre, wherever they were assigned, up to ``min`` in total; its own steps
   are kept (TRamWAy's ``Knn`` sampler, ``fast_min_nn=False``). A step may then be in several cells.
   With fewer than ``min`` steps in the region, such a cell takes them all.
   **Quirk §9.11 fixed:** TRamWAy also fills cells with *no* step of their own when
   ``min_location_count`` is 0; here an empty cell stays empty (it has no local data, and filling
   it from its neighbours would invent a map value there).

``radius`` (µm) replaces the nearest-centre rule with balls: each cell takes every step whose
origin is within ``radius`` of its centre (TRamWAy's ``SphericalSampler``; quirk §9.5 fixed: the
distance is compared with the radius, not with its square); the filters above apply after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from ..roi.regions import FullRegion
from ..roi.shapes import Polygon, Rectangle
from .base import Assignment
from .geometry import BoxRegion, PolygonRegion, _Unbounded, region_from_polygon, segment_distances
from .locate import BAND_PIXELS, CHUNK, VoronoiLocator, locator_for
from .threads import get_threads

if TYPE_CHECKING:
    from ..parameters import Settings


def _as_xy(points) -> np.ndarray:
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"expected an (N, 2) array of x, y coordinates (µm), got shape {xy.shape}")
    return xy[:, :2]


#: Regions that contain every point: no region test.
_NO_TEST = (_Unbounded, FullRegion)


def mesh_region(mesh):
    """The region stored with the mesh (its polygon), as a region object."""
    poly = mesh.extra.get("region_polygon")
    if poly is None or len(poly) < 3:
        return BoxRegion(*np.asarray(mesh.bounds, float))
    return region_from_polygon(poly)


def effective_region(mesh, region):
    """``None``: the mesh's own region; ``False``: no region test; otherwise ``region``."""
    if region is None:
        return mesh_region(mesh)
    if region is False:
        return _Unbounded()
    return region


def nearest_cells(mesh, points, *, region=None) -> np.ndarray:
    """Cell of each point by the mesh's base rule (int64, −1 outside the region or any cell)."""
    xy = _as_xy(points)
    reg = effective_region(mesh, region)
    loc = locator_for(mesh)
    if isinstance(loc, VoronoiLocator):
        cells = loc.cells_binned(xy)
    elif len(xy) <= CHUNK:
        cells = loc.cells(xy)
    else:  # arithmetic locators: cache-sized chunks are several times faster
        cells = np.empty(len(xy), np.int64)
        for s in range(0, len(xy), CHUNK):
            cells[s: s + CHUNK] = loc.cells(xy[s: s + CHUNK])
    if not isinstance(reg, _NO_TEST):
        inside = np.asarray(reg.contains(xy), bool)
        cells[~inside] = -1
    return cells


def _sort_pairs(point, cell, n_cells) -> Assignment:
    """Pairs sorted by cell then point (radix sort when the cell ids fit in 16 bits)."""
    if point.size and not (np.diff(point) >= 0).all():
        o = np.argsort(point, kind="stable")
        point, cell = point[o], cell[o]
    if n_cells <= 65536:
        order = np.argsort(cell.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(cell, kind="stable")
    return Assignment(point=point[order].astype(np.int64), cell=cell[order].astype(np.int64), n_cells=int(n_cells))


def _validate(min_location_count, knn, radius):
    from .registry import ASSIGNMENT_PARAMETERS, check_knn

    mlc = ASSIGNMENT_PARAMETERS["min_location_count"].validate(min_location_count or 0)
    knn = ASSIGNMENT_PARAMETERS["knn"].validate(knn)
    radius = ASSIGNMENT_PARAMETERS["radius"].validate(radius)
    check_knn(knn)
    return mlc, knn, radius


def refine(mesh, points, base: np.ndarray, *, min_location_count=0, knn=None, radius=None,
           index: np.ndarray | None = None, end_cells: np.ndarray | None = None) -> Assignment:
    """Apply ``radius``, ``min_location_count`` and ``knn`` to a base cell index (see module doc).

    ``index`` maps the rows of ``points`` to the returned point indices (default: identity).
    ``end_cells`` are the cells (−1: none) of trajectory end points, counted for ``min_location_count``.
    """
    mlc, knn, radius = _validate(min_location_count, knn, radius)
    return _refine(mesh, _as_xy(points), base, mlc, knn, radius, index, end_cells)


def _refine(mesh, xy, base, mlc, knn, radius, index, end_cells=None) -> Assignment:
    """:func:`refine` on validated values."""
    base = np.asarray(base, np.int64)
    k = mesh.n_cells
    centres = np.asarray(mesh.centres, float)
    eligible = np.flatnonzero(base >= 0)
    tree = None  # of the eligible points, built once for the radius and knn queries
    if radius is not None:
        tree = cKDTree(xy[eligible])
        balls = tree.query_ball_point(centres, r=radius, workers=get_threads(), return_sorted=True)
        lens = np.fromiter((len(b) for b in balls), np.int64, count=k)
        point = eligible[np.fromiter((i for b in balls for i in b), np.int64, count=int(lens.sum()))]
        cell = np.repeat(np.arange(k), lens)
        d = np.hypot(*(xy[point] - centres[cell]).T)
        ok = d <= radius
        point, cell = point[ok], cell[ok]
    else:
        point, cell = eligible, base[eligible]
    counts = np.bincount(cell, minlength=k)
    if mlc > 0:
        locations = counts
        if end_cells is not None:
            e = np.asarray(end_cells, np.int64)
            locations = counts + np.bincount(e[e >= 0], minlength=k)
        ok = locations[cell] >= mlc
        point, cell = point[ok], cell[ok]
        counts = np.bincount(cell, minlength=k)
    min_nn, max_nn = knn if knn is not None else (None, None)
    if max_nn is not None and (counts > max_nn).any():
        d = np.hypot(*(xy[point] - centres[cell]).T)
        order = np.lexsort((point, d, cell))
        point, cell = point[order], cell[order]
        starts = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=k))[:-1]])
        rank = np.arange(cell.size) - starts[cell]
        ok = rank < max_nn
        point, cell = point[ok], cell[ok]
        counts = np.bincount(cell, minlength=k)
    if min_nn is not None and min_nn > 0 and eligible.size:
        small = np.flatnonzero((counts >= 1) & (counts < min_nn))
        if small.size:
            kk = min(min_nn, eligible.size)
            if tree is None:
                tree = cKDTree(xy[eligible])
            _, nb = tree.query(centres[small], k=kk, workers=get_threads())
            nb = eligible[np.asarray(nb).reshape(len(small), kk)]
            # own pairs of the small cells, to skip them among the neighbours
            n_all = np.int64(len(xy))
            own = np.sort(cell.astype(np.int64) * n_all + point)
            key = small[:, None].astype(np.int64) * n_all + nb
            pos = np.minimum(np.searchsorted(own, key), max(own.size - 1, 0))
            is_own = own[pos] == key if own.size else np.zeros(key.shape, bool)
            need = (min_nn - counts[small])[:, None]
            rank = np.cumsum(~is_own, axis=1)
            add = ~is_own & (rank <= need)
            rows, cols = np.nonzero(add)
            point = np.concatenate([point, nb[rows, cols]])
            cell = np.concatenate([cell, small[rows]])
    if index is not None:
        point = np.asarray(index, np.int64)[point]
    return _sort_pairs(point.astype(np.int64), cell.astype(np.int64), k)


def assign(mesh, points, *, region=None, min_location_count=0, knn=None, radius=None, ends=None,
           settings: Settings | None = None) -> Assignment:
    """Assign points (step origins, (N, 2) µm) to the cells of ``mesh``.

    Parameters
    ----------
    mesh : Mesh
    points : (N, 2) array
        Origins of the steps (rows of a translocations table, in order); the returned
        :class:`Assignment` refers to these row indices.
    region : region object, None or False
        Points outside it are unassigned. ``None`` (default) uses the region the mesh was built
        for (its stored polygon: the data's bounding box when it was built without region);
        ``False`` disables the test. Pass the ROI object itself for an exact test of an ellipse
        or of a group of ROIs.
    min_location_count : int
        Cells with fewer locations lose their steps (0: off); see ``ends``.
    knn : int or (min, max)
        See the module docstring; ``knn=10`` means ``(10, None)``.
    radius : float, optional
        Ball assignment (µm) instead of nearest centre.
    ends : (M, 2) array, optional
        Trajectory end points (µm; :func:`napari_tramway.core.trajectories.trajectory_ends`):
        counted with the step origins for ``min_location_count``, never assigned.
    settings : Settings, optional
        Validated mesh settings (a spec's ``mesh.parameters``) whose ``min_location_count``,
        ``knn`` and ``radius`` are used as they are, instead of the three keywords.
    """
    xy = _as_xy(points)
    if settings is not None:
        if (min_location_count, knn, radius) != (0, None, None):
            raise TypeError("assign: pass either validated settings or min_location_count, knn and radius")
        rule = (settings.get("min_location_count") or 0, settings.get("knn"), settings.get("radius"))
    else:
        rule = _validate(min_location_count, knn, radius)
    base = nearest_cells(mesh, xy, region=region)
    end_cells = None
    if ends is not None and rule[0]:
        end_cells = nearest_cells(mesh, _as_xy(ends), region=region) if len(ends) else np.zeros(0, np.int64)
    return _refine(mesh, xy, base, *rule, None, end_cells)


# -- rasterisation ------------------------------------------------------------------------------

def pixel_centres(origin, pixel_size, shape) -> tuple[np.ndarray, np.ndarray]:
    """``(xs, ys)``: x of each column and y of each row centre, ``x0 + (j + 0.5)·p``."""
    x0, y0 = (float(v) for v in origin)
    if np.ndim(pixel_size) == 0:
        py = px = float(pixel_size)
    else:
        py, px = (float(v) for v in pixel_size)
    if not (px > 0 and py > 0):
        raise ValueError(f"pixel_size must be positive, got {pixel_size!r}")
    rows, cols = (int(v) for v in shape)
    xs = x0 + (np.arange(cols) + 0.5) * px
    ys = y0 + (np.arange(rows) + 0.5) * py
    return xs, ys


def _window(xs, ys, bounds):
    x0, y0, x1, y1 = bounds
    tol = 1e-9 * (1.0 + max(abs(x0), abs(x1), abs(y0), abs(y1), x1 - x0, y1 - y0))
    j0, j1 = np.searchsorted(xs, x0 - tol, "left"), np.searchsorted(xs, x1 + tol, "right")
    i0, i1 = np.searchsorted(ys, y0 - tol, "left"), np.searchsorted(ys, y1 + tol, "right")
    return int(i0), int(i1), int(j0), int(j1)


def _region_mask(region, xs, ys, need: np.ndarray) -> np.ndarray:
    """``region.contains`` on every pixel centre where ``need`` (others: False), exactly."""
    rows, cols = len(ys), len(xs)
    if isinstance(region, _NO_TEST):
        return need.copy()
    rect = _rectangle_of(region)
    if rect is not None:
        x0, y0, x1, y1 = rect
        mx = (xs >= x0) & (xs <= x1)
        my = (ys >= y0) & (ys <= y1)
        return need & my[:, None] & mx[None, :]
    members = getattr(region, "rois", None)
    if isinstance(members, (list, tuple)) and members and all(hasattr(r, "contains") for r in members):
        out = np.zeros((rows, cols), bool)
        for r in members:
            out |= _region_mask(r, xs, ys, need & ~out)
        return out
    poly = _exact_polygon(region)
    if poly is not None:
        return _polygon_mask(region, poly, xs, ys, need)
    return _direct_mask(region, xs, ys, need)


def _rectangle_of(region):
    return region.bounds if isinstance(region, (BoxRegion, Rectangle)) else None


def _exact_polygon(region):
    """The polygon whose boundary is exactly ``region``'s (polygons only; not ellipses)."""
    if isinstance(region, (PolygonRegion, Polygon)):
        return np.asarray(region.vertices, float)
    return None


def _direct_mask(region, xs, ys, need):
    out = np.zeros(need.shape, bool)
    ii, jj = np.nonzero(need)
    for s in range(0, ii.size, BAND_PIXELS):
        a, b = ii[s: s + BAND_PIXELS], jj[s: s + BAND_PIXELS]
        out[a, b] = np.asarray(region.contains(np.column_stack([xs[b], ys[a]])), bool)
    return out


def _polygon_mask(region, poly, xs, ys, need, block=16):
    """Blocks of pixels farther from the polygon's boundary than their half-diagonal all share
    the side of their centre; only the pixels of the other blocks are tested one by one."""
    rows, cols = need.shape
    if rows < 2 * block or cols < 2 * block:
        return _direct_mask(region, xs, ys, need)
    nbx, nby = -(-cols // block), -(-rows // block)
    j0 = np.arange(nbx) * block
    j1 = np.minimum(j0 + block, cols) - 1
    i0 = np.arange(nby) * block
    i1 = np.minimum(i0 + block, rows) - 1
    bx = (xs[j0] + xs[j1]) / 2
    by = (ys[i0] + ys[i1]) / 2
    hx = (xs[j1] - xs[j0]) / 2
    hy = (ys[i1] - ys[i0]) / 2
    BX, BY = np.meshgrid(bx, by)
    H = np.hypot(*np.meshgrid(hx, hy))
    c = np.column_stack([BX.ravel(), BY.ravel()])
    dist = segment_distances(c, poly).reshape(nby, nbx)
    eps = 1e-9 * (1.0 + float(np.abs(poly).max()))
    sure = dist > H + eps
    side = np.zeros((nby, nbx), bool)
    if sure.any():
        side[sure] = np.asarray(region.contains(c[sure.ravel()]), bool)
    lab = np.where(sure, side.astype(np.int8), np.int8(-1))
    img = np.repeat(np.repeat(lab, block, axis=0)[:rows], block, axis=1)[:, :cols]
    out = img == 1
    unsure = (img == -1) & need
    out &= need
    if unsure.any():
        out |= _direct_mask(region, xs, ys, unsure)
    return out


def rasterize(mesh, origin=(0.0, 0.0), pixel_size=1.0, shape=(1, 1), region=None) -> np.ndarray:
    """Cell id of every pixel of an image grid, int32 (rows, cols); −1 outside region or cells.

    Pixel ``(i, j)`` covers ``[x0 + j·p, x0 + (j+1)·p) × [y0 + i·p, y0 + (i+1)·p)`` and has centre
    ``(x0 + (j + 0.5)·p, y0 + (i + 0.5)·p)``: rows are y, columns x, ``origin`` is the outer corner
    of pixel (0, 0) (as :func:`napari_tramway.core.simulate.widefield_image`). In napari, which
    puts pixel centres at integer coordinates: ``scale=(p, p)``, ``translate=(y0 + p/2, x0 + p/2)``.
    ``pixel_size`` may be ``(p_row, p_col)``. The value equals
    ``nearest_cells(mesh, centre, region=region)`` — the base rule of :func:`assign` — on every
    pixel, exactly; ``region`` has the meaning it has there.
    """
    xs, ys = pixel_centres(origin, pixel_size, shape)
    rows, cols = len(ys), len(xs)
    reg = effective_region(mesh, region)
    if isinstance(reg, _NO_TEST):
        i0, i1, j0, j1 = 0, rows, 0, cols
    else:
        i0, i1, j0, j1 = _window(xs, ys, tuple(float(v) for v in reg.bounds))
    if i1 <= i0 or j1 <= j0:
        return np.full((rows, cols), -1, np.int32)
    sx = xs[j0:j1]
    loc = locator_for(mesh)
    out = np.full((rows, cols), -1, np.int32)
    band = max(64, BAND_PIXELS // max(1, j1 - j0))  # bounds the temporaries
    for b0 in range(i0, i1, band):
        b1 = min(i1, b0 + band)
        sy = ys[b0:b1]
        lab = loc.raster(sx, sy).astype(np.int32, copy=False)
        _apply_region(reg, sx, sy, lab)
        out[b0:b1, j0:j1] = lab
    return out


def _apply_region(region, xs, ys, lab):
    """Set ``lab`` to −1 on the pixels whose centre ``region.contains`` rejects."""
    if isinstance(region, _NO_TEST):
        return
    rect = _rectangle_of(region)
    if rect is not None:
        x0, y0, x1, y1 = rect
        mx = (xs >= x0) & (xs <= x1)
        my = (ys >= y0) & (ys <= y1)
        if not my.all():
            lab[~my, :] = -1
        if not mx.all():
            lab[:, ~mx] = -1
        return
    need = lab >= 0
    mask = _region_mask(region, xs, ys, need)
    lab[need & ~mask] = -1
