"""The preset stages and the function that runs one unit: read → crop → mesh → assign → fit → store.

Stages (reference §5.3): ``tessellate`` (one mesh per file × support region, stored under
``tessellations/``), ``infer`` (maps per unit, on the stored mesh) and ``tessellate_and_infer``
(the default: both, per unit; a stored mesh with the same settings is reused). A unit already
done with the same settings is skipped unless ``overwrite``; a done unit computed with other
settings is *stale* and recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import __version__
from ..core.archive import read_archive
from ..core.errors import ArchiveError
from .data import DEFAULT_CACHE, region_by_label, region_steps, support_regions
from .spec import AnalysisSpec
from .store import TESSELLATION_FORMAT, UNIT_FORMAT, ResultStore
from .units import Unit


class Cancelled(Exception):
    """Raised inside a unit when its run was cancelled; nothing is written for that unit."""


def stage_units(stage: str, units: list[Unit]) -> list[Unit]:
    """The units a stage works on: one per file × region for ``tessellate``, every unit otherwise."""
    if stage != "tessellate":
        return list(units)
    seen, out = set(), []
    for u in units:
        if u.region_key not in seen:
            seen.add(u.region_key)
            out.append(Unit(u.file_index, u.file_label, u.region_label, n_steps=None))
    return out


def _segment_mask(t: np.ndarray, segment, last: bool) -> np.ndarray:
    t0, t1 = segment
    return (t >= t0) & ((t <= t1) if last else (t < t1))


def unit_steps(spec: AnalysisSpec, unit: Unit, cache=None, region_steps_table: pd.DataFrame | None = None):
    """``(region, all steps of the region, steps of the unit's segment)`` for ``unit``.

    ``region_steps_table``, when given (e.g. pre-cropped inputs uploaded to a cluster), replaces
    reading and cropping the data file.
    """
    cache = cache or DEFAULT_CACHE
    f = spec.files[unit.file_index]
    if region_steps_table is None:
        locations = cache.read(spec.resolve_path(f), f.read_options())
        region = region_by_label(support_regions(spec, unit.file_index, locations), unit.region_label)
        steps = region_steps(spec, region, locations)
    else:
        steps = region_steps_table
        region = _region_from_steps(spec, unit, steps)
    if unit.segment is None:
        return region, steps, steps
    from .units import time_segments

    segs = time_segments(spec, steps)
    last = segs is not None and unit.segment_index == len(segs) - 1
    mask = _segment_mask(steps["t"].to_numpy(), unit.segment, last)
    seg = steps.loc[mask].reset_index(drop=True)
    seg.attrs.update(steps.attrs)
    return region, steps, seg


def _region_from_steps(spec, unit, steps):
    from ..core.roi import FullRegion

    rois = spec.rois_for(unit.file_index)
    if not rois:
        bounds = steps.attrs.get("region_bounds")
        if bounds is not None:
            return FullRegion(bounds)
        x, y = steps["x"].to_numpy(), steps["y"].to_numpy()
        return FullRegion((float(x.min()), float(y.min()), float(x.max()), float(y.max())))
    return region_by_label(support_regions(spec, unit.file_index, None), unit.region_label)


def _mesh_for(spec: AnalysisSpec, store: ResultStore | None, unit: Unit, region, steps, stage: str, timings: dict):
    from ..core.meshes import build_mesh, load_mesh

    fp = spec.fingerprint("mesh")
    if store is not None:
        tpath = store.tessellation_path(unit)
        state, _ = store.check(tpath, verify=True) if tpath.exists() else ("missing", "")
        if state == "done":
            try:
                _, meta, _ = read_archive(tpath, TESSELLATION_FORMAT)
                if meta.get("fingerprint") == fp:
                    t0 = time.perf_counter()
                    mesh, _ = load_mesh(tpath)
                    timings["load_mesh"] = time.perf_counter() - t0
                    return mesh
            except ArchiveError:
                pass
        if stage == "infer":
            raise RuntimeError(
                f"unit {unit.label}: no valid mesh for region {unit.region_key} with these mesh settings; "
                "run the 'tessellate' stage first (or use 'tessellate_and_infer')"
            )
    if len(steps) == 0:
        raise ValueError(f"unit {unit.label}: not a single step in region {unit.region_label!r}")
    t0 = time.perf_counter()
    points = steps[["x", "y"]].to_numpy()
    mesh = build_mesh(spec.mesh.method, points, steps=steps, region=region, **spec.mesh.parameters)
    timings["mesh"] = time.perf_counter() - t0
    return mesh


def run_unit(
    spec: AnalysisSpec,
    unit: Unit,
    store: ResultStore | None,
    *,
    stage: str | None = None,
    cache=None,
    steps: pd.DataFrame | None = None,
    progress: Callable[[float | None, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    environment: str = "inprocess",
):
    """Compute one unit and write its result to ``store`` (when given); return ``(maps, meta)``.

    ``progress(fraction or None, message)`` is called at each step and at least once per optimizer
    iteration; ``cancel()`` returning True stops the unit (raises :class:`Cancelled`, nothing written).
    """
    from ..core.meshes import assign, save_mesh
    from ..core.models import fit

    stage = stage or spec.stage
    cancel = cancel or (lambda: False)
    timings: dict[str, float] = {}
    started = time.time()
    t_all = time.perf_counter()

    def report(fraction, message):
        if progress is not None:
            progress(fraction, message)
        if cancel():
            raise Cancelled(unit.label)

    report(0.0, "reading data")
    t0 = time.perf_counter()
    region, all_steps, seg_steps = unit_steps(spec, unit, cache, steps)
    timings["read_crop"] = time.perf_counter() - t0
    report(0.05, f"{len(seg_steps)} steps; building mesh")
    mesh = _mesh_for(spec, store, unit, region, all_steps, stage, timings)
    fingerprint = spec.fingerprint()
    base_meta = {"unit": unit.to_dict(), "stage": stage, "spec": spec.to_dict(), "environment": environment,
                 "software": f"napari-tramway {__version__}", "started": started}

    if stage == "tessellate":
        t0 = time.perf_counter()
        assignment = assign(mesh, all_steps[["x", "y"]].to_numpy(), region=region,
                            **spec.mesh.assignment_parameters())
        timings["assign"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_all
        if store is not None:
            path = store.tessellation_path(unit)
            save_mesh(path, mesh, assignment, fmt=TESSELLATION_FORMAT,
                      meta={**base_meta, "fingerprint": spec.fingerprint("mesh"), "timings": timings,
                            "n_cells": mesh.n_cells})
            store.write_marker(path, TESSELLATION_FORMAT, unit.region_key)
        report(1.0, f"{mesh.n_cells} cells")
        return None, {**base_meta, "timings": timings, "n_cells": mesh.n_cells}

    report(0.15, f"{mesh.n_cells} cells; assigning")
    t0 = time.perf_counter()
    assignment = assign(mesh, seg_steps[["x", "y"]].to_numpy(), region=region, **spec.mesh.assignment_parameters())
    timings["assign"] = time.perf_counter() - t0
    if assignment.point.size == 0:
        raise ValueError(f"unit {unit.label}: no step falls in a cell of the mesh ({len(seg_steps)} steps in the segment)")

    def fit_progress(info=None, *args, **kwargs):
        frac, msg = _fit_progress(info)
        report(None if frac is None else 0.2 + 0.75 * frac, msg)

    report(0.2, f"fitting {spec.model.name.upper()} on {mesh.n_cells} cells")
    t0 = time.perf_counter()
    maps = fit(spec.model.name, mesh, assignment, seg_steps, progress=fit_progress, cancel=cancel,
               **spec.model.parameters)
    timings["fit"] = time.perf_counter() - t0
    if getattr(maps, "status", None) == "interrupted" and cancel():
        raise Cancelled(unit.label)
    timings["total"] = time.perf_counter() - t_all
    meta = {**base_meta, "fingerprint": fingerprint, "timings": timings, "n_steps": int(len(seg_steps)),
            "n_cells": int(mesh.n_cells), "finished": time.time(), "model_status": getattr(maps, "status", None)}
    if store is not None:
        arrays, maps_meta = maps.to_arrays()
        meta["maps"] = maps_meta
        store.write_result(store.unit_path(unit), UNIT_FORMAT, arrays, meta)
    report(1.0, "done")
    return maps, meta


def _fit_progress(info) -> tuple[float | None, str]:
    """Normalise the models' progress information to (fraction or None, message)."""
    if info is None:
        return None, "fitting"
    if isinstance(info, (int, float)):
        return (float(info), "fitting") if 0 <= info <= 1 else (None, f"iteration {int(info)}")
    if isinstance(info, dict):
        frac = info.get("fraction")
        it = info.get("iteration")
        msg = f"iteration {it}" if it is not None else str(info.get("message", "fitting"))
        if info.get("objective") is not None:
            msg += f", objective {info['objective']:.6g}"
        return (None if frac is None else float(frac)), msg
    it = getattr(info, "iteration", None)
    frac = getattr(info, "fraction", None)
    return frac, f"iteration {it}" if it is not None else "fitting"
