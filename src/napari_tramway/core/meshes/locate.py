"""Point location: which cell a point (or a pixel centre) falls in, for every mesh method.

A *locator* answers ``cells(xy) -> (N,) int64`` (−1 when no cell) with the method's own rule:
arithmetic for the square grid and the hexagons, a KD-tree nearest-centre query for Voronoi
meshes (k-means, GWR), the leaf box for the kd-tree. :meth:`Locator.raster` labels an image grid
with the same rule; it first labels blocks of pixels that provably lie in one cell (a distance
margin, or equal corners for boxes) and evaluates :meth:`Locator.cells` only on the pixels of the
other blocks, so the raster equals ``cells`` on every pixel centre, bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .threads import get_threads, workers_for

BAND_PIXELS = 1 << 22  # pixels per processed band (bounds memory: a few × 4M int64)
CHUNK = 1 << 17  # points per call of ``cells`` on undecided pixels (cache-sized temporaries)


class Locator:
    """Base class; subclasses implement :meth:`cells` and, for fast rasters, :meth:`blocks`."""

    #: typical cell size (µm) used to choose the raster block size; 0 disables blocks
    cell_size: float = 0.0

    def cells(self, xy: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def blocks(self, bx0, bx1, by0, by1):
        """Per block (pixel-centre extents), ``(cell, certain)``; certain blocks lie in ``cell``."""
        return np.full(bx0.shape, -1, np.int64), np.zeros(bx0.shape, bool)

    def raster(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Cell of every pixel centre ``(xs[j], ys[i])``, as an int32 (len(ys), len(xs)) array.

        Blocks of 4^m pixels are labelled when :meth:`blocks` proves them inside one cell; the
        others are split in 4×4 sub-blocks, down to 4×4 pixels, whose undecided pixels go
        through :meth:`cells`.
        """
        rows, cols = len(ys), len(xs)
        if rows == 0 or cols == 0:
            return np.empty((rows, cols), dtype=np.int32)
        px = abs(xs[1] - xs[0]) if cols > 1 else abs(ys[1] - ys[0]) if rows > 1 else 0.0
        cell_px = self.cell_size / px if self.cell_size > 0 and px > 0 else 0.0
        if cell_px < 16 or rows * cols < 4096:
            return self._raster_pixels(xs, ys)
        size = 4
        while size * 4 <= min(cell_px / 2, 256):
            size *= 4
        lab = None
        prev = size
        while True:
            nby, nbx = -(-rows // size), -(-cols // size)
            if lab is None:
                new = np.full((nby, nbx), -2, np.int32)
                bi, bj = np.nonzero(np.ones((nby, nbx), bool))
            else:
                f = prev // size
                new = np.repeat(np.repeat(lab, f, axis=0)[:nby], f, axis=1)[:, :nbx]
                bi, bj = np.nonzero(new == -2)
            if bi.size:
                i0, j0 = bi * size, bj * size
                i1, j1 = np.minimum(i0 + size, rows) - 1, np.minimum(j0 + size, cols) - 1
                cell, certain = self.blocks(xs[j0], xs[j1], ys[i0], ys[i1])
                new[bi, bj] = np.where(certain, cell, -2)
            lab, prev = new, size
            if size == 4:
                break
            size //= 4
        img = np.repeat(np.repeat(lab, 4, axis=0)[:rows], 4, axis=1)[:, :cols]
        ui, uj = np.nonzero(img == -2)
        for s0 in range(0, ui.size, CHUNK):
            a, b = ui[s0: s0 + CHUNK], uj[s0: s0 + CHUNK]
            img[a, b] = self.cells(np.column_stack([xs[b], ys[a]]))
        return img

    def _raster_pixels(self, xs, ys):
        rows, cols = len(ys), len(xs)
        out = np.empty((rows, cols), dtype=np.int32)
        band = max(1, CHUNK // cols)
        for i0 in range(0, rows, band):
            i1 = min(rows, i0 + band)
            jj = np.tile(np.arange(cols), i1 - i0)
            ii = np.repeat(np.arange(i0, i1), cols)
            out[i0:i1] = self.cells(np.column_stack([xs[jj], ys[ii]])).reshape(i1 - i0, cols)
        return out


class VoronoiLocator(Locator):
    """Nearest centre by a KD-tree query on all cores (k-means, GWR and any centre-based mesh)."""

    def __init__(self, centres: np.ndarray):
        self.centres = np.asarray(centres, float)
        self.tree = cKDTree(self.centres) if len(self.centres) else None
        k = len(self.centres)
        if k > 1:
            lo, hi = self.centres.min(axis=0), self.centres.max(axis=0)
            self.cell_size = float(np.sqrt(max(np.prod(hi - lo), 1e-300) / k))
        self.scale = float(np.abs(self.centres).max()) if k else 1.0

    @classmethod
    def from_mesh(cls, mesh):
        return cls(mesh.centres)

    def cells(self, xy):
        xy = np.asarray(xy, float)
        if self.tree is None:
            return np.full(len(xy), -1, np.int64)
        finite = np.isfinite(xy).all(axis=1)
        if finite.all():
            _, idx = self.tree.query(xy, workers=workers_for(len(xy)))
            return idx.astype(np.int64)
        out = np.full(len(xy), -1, np.int64)
        if finite.any():
            out[finite] = self.tree.query(xy[finite], workers=get_threads())[1]
        return out

    def cells_binned(self, xy):
        """Same as :meth:`cells`, faster on many points: points are binned on a grid of
        ``cell_size/32`` (coarser if that leaves fewer than 8 points per bin); bins proved inside one Voronoi cell (see :meth:`blocks`) give their
        points that cell, and only the points of the other bins are queried."""
        xy = np.asarray(xy, float)
        n, k = len(xy), len(self.centres)
        if k < 2 or n < 50_000 or not self.cell_size > 0:
            return self.cells(xy)
        x, y = xy[:, 0], xy[:, 1]
        finite = np.isfinite(x) & np.isfinite(y)
        if not finite.all():
            out = np.full(n, -1, np.int64)
            out[finite] = self.cells_binned(xy[finite])
            return out
        x0, y0 = float(x.min()), float(y.min())
        area = max((float(x.max()) - x0) * (float(y.max()) - y0), 1e-300)
        s = max(self.cell_size / 32, np.sqrt(area / (n / 8)))  # ~8 points per bin at least
        if s > self.cell_size / 6:  # most bins would straddle a cell boundary
            return self.cells(xy)
        nx = int((float(x.max()) - x0) / s) + 1
        ny = int((float(y.max()) - y0) / s) + 1
        if nx * ny > 4 * n:
            return self.cells(xy)
        ix = np.minimum(((x - x0) / s).astype(np.int64), nx - 1)
        iy = np.minimum(((y - y0) / s).astype(np.int64), ny - 1)
        code = ix * ny + iy
        occupied = np.flatnonzero(np.bincount(code, minlength=nx * ny))
        bi, bj = occupied // ny, occupied % ny
        # bin extents padded by a relative margin: a point rounded onto a bin edge stays inside
        pad = 1e-9 * (1.0 + self.scale)
        cell, certain = self.blocks(x0 + bi * s - pad, x0 + (bi + 1) * s + pad,
                                    y0 + bj * s - pad, y0 + (bj + 1) * s + pad)
        lab = np.full(nx * ny, -2, np.int64)
        lab[occupied] = np.where(certain, cell, -2)
        out = lab[code]
        todo = np.flatnonzero(out == -2)
        if todo.size:
            out[todo] = self.cells(xy[todo])
        return out

    def blocks(self, bx0, bx1, by0, by1):
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        h = 0.5 * np.hypot(bx1 - bx0, by1 - by0)
        k = len(self.centres)
        if k == 1:
            return np.zeros(cx.shape, np.int64), np.ones(cx.shape, bool)
        d, idx = self.tree.query(np.column_stack([cx, cy]), k=2, workers=workers_for(len(cx)))
        eps = 1e-9 * (1.0 + self.scale + np.abs(cx) + np.abs(cy))
        return idx[:, 0].astype(np.int64), (d[:, 1] - d[:, 0]) > 2 * h + eps


def locator_for(mesh) -> Locator:
    """The locator of a mesh: the one its registry entry names (``locator`` in the entry's ``extra``,
    a class of the entry's module with a ``from_mesh`` constructor), else nearest centre.

    The entry's module is imported by name, so this module depends on no mesh method.
    """
    from .registry import MESHES, method_attribute

    entry = MESHES.get(mesh.method)
    if entry is not None and entry.extra.get("locator"):
        return method_attribute(entry, entry.extra["locator"]).from_mesh(mesh)
    return VoronoiLocator.from_mesh(mesh)
