"""Run grouping: which run a map belongs to, how its layers are named, and whether its inputs
changed since it was made.

A *run* is one analysis' settings (mesh, model, time windows, filters) in one result store: its
layers are named ``<quantity> · <run name> (<model>, <settings>)`` (plus the file or region when a
run has several), and carry a stable key in their metadata so that a unit finishing later updates
them in place, while a run with other settings gets its own layers and never replaces another's.

Maps are *stale* when what they were computed from (:func:`unit_inputs`: the ROIs of their region,
their file's frame interval, σ or reader options, the grouping of overlapping ROIs) differs from
what the analysis holds now (:func:`input_changes`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

#: What makes two runs different runs: their layers, runs-table rows and result stores (the rest —
#: ROIs, file metadata — makes maps stale). The stage is how a run is computed, not what: meshes
#: made first ('tessellate') and the maps on them ('infer') are one run, in one store.
RUN_SETTINGS = ("mesh", "model", "time_windows", "discard_static")


@dataclass(frozen=True)
class RunLabel:
    """A run as the layers and the runs panel name it.

    Attributes
    ----------
    key : str
        Stable identity: the result store and a digest of the run's settings.
    name : str
        ``run 1``, or the result store's folder name for results opened from disk.
    model : str
        ``DV``, ``D``...
    summary : str
        The settings in a few words: ``hexagon 1 µm, 30 s windows``.
    details : str
        Every setting, for a tooltip.
    """

    key: str
    name: str
    model: str
    summary: str
    details: str = ""

    @property
    def text(self) -> str:
        """``run 1 (DV, hexagon 1 µm)``."""
        inner = ", ".join(x for x in (self.model, self.summary) if x)
        return f"{self.name} ({inner})" if inner else self.name

    def renamed(self, name: str) -> RunLabel:
        return RunLabel(self.key, name, self.model, self.summary, self.details)


def run_settings(spec: dict | None) -> dict:
    """The settings of a spec (dict form) that make a run (see :data:`RUN_SETTINGS`)."""
    spec = spec or {}
    return {k: spec.get(k) for k in RUN_SETTINGS}


def run_key(spec: dict | None, store: str | None) -> str:
    """``<store>|<digest of the run settings>``."""
    blob = json.dumps(run_settings(spec), sort_keys=True, default=str).encode()
    return f"{store or ''}|{hashlib.sha256(blob).hexdigest()[:12]}"


def settings_summary(spec: dict | None) -> tuple[str, str, str]:
    """``(model, summary, details)`` of a spec in dict form: ``('DV', 'hexagon 1 µm', '...')``."""
    spec = spec or {}
    mesh = spec.get("mesh") or {}
    model = spec.get("model") or {}
    mp = dict(mesh.get("parameters") or {})
    parts = [str(mesh.get("method", "?"))]
    if mp.get("resolution") is not None:
        parts[0] += f" {float(mp['resolution']):g} µm"
    elif mp.get("avg_location_count") is not None:
        parts[0] += f" {int(mp['avg_location_count'])} locations/cell"
    elif mp.get("min_count") is not None:
        parts[0] += f" ≥{int(mp['min_count'])} locations/cell"
    tw = spec.get("time_windows")
    if tw:
        unit = "frames" if tw.get("frames") else "s"
        parts.append(f"{float(tw['duration']):g} {unit} windows")
    details = (f"mesh {mesh.get('method')} {json.dumps(mp, sort_keys=True)}; model {model.get('name')} "
               f"{json.dumps(model.get('parameters') or {}, sort_keys=True)}"
               + (f"; windows {json.dumps(tw, sort_keys=True)}" if tw else ""))
    return str(model.get("name", "")).upper(), ", ".join(parts), details


def run_label(spec: dict | None, store: str | None, name: str | None = None) -> RunLabel:
    """The :class:`RunLabel` of maps computed with ``spec`` (dict form) into ``store``; ``name``
    defaults to the store's folder name."""
    model, summary, details = settings_summary(spec)
    if name is None:
        name = Path(str(store)).name if store else "results"
    return RunLabel(run_key(spec, store), name, model, summary, details)


def run_label_of_meta(meta: dict | None, store: str | None = None, name: str | None = None) -> RunLabel:
    """The :class:`RunLabel` of a unit result (its metadata holds the spec)."""
    return run_label((meta or {}).get("spec"), store, name)


# -- ROI names -------------------------------------------------------------------------------------

def region_title(spec: dict | None, file_index: int | None, region_label: str) -> str:
    """A region as the user named it: its ROIs' names (``cell 1 + cell 3``), else its label."""
    from ..pipeline.spec import region_members

    rois = _rois_of(spec or {}, file_index)
    names = []
    for m in region_members(region_label):
        name = (rois[m] or {}).get("name") if m < len(rois) else None
        names.append(name or None)
    if not names or not any(names):
        return region_label
    from ..core.roi import roi_label

    return " + ".join(n or roi_label(m) for n, m in zip(names, region_members(region_label)))


