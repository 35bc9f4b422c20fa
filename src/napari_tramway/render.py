"""Headless rendering of maps to RGB images (PNG), for the CLI demo and for figures.

The maps are the napari layers' own data (:func:`napari_tramway._layers.layers_from_results`):
the same cell-id rasters, values (log10 D), colormaps and contrast limits as in the viewer, here
drawn on the wide-field image's own pixels and blended over it (grey) outside the cells.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class MapImage(NamedTuple):
    """One scalar map on an image's pixel grid, as napari shows it."""

    column: str
    """The maps column (``diffusivity``, ``potential``...)."""
    name: str
    """The napari layer's name."""
    values: np.ndarray
    """(rows, cols) float32, NaN outside the cells."""
    colormap: object
    """A napari colormap name or :class:`~napari.utils.colormaps.Colormap`."""
    limits: tuple[float, float]
    """The layer's contrast limits."""
    unit: str
    """The unit of ``values`` (``log10(µm²/s)``, ``kT``...)."""


def map_images(results, image_grid, columns=("diffusivity", "potential")) -> list[MapImage]:
    """The 2D scalar maps of a result store drawn on the pixels of ``image_grid`` (an
    :class:`~napari_tramway._layers.ImageGrid` with a pixel size and a shape), one per map layer
    napari would show (a file's regions together)."""
    from ._layers import METADATA_KEY, RasterGrid, layers_from_results

    if not image_grid.pixel_size or image_grid.shape is None:
        raise ValueError("map_images needs the image's pixel size and shape")
    raster = RasterGrid(tuple(image_grid.origin), float(image_grid.pixel_size), tuple(image_grid.shape))
    out = []
    for data, kwargs, kind in layers_from_results(results, image_grid, raster=raster):
        md = kwargs["metadata"][METADATA_KEY]
        if kind == "image" and md.get("column") in columns and data.ndim == 2:
            out.append(MapImage(md["column"], kwargs["name"], data, kwargs["colormap"],
                                tuple(kwargs["contrast_limits"]), md.get("value_unit") or ""))
    return out


def colormap_rgb(values: np.ndarray, colormap, limits: tuple[float, float]) -> np.ndarray:
    """RGBA floats in [0, 1] of ``values`` through a napari colormap (NaN → transparent black)."""
    from napari.utils.colormaps import ensure_colormap

    lo, hi = limits
    span = hi - lo if hi > lo else 1.0
    x = np.clip((values - lo) / span, 0, 1)
    rgba = ensure_colormap(colormap).map(np.nan_to_num(x).ravel()).reshape(values.shape + (4,))
    rgba[~np.isfinite(values)] = 0
    return rgba


def overlay(image: np.ndarray, values: np.ndarray, colormap, limits: tuple[float, float],
            alpha: float = 0.85) -> np.ndarray:
    """Blend colour-mapped ``values`` over a grey ``image`` of the same shape; return uint8 RGB."""
    rgba = colormap_rgb(values, colormap, limits)
    g = image.astype(float)
    g = (g - np.percentile(g, 1)) / max(np.percentile(g, 99.5) - np.percentile(g, 1), 1e-12)
    grey = np.clip(g, 0, 1)[..., None] * np.ones(3)
    a = alpha * rgba[..., 3:4]
    rgb = (1 - a) * grey + a * rgba[..., :3]
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def write_png(path, rgb: np.ndarray, upscale: int = 2) -> None:
    """Write an RGB uint8 image (row 0 = smallest y is drawn at the top, like napari)."""
    import imageio.v3 as iio

    if upscale > 1:
        rgb = np.repeat(np.repeat(rgb, upscale, axis=0), upscale, axis=1)
    iio.imwrite(path, rgb)
