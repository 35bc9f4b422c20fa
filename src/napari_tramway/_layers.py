"""napari layer data from napari-tramway objects: pure functions, no Qt, no viewer.

Everything here returns napari *layer-data tuples* ``(data, kwargs, layer_type)``, usable by
readers (``return [tuple, ...]``), by widgets (``viewer._add_layer_from_data(*t)`` or
``viewer.add_<type>(data, **kwargs)``) and by scripts.

Coordinates: napari's world coordinates are µm (and s on a leading time axis). A wide-field image
whose pixel (i, j) covers ``x ∈ [x0 + j·p, x0 + (j+1)·p)``, ``y ∈ [y0 + i·p, ...)`` is shown with
``scale = (p, p)`` and ``translate = (y0 + p/2, x0 + p/2)`` (napari puts pixel centres on integer
data coordinates); trajectories, ROIs and vectors are in µm with scale 1; map rasters use the
image's grid, refined by an integer factor when cells are smaller than pixels, so they stay aligned.

How maps are drawn (``layers_from_maps``):

* each scalar map (diffusivity — log10 by default —, potential, translocation count, each
  uncertainty column) is an **Image** from a cell-id raster (rasterised once per mesh, then
  ``values[cell_id]``; NaN outside cells is transparent), colour bar on;
* the cells are a **Labels** layer (``cell id + 1``; contour mode) whose ``features`` hold every
  column of the cell under the mouse;
* force and drift are **Vectors** at cell centres, coloured by magnitude;
* time windows are stacked on a leading axis (``scale`` = window shift in s), so napari's slider
  moves through time together with the trajectories' time axis;
* each layer's ``metadata['napari_tramway']`` holds the unit label(s), the spec, the software
  version, the environment and the maps tables.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._version import __version__

LayerData = tuple  # (data, kwargs, layer_type)

#: Largest map raster (pixels per time window) before the raster gets coarser than the cells.
MAX_RASTER_PIXELS = 4_000_000
#: Raster pixels per cell side: at least PIXELS_PER_CELL (every cell visible), and up to
#: SMOOTH_PIXELS_PER_CELL (smooth outlines) while the raster stays under SMOOTH_RASTER_PIXELS.
PIXELS_PER_CELL = 2.0
SMOOTH_PIXELS_PER_CELL = 16.0
SMOOTH_RASTER_PIXELS = 1_000_000
#: Above this many cells (per time window), force and drift arrows are averaged over blocks of
#: cells (arrows smaller than a screen pixel help nobody, and 100k arrows redraw slowly); each
#: cell's own vector stays in the cells' features.
MAX_ARROWS = 20_000

METADATA_KEY = "napari_tramway"

DIVERGING = "ntw-diverging"

#: Scalar columns drawn as images: column -> (display name, colormap, visible by default)
SCALAR_STYLE = {
    "diffusivity": ("D", "viridis", True),
    "potential": ("V", DIVERGING, False),
    "n": ("translocations", "gray", False),
}
VECTOR_FEATURES = {"force": ("force x", "force y"), "drift": ("drift x", "drift y")}
VECTOR_STYLE = {"force": ("F", "magma"), "drift": ("drift", "inferno")}


# -- grids --------------------------------------------------------------------------------------

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

    def pixel_of(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the pixels containing points (x, y) µm (may fall outside)."""
        p = self.pixel_size
        cols = np.floor((np.asarray(x, float) - self.origin[0]) / p).astype(np.int64)
        rows = np.floor((np.asarray(y, float) - self.origin[1]) / p).astype(np.int64)
        return rows, cols


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