def _rois_of(spec: dict, file_index: int | None) -> list:
    files = spec.get("files") or []
    if file_index is not None and file_index < len(files) and files[file_index].get("rois") is not None:
        return list(files[file_index]["rois"])
    return list(spec.get("rois") or [])


def unit_region_title(meta: dict | None, label: str) -> str:
    """The region of a unit result as the user named it (its ROIs' names), else its label."""
    u = (meta or {}).get("unit")
    if not isinstance(u, dict):
        return label.split("/")[1] if label.count("/") >= 1 else label
    return region_title((meta or {}).get("spec"), u.get("file_index"), u.get("region_label", ""))


def unit_title(meta: dict | None, label: str) -> str:
    """``<file>/<region names>[/<window>]`` of a unit result (ROI names where the user gave some)."""
    u = (meta or {}).get("unit")
    if not isinstance(u, dict):
        return label
    region = region_title((meta or {}).get("spec"), u.get("file_index"), u.get("region_label", ""))
    parts = [u.get("file_label", ""), region]
    seg = u.get("segment")
    if seg is not None:
        parts.append(f"{float(seg[0]):g}–{float(seg[1]):g} s")
    return "/".join(p for p in parts if p) or label


# -- stale maps --------------------------------------------------------------------------------------

def unit_inputs(meta: dict | None) -> dict | None:
    """What a unit's maps were computed from, besides the run's settings: its file's frame
    interval, σ and reader options, its region's ROIs (shapes, in order of the region's members)
    and the grouping of overlapping ROIs; None when the result does not say (no spec in it)."""
    from ..pipeline.spec import region_members

    spec, u = (meta or {}).get("spec"), (meta or {}).get("unit")
    if not isinstance(spec, dict) or not isinstance(u, dict):
        return None
    files = spec.get("files") or []
    i = u.get("file_index")
    if i is None or i >= len(files):
        return None
    f = files[i]
    rois = _rois_of(spec, i)
    members = region_members(u.get("region_label", ""))
    return {"file_label": u.get("file_label"),
            "file": {k: _plain(f.get(k)) for k in _file_setting_names()},
            "rois": [[m, _shape(rois[m]) if m < len(rois) else None] for m in members],
            "group": bool(spec.get("group_overlapping_rois"))}


def input_changes(inputs, current) -> list[str]:
    """What changed between the inputs of some maps (:func:`unit_inputs` of each unit) and the
    ``current`` analysis (an :class:`~napari_tramway.pipeline.spec.AnalysisSpec` or its dict): a
    region's ROIs, a file's frame interval, σ or reader options, the grouping of overlapping ROIs.
    Empty when the maps still match their inputs. Files no longer in the current analysis are not
    compared (their maps are not wrong, only not analysed any more); ROI names are not compared
    (renaming does not change the maps)."""
    from ..core.roi import roi_label

    cur = current.to_dict() if hasattr(current, "to_dict") else dict(current or {})
    labels_now = _file_labels(cur)
    out: list[str] = []

    def note(text):
        if text not in out:
            out.append(text)

    for inp in inputs:
        if not inp or inp.get("file_label") not in labels_now:
            continue
        label = inp["file_label"]
        i_now = labels_now.index(label)
        f_now = (cur.get("files") or [])[i_now]
        if bool(inp.get("group")) != bool(cur.get("group_overlapping_rois")):
            note("the grouping of overlapping ROIs changed")
        for key in _file_setting_names():
            if (inp.get("file") or {}).get(key) != _plain(f_now.get(key)):
                what = {"localization_precision": "σ"}.get(key, key.replace("_", " "))
                note(f"the {what} of {label} changed")
        rois_now = _rois_of(cur, i_now)
        for m, shape in inp.get("rois") or []:
            now = _shape(rois_now[m]) if m < len(rois_now) else None
            if now != shape:
                name = (rois_now[m].get("name") if m < len(rois_now) else None) or roi_label(m)
                note(f"ROI {name} {'was removed' if now is None else 'changed'}")
    return out


def _file_setting_names() -> tuple[str, ...]:
    """The settings of a data file that its maps depend on (:data:`~napari_tramway.core.io.FILE_SETTINGS`)."""
    from ..core.io.settings import FILE_SETTINGS

    return tuple(p.name for p in FILE_SETTINGS.parameters)


def _file_labels(spec: dict) -> list[str]:
    from ..pipeline.spec import safe_label

    labels, seen = [], {}
    for f in spec.get("files") or []:
        base = safe_label(f.get("label") or Path(str(f.get("path", ""))).name.split(".")[0] or "file")
        k = seen.get(base, 0)
        seen[base] = k + 1
        labels.append(base if k == 0 else f"{base}-{k + 1}")
    return labels


def _shape(roi: dict | None):
    """A ROI's geometry (its name left out: renaming does not change the maps)."""
    if roi is None:
        return None
    return _plain({k: v for k, v in roi.items() if k != "name"})


def _plain(value):
    """JSON-comparable form (floats rounded to 1e-9, tuples as lists, empty mappings as None)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())} or None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value
