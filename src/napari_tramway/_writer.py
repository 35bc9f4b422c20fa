"""npe2 writers: maps to CSV (the per-cell table) and float TIFF (a map image), ROIs to ROI files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._layers import METADATA_KEY


def _tramway_md(attributes: dict) -> dict:
    md = (attributes or {}).get("metadata") or {}
    got = md.get(METADATA_KEY)
    return got if isinstance(got, dict) else {}


def write_maps_csv(path: str, layer_data: list) -> list[str]:
    """Write the per-cell maps tables behind napari-tramway map layers to one CSV file.

    Columns: ``cell`` then the maps columns (µm, s, µm²/s, kT...); with several units, first
    columns ``unit`` and ``region`` (its ROIs' names) name each row's unit. Cells without any step
    are left out.
    """
    import pandas as pd

    tables, titles = {}, {}
    for _data, attributes, _kind in layer_data:
        tables.update(_tramway_md(attributes).get("tables") or {})
        titles.update(_tramway_md(attributes).get("titles") or {})
    if not tables:
        raise ValueError("none of the selected layers is a napari-tramway map: nothing to write as CSV")
    frames = []
    for label, table in tables.items():
        t = table[table["n"] > 0] if "n" in table.columns else table
        t = t.reset_index()
        if len(tables) > 1:
            t.insert(0, "unit", label)
            t.insert(1, "region", titles.get(label, label))
        frames.append(t)
    out = pd.concat(frames, ignore_index=True)
    if "cell" not in out.columns and "index" in out.columns:
        out = out.rename(columns={"index": "cell"})
    out.to_csv(path, index=False)
    return [str(path)]


def write_map_tiff(path: str, data, attributes: dict) -> list[str]:
    """Write one image layer (a map, or any image) as a float32 ImageJ TIFF, pixel size in µm.

    A map's values are written as shown (log10 D for the default diffusivity layer); the TIFF's
    ImageJ ``Info`` holds the column, transform, unit, origin and pixel size.
    """
    import tifffile

    arr = np.asarray(data, dtype=np.float32)
    scale = np.asarray(attributes.get("scale", [1.0] * arr.ndim), float)
    translate = np.asarray(attributes.get("translate", [0.0] * arr.ndim), float)
    p = float(scale[-1])
    md = _tramway_md(attributes)
    info = {
        "name": attributes.get("name"), "column": md.get("column"), "transform": md.get("transform"),
        "value_unit": md.get("value_unit"), "unit": md.get("unit"), "pixel_size_um": p,
        "origin_um": [float(translate[-1] - p / 2), float(translate[-2] - scale[-2] / 2)],
        "software": md.get("software"),
    }
    axes = {2: "YX", 3: "TYX", 4: "TZYX"}.get(arr.ndim, None)
    imagej_md = {"unit": "um", "Info": json.dumps(info, default=str)}
    if axes:
        imagej_md["axes"] = axes
    if arr.ndim == 3 and scale.size >= 3:
        imagej_md["finterval"] = float(scale[0])
    tifffile.imwrite(path, arr, imagej=axes is not None, resolution=(1.0 / p, 1.0 / scale[-2]),
                     metadata=imagej_md if axes else None)
    return [str(path)]


def write_rois_file(path: str, data, attributes: dict) -> list[str]:
    """Write a Shapes layer's rectangles, polygons and ellipses (µm) as a ROI file.

    ``.json``: napari-tramway's ROI file (every shape kind); ``.txt``: TRamWAy's tab-separated
    rectangles (other shapes refused with a message).
    """
    from ._layers import rois_from_shapes
    from .core.roi import write_rois

    scale = np.asarray(attributes.get("scale", [1.0, 1.0]), float)
    translate = np.asarray(attributes.get("translate", [0.0, 0.0]), float)

    def to_world(v):
        return v * scale[-v.shape[1]:] + translate[-v.shape[1]:]

    rois, skipped = rois_from_shapes(data, attributes.get("shape_type", []), to_world=to_world)
    if skipped:
        from napari.utils.notifications import show_warning

        show_warning("napari-tramway: shapes left out of the ROI file: "
                     + "; ".join(f"#{i}: {why}" for i, why in skipped))
    group = _tramway_md(attributes).get("group_overlapping")
    write_rois(Path(path), rois, group_overlapping_rois=group if Path(path).suffix.lower() == ".json" else None)
    return [str(path)]
