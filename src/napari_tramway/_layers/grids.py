"""Where map rasters lie: the wide-field image's pixel grid, raster grids aligned on it, and the
cell-id raster of a mesh (rasterised once per mesh and grid, cached).

Coordinates are µm. A wide-field image whose pixel (i, j) covers ``x ∈ [x0 + j·p, x0 + (j+1)·p)``,
``y ∈ [y0 + i·p, ...)`` is shown with ``scale = (p, p)`` and ``translate = (y0 + p/2, x0 + p/2)``
(napari puts pixel centres on integer data coordinates). Map rasters use the image's grid, refined
by an integer factor when cells are smaller than pixels, so that they overlay it exactly.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

#: Largest map raster (pixels per time window) before the raster gets coarser than the cells.
MAX_RASTER_PIXELS = 4_000_000
#: Raster pixels per cell side: at least PIXELS_PER_CELL (every cell visible), and up to
#: SMOOTH_PIXELS_PER_CELL (smooth outlines) while the raster stays under SMOOTH_RASTER_PIXELS
#: (500×500: each map is a texture napari uploads and draws, in software on many machines).
PIXELS_PER_CELL = 2.0
SMOOTH_PIXELS_PER_CELL = 16.0
SMOOTH_RASTER_PIXELS = 250_000


@dataclass(frozen=True)
class ImageGrid:
    """The pixel grid of a wide-field image, in µm.

    Attributes
    ----------
    origin : (x0, y0)
        Corner of pixel (0, 0) (µm): pixel (i, j) covers ``x ∈ [x0 + j·p, x0 + (j+1)·p)`` and
        ``y ∈ [y0 + i·p, y0 + (i+1)·p)``.
    pixel_size : float or None
        p (µm). None: no image, the map rasters take a pixel size from the mesh's cells.
    shape : (rows, cols) or None
        The image's shape, when known (informative; rasters cover the meshes, not the image).
    """

    origin: tuple[float, float] = (0.0, 0.0)
    pixel_size: float | None = None
    shape: tuple[int, int] | None = None

    @classmethod
    def from_layer(cls, layer) -> ImageGrid:
        """The grid of a napari Image layer (its last two axes; square pixels assumed)."""
        scale = np.asarray(layer.scale, float)[-2:]
        translate = np.asarray(layer.translate, float)[-2:]
        p = float(scale[-1])
        full = tuple(layer.level_shapes[0]) if getattr(layer, "multiscale", False) else tuple(layer.data.shape)
        shape = tuple(int(s) for s in (full[-3:-1] if getattr(layer, "rgb", False) else full[-2:]))
        y0 = float(translate[0] - scale[0] / 2)
        x0 = float(translate[1] - scale[1] / 2)
        return cls(origin=(x0, y0), pixel_size=p, shape=shape)

    def layer_transform(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(scale, translate)`` of an image layer on this grid (napari's (y, x) order)."""
        return image_transform(self.origin, float(self.pixel_size or 1.0))

    def extent(self) -> tuple[float, float, float, float] | None:
        """``(xmin, xmax, ymin, ymax)`` µm covered by the image (None without pixel size and shape)."""
        if not self.pixel_size or self.shape is None:
            return None
        x0, y0 = self.origin
        return (x0, x0 + self.shape[1] * self.pixel_size, y0, y0 + self.shape[0] * self.pixel_size)


