"""Layer building: maps, meshes, trajectories and ROIs as napari *layer-data tuples*.

Everything here returns ``(data, kwargs, layer_type)`` tuples, usable by readers (``return [tuple,
...]``), by widgets (``viewer.add_<type>(data, **kwargs)``) and by scripts; nothing here needs a
viewer or Qt.

How maps are drawn (:func:`compose_layers`):

* each scalar map (D — log₁₀ by default —, V, each uncertainty ``<quantity> sd``, optionally the
  translocation count) is an **Image** from a cell-id raster (rasterised once per mesh, then
  ``values[cell_id]``; NaN outside cells is transparent), with its colour bar;
* the cells are a **Labels** layer (``cell id + 1``; contour mode) whose ``features`` hold every
  column of the cell under the mouse, named with their units (``D (µm²/s)``): hovering a map with
  the cells layer active shows D in µm²/s, whatever the colour scale;
* force and drift are **Vectors** at cell centres, coloured by magnitude;
* time windows are stacked on a leading axis ``t`` in s (``scale`` = window shift, ``translate`` =
  the first window's centre), in step with the trajectories' time axis;
* every layer has ``units`` (µm, and s on the time axis) and ``axis_labels`` (``t``, ``y``, ``x``),
  so napari's scale bar reads µm; its ``metadata['napari_tramway']`` holds the unit label(s), the
  run, the spec, the software version, the environment and the maps tables.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._version import __version__
from .colour import (
    SYMBOLS,
    VECTORS,
    Quantity,
    column_limits,
    feature_name,
    limits,
    numeric_columns,
    quantity,
    scalar_columns,
)
from .grids import ImageGrid, RasterGrid, cell_raster, raster_for, typical_cell_size
from .runs import unit_inputs

LayerData = tuple  # (data, kwargs, layer_type)
METADATA_KEY = "napari_tramway"
#: Above this many cells (per time window), force and drift arrows are averaged over blocks of
#: cells (arrows smaller than a screen pixel help nobody, and 100k arrows redraw slowly); each
#: cell's own vector stays in the cells' features.
MAX_ARROWS = 20_000
SPACE_UNITS = ("µm", "µm")
SPACE_AXES = ("y", "x")
TIME_UNIT = "s"
TIME_AXIS = "t"


def space_time(stacked: bool) -> dict:
    """``units`` and ``axis_labels`` of a layer in µm (and s on a leading time axis)."""
    if stacked:
        return {"units": (TIME_UNIT, *SPACE_UNITS), "axis_labels": (TIME_AXIS, *SPACE_AXES)}
    return {"units": SPACE_UNITS, "axis_labels": SPACE_AXES}


def compose_layers(
    windows: Sequence[Sequence[tuple]],
    image_grid: ImageGrid | None = None,
    *,
    name: str,
    key: str | None = None,
    run=None,
    segments: Sequence[tuple[float, float]] | None = None,
    stacked: bool | None = None,
    log_diffusivity: bool = True,
    store: str | None = None,
    uncertainty: bool = True,
    counts: bool = False,
    raster: RasterGrid | None = None,
    titles: dict | None = None,
) -> list[LayerData]:
    """Layer data of several units drawn together.

    Parameters
    ----------
    windows : sequence of sequences of ``(unit label, maps, meta, region)``
        ``windows[k]`` lists the units of time window k (one window without time windows). The
        units of a window are drawn on one raster (e.g. every ROI of a file in the same layers);
        windows are stacked on a leading axis.
    name : str
        What follows the quantity in layer names (``<quantity> · <name>``): the run and, when a
        run has several, the file or region.
    key : str, optional
        A stable identity of these layers (default ``name``); each layer's metadata ``key`` is
        ``<key>|<role>``, so a widget can update them in place even after the user renamed them.
    run : RunLabel, optional
        The run, recorded in the metadata (``run``).
    titles : dict, optional
        Unit label → its region as the user knows it (ROI names), shown in the cells' features.
    """
    windows = [list(w) for w in windows]
    entries = [e for w in windows for e in w]
    if not entries:
        return []
    key = key or name
    titles = titles or {}
    if stacked is None:
        stacked = segments is not None or len(windows) > 1
    if raster is None:
        raster = raster_for([e[1].mesh for e in entries], image_grid)
    ids = {id(e): cell_raster(e[1].mesh, raster, e[3]) for e in entries}
    scale2, translate2 = raster.transform()
    if stacked:
        t_scale, t_translate = time_transform(segments)
        scale, translate = (t_scale, *scale2), (t_translate, *translate2)
    else:
        scale, translate = scale2, translate2
    axes = space_time(stacked)
    first_meta = next((e[2] for e in entries if e[2]), None) or {}
    first = entries[0][1]
    tables = {e[0]: e[1].table for e in entries}
    base_md = {
        "kind": "map", "unit": name, "group": key, "units": list(tables),
        "run": None if run is None else dataclasses.asdict(run),
        "software": first_meta.get("software", f"napari-tramway {__version__}"),
        "spec": first_meta.get("spec"), "environment": first_meta.get("environment"),
        "model": first.model, "parameters": first.parameters, "status": {e[0]: e[1].status for e in entries},
        "segments": None if segments is None else [list(map(float, s)) for s in segments],
        "store": store, "tables": tables, "titles": {e[0]: titles.get(e[0], e[0]) for e in entries},
        "unit_info": {e[0]: (e[2] or {}).get("unit") for e in entries},
        "inputs": {e[0]: unit_inputs(e[2]) for e in entries},
        "timings": {e[0]: (e[2] or {}).get("timings") for e in entries},
        "raster": {"origin": list(raster.origin), "pixel_size": raster.pixel_size, "shape": list(raster.shape)},
    }

    def md_for(role, **extra):
        d = dict(base_md)
        d.update(extra, key=f"{key}|{role}", role=role)
        return {METADATA_KEY: d}

    columns: list[str] = []
    for e in entries:
        columns += [c for c in numeric_columns(e[1].table) if c not in columns]

    out: list[LayerData] = []
    for column in scalar_columns(columns, counts=counts, uncertainty=uncertainty):
        q = quantity(column, log_diffusivity)
        data = scalar_planes(windows, ids, raster.shape, column, q, stacked)
        out.append((data, {
            "name": f"{q.title} · {name}", "colormap": q.colormap, "contrast_limits": column_limits(column, data),
            "scale": scale, "translate": translate, "opacity": 0.85 if column != "n" else 0.7,
            "blending": "translucent", "visible": q.visible, "interpolation2d": "nearest", **axes,
            "metadata": md_for(column, column=column, transform=q.transform, value_unit=q.value_unit,
                               title=q.title, scale_text=q.scale_text, display={"colorbar": True}),
        }, "image"))

    cs = min(typical_cell_size(e[1].mesh) for e in entries)
    for feature, ((cx, cy), cmap) in VECTORS.items():
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
        q = quantity(cx)
        title = f"‖{SYMBOLS.get(feature, feature)}‖ ({q.unit})"
        out.append((data, {
            "name": f"{title} · {name}", "features": {"magnitude": mags},
            "edge_color": "magnitude", "edge_colormap": cmap,
            "edge_contrast_limits": limits(mags, 0, 99) if mags.size else None,
            "edge_width": max(arrow_size * 0.1, 1e-3), "length": float(length), "opacity": 0.9,
            "scale": (scale[0], 1.0, 1.0) if stacked else (1.0, 1.0),
            "translate": (translate[0], 0.0, 0.0) if stacked else (0.0, 0.0), **axes,
            "vector_style": "arrow", "visible": feature == "force" or "force x" not in columns,
            "metadata": md_for(feature, kind="vectors", column=feature, length=float(length), value_unit=q.unit,
                               title=title, block_averaged=blocked),
        }, "vectors"))

    labels, features = _cells(windows, ids, raster.shape, stacked, segments, titles)
    cells_layer = (labels, {
        "name": f"cells · {name}", "features": features, "scale": scale, "translate": translate,
        "opacity": 0.35, "blending": "translucent", "visible": True, **axes,
        "colormap": {0: "transparent", None: "white"},
        "metadata": md_for("cells", kind="cells", display={"contour": 1}),
    }, "labels")
    # visible layers first (a widget adding them in this order shows the maps sooner), then the
    # hidden ones; the cells' outlines last among the visible, on top of the maps
    visible = [t for t in out if t[1].get("visible", True)]
    hidden = [t for t in out if not t[1].get("visible", True)]
    return visible + [cells_layer] + hidden


def scalar_planes(windows, ids, shape, column: str, q: Quantity, stacked: bool) -> np.ndarray:
    """float32 raster(s) of ``column`` (drawn values, see :meth:`Quantity.values`); NaN outside cells."""
    planes = []
    for w in windows:
        plane = np.full(shape, np.nan, np.float32)
        for e in w:
            if column not in e[1].table.columns:
                continue
            v = q.values(e[1].table[column].to_numpy(dtype=np.float64))
            lut = np.empty(v.shape[0] + 1, np.float32)
            lut[:-1] = v
            lut[-1] = np.nan  # ids == -1 pick this
            cid = ids[id(e)]
            inside = cid >= 0
            plane[inside] = lut[cid][inside]
        planes.append(plane)
    return np.stack(planes) if stacked else planes[0]


def time_transform(segments) -> tuple[float, float]:
    """``(scale, translate)`` (s) of a leading axis of time windows: the shift, the first centre."""
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


def vector_field(maps, cx: str, cy: str, ids=None, raster=None) -> tuple[np.ndarray, ...]:
    """``(x, y, vx, vy)`` of the cells with a finite vector, placed at the centre of what is shown
    of each cell (a cell clipped by its ROI may have its centre outside the ROI)."""
    t = maps.table
    centres = np.asarray(maps.mesh.centres, float)
    x = t["x"].to_numpy(float) if "x" in t.columns else centres[:, 0]
    y = t["y"].to_numpy(float) if "y" in t.columns else centres[:, 1]
    shown = _visible_centres(maps, ids, raster)
    if shown is not None:
        good = np.isfinite(shown[:, 0])
        x = np.where(good, shown[:, 0], x)
        y = np.where(good, shown[:, 1], y)
    vx, vy = t[cx].to_numpy(float), t[cy].to_numpy(float)
    ok = np.isfinite(vx) & np.isfinite(vy) & np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok], vx[ok], vy[ok]


def _vectors(windows, cx, cy, stacked, max_arrows: int = MAX_ARROWS, ids=None, raster=None):
    """Vectors data (N, 2, D) and magnitudes at cell centres; averaged over blocks of cells when a
    window has more than ``max_arrows`` cells with a vector."""
    pos, vec, mags = [], [], []
    blocked = False
    for k, w in enumerate(windows):
        parts = [vector_field(e[1], cx, cy, None if ids is None else ids.get(id(e)), raster)
                 for e in w if cx in e[1].table.columns]
        if not parts:
            continue
        x, y, vx, vy = (np.concatenate(a) for a in zip(*parts))
        if len(x) > max_arrows:
            x, y, vx, vy = block_average(x, y, vx, vy, max_arrows)
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


def block_average(x, y, vx, vy, target: int):
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


def _cells(windows, ids, shape, stacked, segments, titles):
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
            f = pd.DataFrame({"index": np.arange(offset + 1, offset + 1 + len(t), dtype=np.int64),
                              "region": titles.get(label, label), "unit": label, "cell": t.index.to_numpy()})
            if stacked:
                f["window"] = k
                if segments is not None and k < len(segments) and segments[k] is not None:
                    f["t0 (s)"] = float(segments[k][0])
                    f["t1 (s)"] = float(segments[k][1])
            for c in t.columns:
                f[feature_name(c)] = t[c].to_numpy()
            f["area (µm²)"] = np.asarray(m.mesh.areas, float)[t.index.to_numpy()]
            feats.append(f)
            offset += len(t)
        planes.append(plane)
    data = np.stack(planes) if stacked else planes[0]
    features = pd.concat(feats, ignore_index=True) if feats else pd.DataFrame({"index": np.zeros(0, np.int64)})
    return data, features


def layers_from_meshes(meshes, regions=None, image_grid: ImageGrid | None = None, *, name: str = "mesh preview",
                       metadata: dict | None = None, titles: Sequence[str] | None = None) -> list[LayerData]:
    """One Labels layer (contour mode) of the cells of several meshes (one per support region).

    Labels are numbered across meshes (mesh k's cell c is ``offset_k + c + 1``); ``features``
    give each label's region, cell id, centre and area.
    """
    meshes = list(meshes)
    if not meshes:
        return []
    regions = list(regions) if regions is not None else [None] * len(meshes)
    titles = list(titles) if titles is not None else [getattr(r, "label", "") or "" for r in regions]
    raster = raster_for(meshes, image_grid)
    lab = np.zeros(raster.shape, np.int32)
    feats = []
    offset = 0
    for mesh, region, title in zip(meshes, regions, titles):
        ids = cell_raster(mesh, raster, region)
        inside = ids >= 0
        lab[inside] = ids[inside] + offset + 1
        centres = np.asarray(mesh.centres, float)
        feats.append(pd.DataFrame({
            "index": np.arange(offset + 1, offset + 1 + mesh.n_cells), "region": title,
            "cell": np.arange(mesh.n_cells), "x (µm)": centres[:, 0], "y (µm)": centres[:, 1],
            "area (µm²)": np.asarray(mesh.areas, float)}))
        offset += mesh.n_cells
    scale, translate = raster.transform()
    md = {"kind": "mesh", "method": meshes[0].method, "parameters": meshes[0].parameters,
          "n_cells": [m.n_cells for m in meshes], "display": {"contour": 1}, **(metadata or {})}
    return [(lab, {"name": name, "features": pd.concat(feats, ignore_index=True), "scale": scale,
                   "translate": translate, "opacity": 0.9, "colormap": {0: "transparent", None: "yellow"},
                   **space_time(False), "metadata": {METADATA_KEY: md}}, "labels")]


def layers_from_mesh(mesh, image_grid: ImageGrid | None = None, *, name: str = "mesh preview",
                     region=None, metadata: dict | None = None) -> list[LayerData]:
    """A Labels layer (contour mode) of a mesh's cells, for previewing a mesh before a run."""
    return layers_from_meshes([mesh], [region], image_grid, name=name, metadata=metadata)
