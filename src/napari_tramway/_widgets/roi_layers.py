"""ROI layers: the ROIs of a napari Shapes layer (µm), their names — the ``name`` feature the user
types, the ``label`` feature drawn on the canvas (the name, else ``roi000``...) — and the steps in them."""

from __future__ import annotations

from .._layers import ROI_TEXT, roi_features, rois_from_shapes


def rois_of_layer(layer) -> tuple[list, list]:
    """``(rois, skipped)`` of a Shapes layer, in world coordinates (µm)."""
    import numpy as np

    def to_world(v):
        v = np.asarray(v, float)
        nd = v.shape[1]
        scale = np.asarray(layer.scale, float)[-nd:]
        translate = np.asarray(layer.translate, float)[-nd:]
        return v * scale + translate

    return rois_from_shapes(layer.data, layer.shape_type, to_world=to_world, names=roi_names(layer))


def roi_names(layer) -> list[str]:
    """The names of a Shapes layer's ROIs ('' for none), from its ``name`` feature."""
    n = len(layer.data)
    try:
        if "name" in layer.features.columns and len(layer.features) == n:
            return ["" if (v is None or v != v) else str(v) for v in layer.features["name"]]
    except Exception:
        pass
    return [""] * n


def sync_roi_labels(layer) -> None:
    """Keep a ROI layer's ``name`` and ``label`` features (label: the name, else roi000...) in step
    with its shapes, and its text drawing the labels on the canvas; other features are kept."""
    wanted = roi_features(roi_names(layer))
    feats = layer.features
    if len(feats) != len(wanted) or "label" not in feats.columns or "name" not in feats.columns or \
            list(feats["label"]) != list(wanted["label"]) or list(feats["name"].fillna("")) != list(wanted["name"]):
        other = feats.drop(columns=[c for c in ("name", "label") if c in feats.columns]).reset_index(drop=True)
        if len(other) == len(wanted):
            wanted = other.join(wanted)
        layer.features = wanted
        layer.feature_defaults = {**{c: layer.feature_defaults[c].iloc[0] for c in layer.feature_defaults.columns
                                     if c not in ("name", "label")}, "name": "", "label": ""}
    if getattr(layer.text.string, "format", None) != ROI_TEXT["string"]:
        layer.text = dict(ROI_TEXT)


def rename_roi(layer, index: int, name: str) -> None:
    """Name ROI ``index`` of a Shapes layer ('' removes the name)."""
    names = roi_names(layer)
    names[index] = name.strip()
    feats = layer.features.copy().reset_index(drop=True)
    feats["name"] = names
    layer.features = feats
    sync_roi_labels(layer)


def layer_acquisition(layer):
    """The frame interval (s) and σ (µm) of a trajectory layer, as its Data tab shows them (σ: the
    reader's default when the file gives none), an :class:`~napari_tramway.core.acquisition.Acquisition`."""
    from ..core.acquisition import Acquisition
    from ..core.defaults import LOCALIZATION_PRECISION

    md = getattr(layer, "metadata", {}) or {}
    sigma = md.get("localization_precision")
    return Acquisition(float(md.get("frame_interval") or layer.scale[0]),
                       LOCALIZATION_PRECISION if sigma is None else float(sigma))


def step_counts(locations, acquisition, rois, group: bool, discard_static: bool) -> tuple[dict, dict]:
    """The steps the fit will use (cropped, and filtered with σ = the acquisition's when the
    analysis says so), per ROI and per support region: ``({roi index: count}, {region label:
    count})``. Off the GUI thread."""
    from ..core.roi import group_overlapping
    from ..pipeline.data import fit_step_count

    counts = {i: fit_step_count(locations, r, acquisition, discard_static=discard_static) for i, r in enumerate(rois)}
    regions = {reg.label: fit_step_count(locations, reg, acquisition, discard_static=discard_static)
               for reg in group_overlapping(rois, group=group)}
    return counts, regions