def image_transform(origin, pixel_size: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(scale, translate)`` (y, x order) of an image whose pixel (0, 0) has its corner at ``origin`` (x, y)."""
    p = float(pixel_size)
    return (p, p), (float(origin[1]) + p / 2, float(origin[0]) + p / 2)


@dataclass(frozen=True)
class RasterGrid:
    """Where a map raster lies: corner ``origin`` (x, y) µm, square pixels of ``pixel_size`` µm."""

    origin: tuple[float, float]
    pixel_size: float
    shape: tuple[int, int]

    def transform(self):
        return image_transform(self.origin, self.pixel_size)

    def extent(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` µm covered by the raster (matplotlib's ``imshow`` extent)."""
        x0, y0 = self.origin
        return (x0, x0 + self.shape[1] * self.pixel_size, y0, y0 + self.shape[0] * self.pixel_size)

    def pixel_of(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the pixels containing points (x, y) µm (may fall outside)."""
        p = self.pixel_size
        cols = np.floor((np.asarray(x, float) - self.origin[0]) / p).astype(np.int64)
        rows = np.floor((np.asarray(y, float) - self.origin[1]) / p).astype(np.int64)
        return rows, cols

    def covers(self, other: RasterGrid) -> bool:
        """Whether this raster covers ``other`` at least as finely."""
        if self.pixel_size > other.pixel_size * (1 + 1e-9):
            return False
        ax0, ax1, ay0, ay1 = self.extent()
        bx0, bx1, by0, by1 = other.extent()
        eps = 1e-9 * max(1.0, self.pixel_size)
        return ax0 <= bx0 + eps and ay0 <= by0 + eps and ax1 >= bx1 - eps and ay1 >= by1 - eps


def typical_cell_size(mesh) -> float:
    """Side (µm) of a square with the median cell area."""
    areas = np.asarray(mesh.areas, float)
    areas = areas[np.isfinite(areas) & (areas > 0)]
    if areas.size == 0:
        b = np.asarray(mesh.bounds, float)
        return max(float(b[2] - b[0]), float(b[3] - b[1]), 1e-3) / max(1, math.sqrt(max(mesh.n_cells, 1)))
    return float(math.sqrt(np.median(areas)))


def raster_grid(bounds, image_grid: ImageGrid | None, cell_size: float,
                max_pixels: int = MAX_RASTER_PIXELS) -> RasterGrid:
    """The raster covering ``bounds`` (xmin, ymin, xmax, ymax µm), aligned on ``image_grid``.

    The raster's pixel is the image pixel divided by an integer factor ≥ 1, and its corners fall
    on image pixel corners, so that it overlays the image exactly. The factor gives each cell
    about :data:`SMOOTH_PIXELS_PER_CELL` pixels across (smooth cell outlines) while the raster
    stays under :data:`SMOOTH_RASTER_PIXELS`, and at least :data:`PIXELS_PER_CELL` (every cell
    visible) under ``max_pixels``. Without an image grid, the grid is anchored at (0, 0).
    """
    x0b, y0b, x1b, y1b = (float(v) for v in bounds)
    w, h = max(x1b - x0b, 1e-9), max(y1b - y0b, 1e-9)
    cell_size = max(float(cell_size), 1e-12)
    if image_grid is None or not image_grid.pixel_size:
        p_img = _nice(cell_size)
        origin = (0.0, 0.0)
    else:
        p_img = float(image_grid.pixel_size)
        origin = (float(image_grid.origin[0]), float(image_grid.origin[1]))

    def pixels(k):
        return (w * h) / (p_img / k) ** 2

    k_min = max(1, int(math.ceil(p_img * PIXELS_PER_CELL / cell_size - 1e-9)))
    k_smooth = max(1, int(math.ceil(p_img * SMOOTH_PIXELS_PER_CELL / cell_size - 1e-9)))
    k = k_smooth
    while k > k_min and pixels(k) > SMOOTH_RASTER_PIXELS:
        k -= 1
    while k > 1 and pixels(k) > max_pixels:
        k -= 1
    q = p_img / k
    while (w * h) / q ** 2 > max_pixels:
        q *= 2.0
    j0 = math.floor((x0b - origin[0]) / q + 1e-9)
    i0 = math.floor((y0b - origin[1]) / q + 1e-9)
    j1 = math.ceil((x1b - origin[0]) / q - 1e-9)
    i1 = math.ceil((y1b - origin[1]) / q - 1e-9)
    shape = (max(1, i1 - i0), max(1, j1 - j0))
    return RasterGrid(origin=(origin[0] + j0 * q, origin[1] + i0 * q), pixel_size=q, shape=shape)


def raster_for(meshes, image_grid: ImageGrid | None) -> RasterGrid:
    """The raster covering ``meshes`` (aligned on ``image_grid``, fine enough for the smallest cells)."""
    meshes = list(meshes)
    b = np.array([np.asarray(m.bounds, float) for m in meshes])
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    return raster_grid(bounds, image_grid, min(typical_cell_size(m) for m in meshes))


def _nice(x: float) -> float:
    """1, 2 or 5 × 10^k just below ``x``."""
    if not x > 0 or not math.isfinite(x):
        return 0.1
    e = math.floor(math.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10**e <= x:
            return m * 10**e
    return 10**e


# -- the cell-id raster of a mesh, cached ----------------------------------------------------------

_RASTER_CACHE: OrderedDict = OrderedDict()
_RASTER_LOCK = threading.Lock()
_RASTER_CACHE_SIZE = 16


def mesh_digest(mesh) -> str:
    """A content hash of a mesh's geometry (centres, bounds, areas), to share rasters."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(np.asarray(mesh.centres, np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(mesh.bounds, np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(mesh.areas, np.float64)).tobytes())
    return h.hexdigest()


def cell_raster(mesh, grid: RasterGrid, region=None) -> np.ndarray:
    """int32 (rows, cols) cell ids of ``mesh`` on ``grid`` (−1 outside), cached per mesh and grid."""
    from ..core.meshes import rasterize

    key = (mesh_digest(mesh), grid, None if region is None else _region_key(region))
    with _RASTER_LOCK:
        hit = _RASTER_CACHE.get(key)
        if hit is not None:
            _RASTER_CACHE.move_to_end(key)
            return hit
    ids = np.asarray(rasterize(mesh, origin=grid.origin, pixel_size=grid.pixel_size, shape=grid.shape,
                               region=region), dtype=np.int32)
    ids.setflags(write=False)
    with _RASTER_LOCK:
        _RASTER_CACHE[key] = ids
        while len(_RASTER_CACHE) > _RASTER_CACHE_SIZE:
            _RASTER_CACHE.popitem(last=False)
    return ids


def _region_key(region):
    try:
        return (getattr(region, "label", None), np.asarray(region.polygon(), float).round(9).tobytes())
    except Exception:
        return id(region)
