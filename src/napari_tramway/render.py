"""Headless rendering of maps to RGB images (PNG), for the CLI demo and for figures.

Maps are drawn like the napari layers: a cell-id raster of the mesh over the wide-field image's
pixel grid, values looked up per pixel, a colormap (log scale for diffusivity, a diverging map
centred on the median for the potential), blended over the grey image outside the cells.
"""

from __future__ import annotations

import numpy as np


def colormap_rgb(values: np.ndarray, name: str, limits: tuple[float, float]) -> np.ndarray:
    """RGB floats in [0, 1] of ``values`` through a napari colormap (NaN → transparent black)."""
    from napari.utils.colormaps import ensure_colormap

    lo, hi = limits
    span = hi - lo if hi > lo else 1.0
    x = np.clip((values - lo) / span, 0, 1)
    rgba = ensure_colormap(name).map(np.nan_to_num(x).ravel()).reshape(values.shape + (4,))
    rgba[~np.isfinite(values)] = 0
    return rgba


def feature_raster(maps_list, column: str, origin, pixel_size: float, shape) -> np.ndarray:
    """A float image (NaN outside cells) of ``column`` for several (maps, region) pairs."""
    from .core.meshes import rasterize

    out = np.full(shape, np.nan)
    for maps, region in maps_list:
        ids = rasterize(maps.mesh, origin=origin, pixel_size=pixel_size, shape=shape, region=region)
        values = np.full(maps.mesh.n_cells, np.nan)
        col = maps.table[column]
        values[col.index.to_numpy()] = col.to_numpy(dtype=float)
        inside = ids >= 0
        v = np.where(inside, values[np.clip(ids, 0, None)], np.nan)
        out = np.where(np.isfinite(v), v, out)
    return out


def overlay(image: np.ndarray, values: np.ndarray, cmap: str, log: bool = False, centre: bool = False,
            alpha: float = 0.85) -> tuple[np.ndarray, tuple[float, float]]:
    """Blend a colour-mapped ``values`` image over a grey ``image``; return (uint8 RGB, limits)."""
    v = np.log10(np.where(values > 0, values, np.nan)) if log else values.astype(float)
    finite = v[np.isfinite(v)]
    if finite.size:
        lo, hi = np.percentile(finite, [2, 98])
        if centre:
            m = np.median(finite)
            half = max(hi - m, m - lo)
            lo, hi = m - half, m + half
    else:
        lo, hi = 0.0, 1.0
    rgba = colormap_rgb(v, cmap, (lo, hi))
    g = image.astype(float)
    g = (g - np.percentile(g, 1)) / max(np.percentile(g, 99.5) - np.percentile(g, 1), 1e-12)
    grey = np.clip(g, 0, 1)[..., None] * np.ones(3)
    a = alpha * rgba[..., 3:4]
    rgb = (1 - a) * grey + a * rgba[..., :3]
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8), (float(lo), float(hi))


def write_png(path, rgb: np.ndarray, upscale: int = 2) -> None:
    """Write an RGB uint8 image (row 0 = smallest y is drawn at the top, like napari)."""
    import imageio.v3 as iio

    if upscale > 1:
        rgb = np.repeat(np.repeat(rgb, upscale, axis=0), upscale, axis=1)
    iio.imwrite(path, rgb)
