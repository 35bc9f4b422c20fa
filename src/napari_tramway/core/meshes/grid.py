"""Square grid (reference §3.3 'Grid / Squares'), sized by resolution or by count.

Bounds are the region's (quirk §9.8 fixed: TRamWAy takes the data's min/max). The step is
``avg_distance`` (= resolution), or ``sqrt(region area / n_cells)`` in count mode, floored at
``min_distance``; ``count_per_dim = round(size / step)`` and the actual sides are size/count.
Cells are indexed in C order over (x, y): ``cell = ix·ny + iy`` before dropping cells that lie
entirely outside a non-rectangular region. Neighbours: 8-neighbourhood (what TRamWAy's
inference uses); the 4-neighbourhood is kept in ``extra['face_adjacency_*']``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .base import Mesh
from .geometry import clip_cells, count_meeting, polygon_area, symmetric_adjacency
from .locate import Locator
from .sizing import calibrate

MAX_CELLS = 20_000_000

NEIGHBOURS_8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
NEIGHBOURS_4 = [(-1, 0), (0, -1), (0, 1), (1, 0)]


def grid_step(region, sizing) -> float:
    """Side (µm) of the square cells, before rounding the counts per axis.

    Count mode: ``sqrt(area / n_cells)`` as TRamWAy, for a rectangular region; for another region
    shape the step is calibrated so that the number of cells meeting the region is close to
    ``N / avg_location_count``. Never below ``min_distance``.
    """
    if sizing.mode == "resolution":
        return float(sizing.avg_distance)
    poly = np.asarray(region.polygon(), float)
    area = abs(polygon_area(poly))
    target = sizing.n_cells_target
    step = float(np.sqrt(area / target))
    if not _is_bounds_box(poly, tuple(float(v) for v in region.bounds)):
        step = calibrate(step, lambda st: _cells_meeting(region, st), target)
    return max(step, sizing.min_distance)


def _cells_meeting(region, step):
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    nx, ny = max(1, int(round((x1 - x0) / step))), max(1, int(round((y1 - y0) / step)))
    if nx * ny > MAX_CELLS:
        return nx * ny
    sx, sy = (x1 - x0) / nx, (y1 - y0) / ny
    cx, cy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * sx, y0 + (np.arange(ny) + 0.5) * sy)
    poly = np.asarray(region.polygon(), float)
    return count_meeting(poly, np.column_stack([cx.ravel(), cy.ravel()]), 0.5 * np.hypot(sx, sy))


def _lattice_edges(lattice: np.ndarray, lut: np.ndarray, offsets) -> tuple[np.ndarray, np.ndarray]:
    nx, ny = lut.shape
    rows, cols = [], []
    for dx, dy in offsets:
        jx, jy = lattice[:, 0] + dx, lattice[:, 1] + dy
        ok = (jx >= 0) & (jx < nx) & (jy >= 0) & (jy < ny)
        src = np.flatnonzero(ok)
        dst = lut[jx[ok], jy[ok]]
        good = dst >= 0
        rows.append(src[good])
        cols.append(dst[good])
    return np.concatenate(rows), np.concatenate(cols)


def build_grid(xy: np.ndarray, region, params: dict, sizing) -> Mesh:
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    w, h = x1 - x0, y1 - y0
    step = grid_step(region, sizing)
    if not step > 0:
        raise ParameterError("resolution", "the grid step must be positive")
    nx, ny = max(1, int(round(w / step))), max(1, int(round(h / step)))
    if nx * ny > MAX_CELLS:
        raise ParameterError("resolution" if sizing.mode == "resolution" else "avg_location_count",
                             f"a {nx}×{ny} grid ({nx * ny} cells) is too fine for this region")
    sx, sy = w / nx, h / ny
    ex, ey = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    centres = np.column_stack([(ex[ix] + ex[ix + 1]) / 2, (ey[iy] + ey[iy + 1]) / 2])
    corners = np.stack([np.column_stack([ex[ix], ey[iy]]), np.column_stack([ex[ix + 1], ey[iy]]),
                        np.column_stack([ex[ix + 1], ey[iy + 1]]), np.column_stack([ex[ix], ey[iy + 1]])], axis=1)
    polygons = list(corners)
    region_poly = np.asarray(region.polygon(), float)
    if _is_bounds_box(region_poly, (x0, y0, x1, y1)):
        areas = (ex[ix + 1] - ex[ix]) * (ey[iy + 1] - ey[iy])
    else:
        radii = np.full(len(polygons), 0.5 * np.hypot(sx, sy))
        polygons, areas = clip_cells(polygons, centres, radii, region_poly)
    keep = areas > 1e-12 * sx * sy
    sel = np.flatnonzero(keep)
    lattice = np.column_stack([ix, iy])[sel].astype(np.int64)
    centres = centres[sel]
    polygons = [polygons[i] for i in sel]
    areas = areas[sel]
    k = len(sel)
    lut = np.full((nx, ny), -1, np.int64)
    lut[lattice[:, 0], lattice[:, 1]] = np.arange(k)
    adj = symmetric_adjacency(*_lattice_edges(lattice, lut, NEIGHBOURS_8), k)
    face = symmetric_adjacency(*_lattice_edges(lattice, lut, NEIGHBOURS_4), k)
    extra = {
        "grid_origin": np.array([x0, y0]), "grid_upper": np.array([x1, y1]),
        "grid_step": np.array([sx, sy]), "grid_shape": np.array([nx, ny], np.int64),
        "lattice_index": lattice,
        "face_adjacency_indptr": face.indptr.astype(np.int64),
        "face_adjacency_indices": face.indices.astype(np.int64),
    }
    return Mesh(method="grid", parameters={}, centres=centres, adjacency=adj, polygons=polygons,
                areas=np.asarray(areas, float), bounds=np.array([x0, y0, x1, y1]), extra=extra)


def _is_bounds_box(poly, bounds) -> bool:
    if len(poly) != 4:
        return False
    x0, y0, x1, y1 = bounds
    xs, ys = set(poly[:, 0].tolist()), set(poly[:, 1].tolist())
    return xs == {x0, x1} and ys == {y0, y1}


class GridLocator(Locator):
    """Arithmetic location on the grid: the cell whose half-open square holds the point
    (the last row/column includes the upper bound)."""

    def __init__(self, origin, upper, step, shape, lattice):
        self.x0, self.y0 = (float(v) for v in origin)
        self.x1, self.y1 = (float(v) for v in upper)
        self.sx, self.sy = (float(v) for v in step)
        self.nx, self.ny = (int(v) for v in shape)
        self.lut = np.full((self.nx, self.ny), -1, np.int64)
        lattice = np.asarray(lattice, np.int64).reshape(-1, 2)
        self.lut[lattice[:, 0], lattice[:, 1]] = np.arange(len(lattice))
        self.cell_size = min(self.sx, self.sy)

    @classmethod
    def from_mesh(cls, mesh):
        e = mesh.extra
        return cls(e["grid_origin"], e["grid_upper"], e["grid_step"], e["grid_shape"], e["lattice_index"])

    def _index(self, v, lo, hi, step, n):
        with np.errstate(invalid="ignore"):
            ok = (v >= lo) & (v <= hi)
            i = np.floor((np.where(ok, v, lo) - lo) / step).astype(np.int64)
        np.clip(i, 0, n - 1, out=i)
        return i, ok

    def cells(self, xy):
        xy = np.asarray(xy, float)
        ix, okx = self._index(xy[:, 0], self.x0, self.x1, self.sx, self.nx)
        iy, oky = self._index(xy[:, 1], self.y0, self.y1, self.sy, self.ny)
        out = self.lut[ix, iy]
        out[~(okx & oky)] = -1
        return out

    def raster(self, xs, ys):
        ix, okx = self._index(np.asarray(xs, float), self.x0, self.x1, self.sx, self.nx)
        iy, oky = self._index(np.asarray(ys, float), self.y0, self.y1, self.sy, self.ny)
        lut = self.lut.astype(np.int32)
        rowsel = np.take(lut.T, iy, axis=0)  # (rows, nx)
        rowsel[~oky] = -1
        out = np.take(rowsel, ix, axis=1)
        if not okx.all():
            out[:, ~okx] = -1
        return out