def _nice(x: float) -> float:
    """1, 2 or 5 × 10^k just below ``x``."""
    if not x > 0 or not math.isfinite(x):
        return 0.1
    e = math.floor(math.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10**e <= x:
            return m * 10**e
    return 10**e


# -- rasterisation cache ----------------------------------------------------------------------

_RASTER_CACHE: OrderedDict = OrderedDict()
_RASTER_LOCK = threading.Lock()
_RASTER_CACHE_SIZE = 16


def mesh_digest(mesh) -> str:
    """A content hash of a mesh's geometry (centres, bounds, polygons), to share rasters."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(np.asarray(mesh.centres, np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(mesh.bounds, np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(mesh.areas, np.float64)).tobytes())
    return h.hexdigest()


def cell_raster(mesh, grid: RasterGrid, region=None) -> np.ndarray:
    """int32 (rows, cols) cell ids of ``mesh`` on ``grid`` (−1 outside), cached per mesh and grid."""
    from .core.meshes import rasterize

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


def region_of_unit(meta: dict | None):
    """The support region (ROIs) of a unit, rebuilt from its result metadata; None when unknown."""
    if not meta or "spec" not in meta or "unit" not in meta:
        return None
    try:
        from .pipeline.data import region_by_label, support_regions
        from .pipeline.spec import AnalysisSpec

        spec = AnalysisSpec.from_dict(meta["spec"])
        idx = int(meta["unit"]["file_index"])
        if not spec.rois_for(idx):
            return None  # the whole field of view: nothing to clip
        return region_by_label(support_regions(spec, idx), meta["unit"]["region_label"])
    except Exception:
        return None


# -- maps -> layers ---------------------------------------------------------------------------

def _limits(values: np.ndarray, lo_q=1.0, hi_q=99.0) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(x) for x in np.percentile(v, [lo_q, hi_q]))
    if not hi > lo:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    return (lo, hi)


def _centred_limits(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (-1.0, 1.0)
    lo, hi = (float(x) for x in np.percentile(v, [2, 98]))
    centre = 0.0 if lo < 0 < hi else float(np.median(v))
    half = max(hi - centre, centre - lo, 1e-6)
    return (centre - half, centre + half)


def diverging_colormap():
    """A blue–white–red colormap for the potential (low = blue wells, high = red barriers)."""
    from napari.utils.colormaps import Colormap

    colors = np.array([
        [0.019, 0.188, 0.380, 1], [0.129, 0.400, 0.674, 1], [0.262, 0.576, 0.764, 1],
        [0.572, 0.772, 0.870, 1], [0.819, 0.898, 0.941, 1], [0.969, 0.969, 0.969, 1],
        [0.992, 0.858, 0.780, 1], [0.956, 0.647, 0.509, 1], [0.839, 0.376, 0.301, 1],
        [0.698, 0.094, 0.168, 1], [0.403, 0.0, 0.121, 1],
    ])
    return Colormap(colors=colors, name=DIVERGING, display_name="blue-white-red (diverging)")


def _colormap(name):
    if name == DIVERGING:
        return diverging_colormap()
    return name


def _column_label(column: str, log: bool) -> str:
    from .core.maps import column_unit

    base = column
    for key, (short, _, _) in SCALAR_STYLE.items():
        if column == key:
            base = short
        elif column.startswith(key + " "):
            base = short + column[len(key):]
    unit = column_unit(column)
    if log:
        return f"log10 {base} ({unit})" if unit else f"log10 {base}"
    return f"{base} ({unit})" if unit else base


def _meta_label(meta: dict | None, default: str) -> str:
    u = (meta or {}).get("unit")
    return u.get("label", default) if isinstance(u, dict) else default


def layers_from_maps(
    maps,
    image_grid: ImageGrid | None = None,
    *,
    unit: str | None = None,
    meta: dict | Sequence[dict | None] | None = None,
    segments: Sequence[tuple[float, float]] | None = None,
    region=None,
    log_diffusivity: bool = True,
    store: str | None = None,
    uncertainty: bool = True,
    counts: bool = False,
    raster: RasterGrid | None = None,
) -> list[LayerData]:
    """Layer-data tuples showing ``maps`` over an image.

    Parameters
    ----------
    maps : Maps or sequence of (Maps or None)
        One unit's maps, or the maps of consecutive time windows of one region (``None`` for a
        window not computed yet: its slices are NaN / empty).
    image_grid : ImageGrid, optional
        The wide-field image's pixel grid; map rasters are aligned on it.
    unit : str, optional
        The name used in layer names, ``"<what> · <unit>"`` (default: the unit label, or for
        time windows the region's ``<file>/<region>``), so a widget can update layers in place.
    meta : dict or sequence of dict, optional
        The unit result metadata (spec, software, environment, timings), copied to each layer's
        ``metadata['napari_tramway']``.
    segments : sequence of (t0, t1), optional
        Time windows (s) of the maps in ``maps``; the leading axis gets scale = the windows'
        shift and translate = the first window's centre.
    region : support region, optional
        Pixels outside it are left empty; by default rebuilt from ``meta``.
    log_diffusivity : bool
        Show log10 D (default) rather than D.
    uncertainty : bool
        Add a (hidden) layer per uncertainty column (``... sd``).
    counts : bool
        Add a (hidden) image of the translocation count per cell (always in the cells' features).
    raster : RasterGrid, optional
        Force the raster grid (default: :func:`raster_grid` over the meshes).

    Returns
    -------
    list of ``(data, kwargs, layer_type)``: an Image per scalar map, Vectors of force and drift,
    and a Labels layer of the cells with a features table.
    """
    from .core.maps import Maps

    stacked = not isinstance(maps, Maps)
    maps_list = list(maps) if stacked else [maps]
    metas = [meta] * len(maps_list) if (isinstance(meta, dict) or meta is None) else list(meta)
    windows = []
    for m, md in zip(maps_list, metas):
        if m is None:
            windows.append([])
            continue
        reg = region if region is not None else region_of_unit(md)
        windows.append([(_meta_label(md, unit or "maps"), m, md, reg)])
    if unit is None:
        first = next((md for md in metas if md), None) or {}
        u = first.get("unit", {}) if isinstance(first.get("unit"), dict) else {}
        unit = u.get("label", "maps") if not stacked else (
            f"{u.get('file_label', 'maps')}/{u.get('region_label', '')}".rstrip("/"))
    return compose_layers(windows, image_grid, name=unit, segments=segments if stacked else None,
                          stacked=stacked, log_diffusivity=log_diffusivity, store=store, uncertainty=uncertainty,
                          counts=counts, raster=raster)


def compose_layers(
    windows: Sequence[Sequence[tuple]],
    image_grid: ImageGrid | None = None,
    *,
    name: str,
    segments: Sequence[tuple[float, float]] | None = None,
    stacked: bool | None = None,
    log_diffusivity: bool = True,
    store: str | None = None,
    uncertainty: bool = True,
    counts: bool = False,
    raster: RasterGrid | None = None,
) -> list[LayerData]:
    """Layer data of several units drawn together: ``windows[k]`` lists the
    ``(unit label, maps, meta, region)`` of time window k (one window without time windows).

    The units of a window are drawn on one raster (e.g. every ROI of a file in the same layers);
    windows are stacked on a leading axis. Labels are numbered across units and windows; the
    Labels ``features`` hold each cell's unit, window, cell id and every maps column.
    """
    windows = [list(w) for w in windows]
    entries = [e for w in windows for e in w]
    if not entries:
        return []
    if stacked is None:
        stacked = segments is not None or len(windows) > 1
    if raster is None:
        raster = raster_for(entries, image_grid)
    ids = {id(e): cell_raster(e[1].mesh, raster, e[3]) for e in entries}
    scale2, translate2 = raster.transform()
    if stacked:
        t_scale, t_translate = _time_transform(segments, len(windows))
        scale, translate = (t_scale, *scale2), (t_translate, *translate2)
    else:
        scale, translate = scale2, translate2
    first_meta = next((e[2] for e in entries if e[2]), None) or {}
    first = entries[0][1]
    tables = {e[0]: e[1].table for e in entries}
    base_md = {
        "kind": "map", "unit": name, "units": list(tables),
        "software": first_meta.get("software", f"napari-tramway {__version__}"),
        "spec": first_meta.get("spec"), "environment": first_meta.get("environment"),
        "model": first.model, "parameters": first.parameters, "status": {e[0]: e[1].status for e in entries},
        "segments": None if segments is None else [list(map(float, s)) for s in segments],
        "store": store, "tables": tables,
        "timings": {e[0]: (e[2] or {}).get("timings") for e in entries},
        "raster": {"origin": list(raster.origin), "pixel_size": raster.pixel_size, "shape": list(raster.shape)},
    }

    def md_for(**extra):
        d = dict(base_md)
        d.update(extra)
        return {METADATA_KEY: d}

    columns: list[str] = []
    for e in entries:
        columns += [c for c in e[1].table.columns if c not in columns]

    def scalar(column, transform=None):
        planes = []
        for w in windows:
            plane = np.full(raster.shape, np.nan, np.float32)
            for e in w:
                if column not in e[1].table.columns:
                    continue
                v = e[1].table[column].to_numpy(dtype=np.float64)
                if transform == "log10":
                    with np.errstate(divide="ignore", invalid="ignore"):
                        v = np.where(v > 0, np.log10(v), np.nan)
                lut = np.empty(v.shape[0] + 1, np.float32)
                lut[:-1] = v
                lut[-1] = np.nan  # ids == -1 pick this
                values = lut[ids[id(e)]]
                inside = ids[id(e)] >= 0
                plane[inside] = values[inside]
            planes.append(plane)
        return np.stack(planes) if stacked else planes[0]

    out: list[LayerData] = []
    order = [c for c in ("diffusivity", "potential") if c in columns]
    order += ["n"] if counts and "n" in columns else []
    if uncertainty:
        order += [c for c in columns if c.endswith(" sd") and not c.startswith(("force", "drift"))]
    for column in order:
        log = column == "diffusivity" and log_diffusivity
        data = scalar(column, "log10" if log else None)
        _, cmap, visible = SCALAR_STYLE.get(column, (column, "magma", False))
        if column.endswith(" sd"):
            cmap, visible = "magma", False
        limits = _centred_limits(data) if column == "potential" else _limits(data)
        if column == "n":
            limits = (0.0, max(1.0, _limits(data)[1]))
        out.append((data, {
            "name": f"{_column_label(column, log)} · {name}", "colormap": _colormap(cmap), "contrast_limits": limits,
            "scale": scale, "translate": translate, "opacity": 0.85 if column != "n" else 0.7,
            "blending": "translucent", "visible": visible, "interpolation2d": "nearest",
            "metadata": md_for(kind="map", column=column, transform="log10" if log else None,
                               value_unit=_value_unit(column, log), display={"colorbar": True}),
        }, "image"))

    cs = min(typical_cell_size(e[1].mesh) for e in entries)
    for feature, (cx, cy) in VECTOR_FEATURES.items():
        if cx not in columns or cy not in columns:
            continue
        vec = _vectors(windows, cx, cy, stacked, ids=ids, raster=raster)
        if vec is None:
            continue
        data, mags, blocked = vec
        arrow_size = cs if not blocked else max(cs, math.sqrt(
            sum(float(np.sum(np.asarray(e[1].mesh.areas, float))) for e in windows[0]) / MAX_ARROWS))
        ref = float(np.percentile(mags, 95)) if mags.size else 1.0
        length = 0.9 * arrow_size / ref if ref > 0 else 1.0
        # arrows longer than the 95th percentile are drawn at that length (the colour and the
        # features keep the true magnitude): a few large boundary values would hide the rest
        over = mags > ref
        if ref > 0 and over.any():
            data = data.copy()
            data[over, 1] *= (ref / mags[over])[:, None]
        short, cmap = VECTOR_STYLE[feature]
        from .core.maps import column_unit

        out.append((data, {
            "name": f"{short} ({column_unit(cx)}) · {name}", "features": {"magnitude": mags},
            "edge_color": "magnitude", "edge_colormap": cmap,
            "edge_contrast_limits": _limits(mags, 0, 99) if mags.size else None,
            "edge_width": max(arrow_size * 0.1, 1e-3), "length": float(length), "opacity": 0.9,
            "scale": (scale[0], 1.0, 1.0) if stacked else (1.0, 1.0),
            "translate": (translate[0], 0.0, 0.0) if stacked else (0.0, 0.0),
            "vector_style": "arrow", "visible": feature == "force" or "force x" not in columns,
            "metadata": md_for(kind="vectors", column=feature, length=float(length), value_unit=column_unit(cx),
                               block_averaged=blocked),
        }, "vectors"))

    labels, features = _cells(windows, ids, raster.shape, stacked, segments)
    cells_layer = (labels, {
        "name": f"cells · {name}", "features": features, "scale": scale, "translate": translate,
        "opacity": 0.35, "blending": "translucent", "visible": True,
        "colormap": {0: "transparent", None: "white"},
        "metadata": md_for(kind="cells", display={"contour": 1}),
    }, "labels")
    # visible layers first (a widget adding them in this order shows the maps sooner), then the
    # hidden ones; the cells' outlines last among the visible, on top of the maps
    visible = [t for t in out if t[1].get("visible", True)]
    hidden = [t for t in out if not t[1].get("visible", True)]
    return visible + [cells_layer] + hidden


def raster_for(entries, image_grid: ImageGrid | None) -> RasterGrid:
    """The raster covering the meshes of ``(label, maps, meta, region)`` entries."""
    b = np.array([np.asarray(e[1].mesh.bounds, float) for e in entries])
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    return raster_grid(bounds, image_grid, min(typical_cell_size(e[1].mesh) for e in entries))


def _value_unit(column, log):
    from .core.maps import column_unit

    u = column_unit(column)
    return f"log10({u})" if log and u else u


def _time_transform(segments, count) -> tuple[float, float]:
    if segments is None or len(segments) == 0:
        return 1.0, 0.0
    seg = np.asarray(segments, float)
    centres = seg.mean(axis=1)
    if len(seg) > 1:
        shifts = np.diff(seg[:, 0])
        shift = float(np.median(shifts)) if np.all(shifts > 0) else 1.0
    else:
        shift = float(seg[0, 1] - seg[0, 0]) or 1.0
    return shift, float(centres[0])


def _visible_centres(maps, ids, raster: RasterGrid) -> np.ndarray | None:
    """(K, 2) mean x, y of each cell's pixels on the raster (NaN for cells without a pixel)."""
    if ids is None:
        return None
    flat = ids.ravel()
    inside = flat >= 0
    if not inside.any():
        return None
    rows, cols = np.divmod(np.flatnonzero(inside), ids.shape[1])
    cid = flat[inside]
    k = maps.mesh.n_cells
    cnt = np.bincount(cid, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = raster.origin[0] + (np.bincount(cid, weights=cols, minlength=k) / cnt + 0.5) * raster.pixel_size
        y = raster.origin[1] + (np.bincount(cid, weights=rows, minlength=k) / cnt + 0.5) * raster.pixel_size
    return np.column_stack([x, y])


def _vectors(windows, cx, cy, stacked, max_arrows: int = MAX_ARROWS, ids=None, raster=None):
    """Vectors data (N, 2, D) and magnitudes at cell centres; averaged over blocks of cells when a
    window has more than ``max_arrows`` cells with a vector."""
    pos, vec, mags = [], [], []
    blocked = False
    for k, w in enumerate(windows):
        xs, ys, vxs, vys = [], [], [], []
        for e in w:
            t = e[1].table
            if cx not in t.columns:
                continue
            centres = np.asarray(e[1].mesh.centres, float)
            x = t["x"].to_numpy(float) if "x" in t.columns else centres[:, 0]
            y = t["y"].to_numpy(float) if "y" in t.columns else centres[:, 1]
            # arrows at the centre of what is shown of each cell (a cell clipped by its ROI may
            # have its centre outside the ROI)
            shown = _visible_centres(e[1], None if ids is None else ids.get(id(e)), raster)
            if shown is not None:
                good = np.isfinite(shown[:, 0])
                x = np.where(good, shown[:, 0], x)
                y = np.where(good, shown[:, 1], y)
            vx, vy = t[cx].to_numpy(float), t[cy].to_numpy(float)
            ok = np.isfinite(vx) & np.isfinite(vy) & np.isfinite(x) & np.isfinite(y)
            xs.append(x[ok])
            ys.append(y[ok])
            vxs.append(vx[ok])
            vys.append(vy[ok])
        if not xs:
            continue
        x, y, vx, vy = (np.concatenate(a) for a in (xs, ys, vxs, vys))
        if len(x) > max_arrows:
            x, y, vx, vy = _block_average(x, y, vx, vy, max_arrows)
            blocked = True
        n = len(x)
        if not n:
            continue
        if stacked:
            pos.append(np.column_stack([np.full(n, float(k)), y, x]))
            vec.append(np.column_stack([np.zeros(n), vy, vx]))
        else:
            pos.append(np.column_stack([y, x]))
            vec.append(np.column_stack([vy, vx]))
        mags.append(np.hypot(vx, vy))
    if not pos:
        return None
    return np.stack([np.concatenate(pos), np.concatenate(vec)], axis=1), np.concatenate(mags), blocked


def _block_average(x, y, vx, vy, target: int):
    """Mean position and vector of the points in square blocks sized for about ``target`` blocks."""
    x0, y0 = x.min(), y.min()
    area = max((x.max() - x0) * (y.max() - y0), 1e-12)
    side = math.sqrt(area / target) * 1.0001
    while True:
        i = np.floor((x - x0) / side).astype(np.int64)
        j = np.floor((y - y0) / side).astype(np.int64)
        key = i * (int(j.max()) + 1) + j
        uniq, inv = np.unique(key, return_inverse=True)
        if len(uniq) <= target:
            break
        side *= 1.2
    cnt = np.bincount(inv).astype(float)

    def mean(v):
        return np.bincount(inv, weights=v) / cnt

    return mean(x), mean(y), mean(vx), mean(vy)


def _cells(windows, ids, shape, stacked, segments):
    planes, feats = [], []
    offset = 0
    for k, w in enumerate(windows):
        plane = np.zeros(shape, np.int32)
        for e in w:
            label, m = e[0], e[1]
            cid = ids[id(e)]
            inside = cid >= 0
            plane[inside] = cid[inside] + offset + 1
            t = m.table
            f = pd.DataFrame({"index": np.arange(offset + 1, offset + 1 + len(t), dtype=np.int64), "unit": label,
                              "cell": t.index.to_numpy()})
            if stacked:
                f["window"] = k
                if segments is not None and k < len(segments) and segments[k] is not None:
                    f["t0 (s)"] = float(segments[k][0])
                    f["t1 (s)"] = float(segments[k][1])
            for c in t.columns:
                f[c] = t[c].to_numpy()
            f["area (µm²)"] = np.asarray(m.mesh.areas, float)[t.index.to_numpy()]
            feats.append(f)
            offset += len(t)
        planes.append(plane)
    data = np.stack(planes) if stacked else planes[0]
    features = pd.concat(feats, ignore_index=True) if feats else pd.DataFrame({"index": np.zeros(0, np.int64)})
    return data, features


def layers_from_mesh(mesh, image_grid: ImageGrid | None = None, *, name: str = "mesh preview",
                     region=None, metadata: dict | None = None) -> list[LayerData]:
    """A Labels layer (contour mode) of a mesh's cells, for previewing a mesh before a run."""
    return layers_from_meshes([mesh], [region], image_grid, name=name, metadata=metadata)


def layers_from_meshes(meshes, regions=None, image_grid: ImageGrid | None = None, *, name: str = "mesh preview",
                       metadata: dict | None = None) -> list[LayerData]:
    """One Labels layer (contour mode) of the cells of several meshes (one per support region).

    Labels are numbered across meshes (mesh k's cell c is ``offset_k + c + 1``); ``features``
    give each label's region, cell id, centre and area.
    """
    meshes = list(meshes)
    if not meshes:
        return []
    regions = list(regions) if regions is not None else [None] * len(meshes)
    b = np.array([np.asarray(m.bounds, float) for m in meshes])
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    raster = raster_grid(bounds, image_grid, min(typical_cell_size(m) for m in meshes))
    lab = np.zeros(raster.shape, np.int32)
    feats = []
    offset = 0
    for mesh, region in zip(meshes, regions):
        ids = cell_raster(mesh, raster, region)
        inside = ids >= 0
        lab[inside] = ids[inside] + offset + 1
        centres = np.asarray(mesh.centres, float)
        feats.append(pd.DataFrame({
            "index": np.arange(offset + 1, offset + 1 + mesh.n_cells), "region": getattr(region, "label", ""),
            "cell": np.arange(mesh.n_cells), "x": centres[:, 0], "y": centres[:, 1],
            "area (µm²)": np.asarray(mesh.areas, float)}))
        offset += mesh.n_cells
    scale, translate = raster.transform()
    md = {"kind": "mesh", "method": meshes[0].method, "parameters": meshes[0].parameters,
          "n_cells": [m.n_cells for m in meshes], "display": {"contour": 1}, **(metadata or {})}
    return [(lab, {"name": name, "features": pd.concat(feats, ignore_index=True), "scale": scale,
                   "translate": translate, "opacity": 0.9, "colormap": {0: "transparent", None: "yellow"},
                   "metadata": {METADATA_KEY: md}}, "labels")]


# -- trajectories -------------------------------------------------------------------------------

def tracks_from_locations(locations: pd.DataFrame, *, name: str | None = None, path: str | None = None,
                          reader: dict | None = None) -> LayerData:
    """A Tracks layer of a locations table (n, x, y, t in µm, s).

    ``data = [track_id, frame, y, x]`` with ``frame = round(t / frame interval)`` and
    ``scale = (frame interval, 1, 1)``: space in µm (scale 1, aligned with images scaled by their
    pixel size), time in s on napari's slider. ``metadata`` holds ``source``, ``path``,
    ``reader`` (options to read the file again), ``frame_interval`` (s),
    ``localization_precision`` (µm), ``pixel_size`` and the ``locations`` table.
    """
    from .core.trajectories import frame_interval as _dt

    attrs = dict(locations.attrs)
    try:
        dt = float(_dt(locations))
    except ValueError:
        dt = 1.0
    n = locations["n"].to_numpy()
    t = locations["t"].to_numpy(float)
    frames = np.rint(t / dt)
    data = np.column_stack([n.astype(float), frames, locations["y"].to_numpy(float), locations["x"].to_numpy(float)])
    # napari needs strictly increasing times within a track: drop exact duplicates (rare rounding)
    if len(data) > 1:
        dup = (data[1:, 0] == data[:-1, 0]) & (data[1:, 1] <= data[:-1, 1])
        if dup.any():
            data = data[np.concatenate([[True], ~dup])]
    span = int(frames.max() - frames.min()) + 1 if len(frames) else 1
    source = attrs.get("source") or path
    meta = {
        METADATA_KEY: {"kind": "trajectories", "version": __version__},
        "source": source, "path": None if path is None else str(path), "reader": dict(reader or {}),
        "frame_interval": attrs.get("frame_interval") or dt,
        "localization_precision": attrs.get("localization_precision"),
        "pixel_size": attrs.get("pixel_size"), "locations": locations,
    }
    if name is None:
        from pathlib import Path

        name = Path(str(source)).name if source else "trajectories"
    return (data, {"name": name, "scale": (dt, 1.0, 1.0), "metadata": meta, "tail_length": span,
                   "head_length": span, "tail_width": 1, "opacity": 0.6, "blending": "translucent",
                   "colormap": "turbo"}, "tracks")


def is_trajectory_layer(layer) -> bool:
    md = getattr(layer, "metadata", {}) or {}
    return isinstance(md.get(METADATA_KEY), dict) and md[METADATA_KEY].get("kind") == "trajectories"


def locations_of_layer(layer) -> pd.DataFrame:
    """The locations table behind a Tracks layer (ours: from metadata; others: from its data, µm)."""
    md = getattr(layer, "metadata", {}) or {}
    if isinstance(md.get("locations"), pd.DataFrame):
        return md["locations"]
    data = np.asarray(layer.data, float)
    scale = np.asarray(layer.scale, float)
    translate = np.asarray(layer.translate, float)
    world = data[:, 1:] * scale + translate
    df = pd.DataFrame({"n": data[:, 0].astype(np.int64), "x": world[:, -1], "y": world[:, -2], "t": world[:, 0]})
    df = df.sort_values(["n", "t"], kind="stable").reset_index(drop=True)
    df.attrs["source"] = layer.name
    return df


# -- ROIs <-> shapes ------------------------------------------------------------------------------

def rois_from_shapes(data: Sequence[np.ndarray], shape_types: Sequence[str], *, to_world=None,
                     names: Sequence[str | None] | None = None) -> tuple[list, list[str]]:
    """ROIs (µm) from napari shapes (rows of (…, y, x) vertices); return ``(rois, skipped)``.

    Axis-aligned rectangles become :class:`Rectangle`, rotated ones :class:`Polygon`; ellipses
    :class:`Ellipse` (from napari's four bounding-box corners); polygons :class:`Polygon`. Lines
    and paths are skipped (their index and reason in ``skipped``). ``to_world`` maps an (m, D)
    array of data coordinates to world (µm); default: identity.
    """
    from .core.roi import Ellipse, Polygon, Rectangle

    rois, skipped = [], []
    for i, (verts, kind) in enumerate(zip(data, shape_types)):
        v = np.asarray(verts, float)
        if to_world is not None:
            v = to_world(v)
        xy = v[:, -2:][:, ::-1]  # (y, x) -> (x, y)
        name = names[i] if names is not None and i < len(names) else None
        kw = {"name": name} if name else {}
        try:
            if kind == "rectangle":
                xmin, ymin = xy.min(axis=0)
                xmax, ymax = xy.max(axis=0)
                axis_aligned = np.all(np.isclose(xy[:, 0], xmin) | np.isclose(xy[:, 0], xmax)) and np.all(
                    np.isclose(xy[:, 1], ymin) | np.isclose(xy[:, 1], ymax))
                rois.append(Rectangle(xmin, ymin, xmax, ymax, **kw) if axis_aligned else Polygon(xy, **kw))
            elif kind == "ellipse":
                rois.append(Ellipse.from_corners(xy, **kw))
            elif kind == "polygon":
                rois.append(Polygon(xy, **kw))
            else:
                skipped.append((i, f"a {kind} is not a region (draw rectangles, ellipses or polygons)"))
        except ValueError as exc:
            skipped.append((i, str(exc)))
    return rois, skipped


def shapes_from_rois(rois) -> tuple[list[np.ndarray], list[str]]:
    """napari shapes ((y, x) vertices, 2D) and shape types for ROIs (µm)."""
    from .core.roi import Ellipse, Rectangle

    data, types = [], []
    for r in rois:
        if isinstance(r, Rectangle):
            data.append(np.array([[r.ymin, r.xmin], [r.ymin, r.xmax], [r.ymax, r.xmax], [r.ymax, r.xmin]]))
            types.append("rectangle")
        elif isinstance(r, Ellipse):
            a, b = r.radii
            c, s = math.cos(math.radians(r.angle)), math.sin(math.radians(r.angle))
            u, w = np.array([a * c, a * s]), np.array([-b * s, b * c])
            cx = np.asarray(r.centre)
            corners = np.array([cx - u - w, cx + u - w, cx + u + w, cx - u + w])
            data.append(corners[:, ::-1])
            types.append("ellipse")
        else:
            data.append(np.asarray(r.polygon())[:, ::-1])
            types.append("polygon")
    return data, types


def rois_layer_data(rois, name: str = "ROIs") -> LayerData:
    data, types = shapes_from_rois(rois)
    return (data, {"name": name, "shape_type": types, **ROI_STYLE,
                   "metadata": {METADATA_KEY: {"kind": "rois"}}}, "shapes")


ROI_STYLE = {"edge_color": "#ffd400", "face_color": [1.0, 0.85, 0.0, 0.08], "edge_width": 0.12,
             "opacity": 1.0, "ndim": 2}


def apply_display(layer) -> None:
    """Settings a layer-data tuple cannot carry (colour bar, label contours), from its metadata."""
    md = (getattr(layer, "metadata", None) or {}).get(METADATA_KEY)
    if not isinstance(md, dict):
        return
    display = md.get("display") or {}
    if display.get("colorbar") and hasattr(layer, "colorbar"):
        try:
            layer.colorbar.visible = bool(layer.visible)
        except Exception:
            pass
    if display.get("contour") and hasattr(layer, "contour"):
        layer.contour = int(display["contour"])


# -- results (several units) -> layers --------------------------------------------------------------

class MapCollection:
    """Maps of several units shown together, filled as units finish.

    Without time windows, every unit of a file (one per support region) goes in the same layers
    (``"<what> · <file>"``); with time windows, a collection holds one region's windows, stacked
    on a leading axis. ``add(window, label, maps, meta)`` returns the layer-data tuples of every
    unit known so far, under stable names, so a widget replaces the data of the layers it already
    shows instead of adding layers.
    """

    def __init__(self, key: str, segments: Sequence[tuple[float, float]] | None = None,
                 image_grid: ImageGrid | None = None, store: str | None = None, log_diffusivity: bool = True,
                 raster: RasterGrid | None = None):
        self.key = key
        self.segments = None if segments is None else [tuple(map(float, s)) for s in segments]
        n = 1 if self.segments is None else max(1, len(self.segments))
        self.windows: list[dict] = [dict() for _ in range(n)]
        self.image_grid = image_grid
        self.store = store
        self.log_diffusivity = log_diffusivity
        self.raster: RasterGrid | None = raster
        self._fixed_raster = raster is not None

    def set(self, window: int | None, label: str, maps, meta: dict | None) -> None:
        """Record a unit's maps (``window``: its time window index, None without windows)."""
        k = 0 if window is None else int(window)
        self.windows[k][label] = (label, maps, meta, region_of_unit(meta))
        if self._fixed_raster:
            return
        entries = [e for w in self.windows for e in w.values()]
        raster = raster_for(entries, self.image_grid)
        if self.raster is None or not _covers(self.raster, raster):
            self.raster = raster

    def layers(self) -> list[LayerData]:
        windows = [sorted(w.values(), key=lambda e: e[0]) for w in self.windows]
        return compose_layers(windows, self.image_grid, name=self.key, segments=self.segments,
                              stacked=self.segments is not None, log_diffusivity=self.log_diffusivity,
                              store=self.store, raster=self.raster)

    def add(self, window: int | None, label: str, maps, meta: dict | None) -> list[LayerData]:
        """:meth:`set` then :meth:`layers`."""
        self.set(window, label, maps, meta)
        return self.layers()


def _covers(a: RasterGrid, b: RasterGrid) -> bool:
    """Whether raster ``a`` covers raster ``b`` at least as finely."""
    if a.pixel_size > b.pixel_size * (1 + 1e-9):
        return False
    ax1 = a.origin[0] + a.shape[1] * a.pixel_size
    ay1 = a.origin[1] + a.shape[0] * a.pixel_size
    bx1 = b.origin[0] + b.shape[1] * b.pixel_size
    by1 = b.origin[1] + b.shape[0] * b.pixel_size
    eps = 1e-9 * max(1.0, a.pixel_size)
    return a.origin[0] <= b.origin[0] + eps and a.origin[1] <= b.origin[1] + eps and ax1 >= bx1 - eps and ay1 >= by1 - eps


def collection_key(label: str, meta: dict | None) -> tuple[str, int | None]:
    """``(collection key, window index)`` of a unit: its file without time windows, else its region."""
    u = (meta or {}).get("unit") if isinstance((meta or {}).get("unit"), dict) else {}
    if u.get("segment") is None:
        return (u.get("file_label") or label.split("/", 1)[0]), None
    return label.rsplit("/", 1)[0], int(u.get("segment_index") or 0)


def layers_from_results(results, image_grid: ImageGrid | None = None, labels: Sequence[str] | None = None,
                        log_diffusivity: bool = True, raster: RasterGrid | None = None) -> list[LayerData]:
    """Layer-data tuples of every done unit of a result store (see :class:`MapCollection`).

    ``raster`` forces the maps' pixel grid (default: over the meshes, aligned on ``image_grid``);
    e.g. ``RasterGrid(image_grid.origin, image_grid.pixel_size, image_grid.shape)`` draws the maps
    on the image's own pixels.
    """
    labels = results.labels() if labels is None else list(labels)
    groups: dict[str, list] = {}
    for label in labels:
        maps, meta = results.unit(label)
        key, window = collection_key(label, meta)
        seg = (meta.get("unit") or {}).get("segment") if isinstance(meta.get("unit"), dict) else None
        groups.setdefault(key, []).append((window, seg, label, maps, meta))
    out: list[LayerData] = []
    store = str(getattr(results.store, "root", "")) or None
    for key, items in groups.items():
        if items[0][0] is None:
            coll = MapCollection(key, None, image_grid, store, log_diffusivity, raster)
        else:
            n = max(it[0] for it in items) + 1
            segs: list = [None] * n
            for window, seg, *_ in items:
                segs[window] = tuple(seg)
            coll = MapCollection(key, _fill_segments(segs), image_grid, store, log_diffusivity, raster)
        for window, _seg, label, maps, meta in items:
            coll.set(window, label, maps, meta)
        out += coll.layers()
    return out


def _fill_segments(segs: list) -> list:
    """Windows with gaps (units not on disk) filled by extrapolating the regular ones."""
    known = [(i, s) for i, s in enumerate(segs) if s is not None]
    (i0, s0), (i1, s1) = known[0], known[-1]
    width = s0[1] - s0[0]
    shift = (s1[0] - s0[0]) / (i1 - i0) if i1 > i0 else width
    base = s0[0] - i0 * shift
    return [s if s is not None else (base + i * shift, base + i * shift + width) for i, s in enumerate(segs)]
