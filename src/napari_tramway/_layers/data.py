"""Trajectories and ROIs as napari layer data: Tracks in µm and s, Shapes of named ROIs in µm.

ROIs live in Shapes layers whose ``features`` hold each shape's ``name`` (what the user typed;
empty for none) and ``label`` (the name, else ``roi000``...), drawn on the canvas as text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from .maps import METADATA_KEY, LayerData, space_time

ROI_STYLE = {"edge_color": "#ffd400", "face_color": [1.0, 0.85, 0.0, 0.08], "edge_width": 0.12,
             "opacity": 1.0, "ndim": 2}
#: ROI names on the canvas, from the Shapes layer's ``label`` feature.
ROI_TEXT = {"string": "{label}", "color": "#ffd400", "size": 10, "anchor": "upper_left"}


def tracks_from_locations(locations: pd.DataFrame, *, name: str | None = None, path: str | None = None,
                          reader: dict | None = None) -> LayerData:
    """A Tracks layer of a locations table (n, x, y, t in µm, s).

    ``data = [track_id, frame, y, x]`` with ``frame = round(t / frame interval)`` and
    ``scale = (frame interval, 1, 1)``: space in µm (scale 1, aligned with images scaled by their
    pixel size), time in s on napari's ``t`` axis. ``metadata`` holds ``source``, ``path``,
    ``reader`` (options to read the file again), ``frame_interval`` (s),
    ``localization_precision`` (µm), ``pixel_size`` and the ``locations`` table.
    """
    from ..core.trajectories import estimate_frame_interval

    attrs = dict(locations.attrs)  # the reader's copy of its record: shown, the analysis re-reads the file
    dt = float(attrs.get("frame_interval") or estimate_frame_interval(locations["n"].to_numpy(),
                                                                       locations["t"].to_numpy()) or 1.0)
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
        name = Path(str(source)).name if source else "trajectories"
    return (data, {"name": name, "scale": (dt, 1.0, 1.0), "metadata": meta, "tail_length": span,
                   "head_length": span, "tail_width": 1, "opacity": 0.6, "blending": "translucent",
                   "colormap": "turbo", **space_time(True)}, "tracks")


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
    array of data coordinates to world (µm); default: identity. ``names`` are the ROIs' names.
    """
    from ..core.roi import Ellipse, Polygon, Rectangle

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
    from ..core.roi import Ellipse, Rectangle

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


def roi_features(names: Sequence[str | None]) -> pd.DataFrame:
    """The ``name`` and ``label`` (name, else ``roi000``) features of ROIs, in order."""
    from ..core.roi import roi_label

    clean = ["" if (n is None or n != n) else str(n) for n in names]
    return pd.DataFrame({"name": clean, "label": [n or roi_label(i) for i, n in enumerate(clean)]})


def rois_layer_data(rois, name: str = "ROIs") -> LayerData:
    """A Shapes layer of ROIs (µm) with their names as features, drawn on the canvas."""
    data, types = shapes_from_rois(rois)
    return (data, {"name": name, "shape_type": types, **ROI_STYLE, "features": roi_features([r.name for r in rois]),
                   "text": dict(ROI_TEXT), "units": space_time(False)["units"],
                   "axis_labels": space_time(False)["axis_labels"],
                   "metadata": {METADATA_KEY: {"kind": "rois"}}}, "shapes")
