"""The preset stages and the function that runs one unit: read → crop → mesh → assign → fit → store.

Stages (reference §5.3): ``tessellate`` (one mesh per file × support region, stored under
``tessellations/``), ``infer`` (maps per unit, on the stored mesh) and ``tessellate_and_infer``
(the default: both, per unit; a stored mesh with the same settings is reused). A *chain* runs
stages one after the other as one run: ``tessellate_then_infer`` computes the mesh of every
region first, then the maps of every unit on them (on a cluster, two array jobs, the second
submitted with ``--dependency=afterok`` on the first). A unit already done with the same settings
is skipped unless ``overwrite``; a done unit computed with other settings or from another content
of its data file is *stale* and recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .._version import __version__
from ..core.acquisition import Acquisition
from ..core.archive import read_archive
from ..core.errors import ArchiveError
from ..core.io.provenance import Provenance
from .data import DEFAULT_CACHE, region_by_label, support_regions
from .inputs import UnitInput
from .spec import AnalysisSpec
from .store import TESSELLATION_FORMAT, UNIT_FORMAT, ResultStore
from .units import Unit, segment_mask, time_segments

if TYPE_CHECKING:
    import pandas as pd

#: chains of stages run one after the other as one run (see the module docstring)
CHAINS = {"tessellate_then_infer": ("tessellate", "infer")}


class Cancelled(Exception):
    """Raised inside a unit when its run was cancelled; nothing is written for that unit."""


def stage_chain(stage: str) -> tuple[str, ...]:
    """The stages a run of ``stage`` goes through: ``('tessellate', 'infer')`` for
    ``tessellate_then_infer``, ``(stage,)`` for a single stage."""
    return CHAINS.get(stage, (stage,))


def stage_units(stage: str, units: list[Unit]) -> list[Unit]:
    """The units a stage works on: one per file × region for ``tessellate``, every unit otherwise."""
    if stage != "tessellate":
        return list(units)
    seen, out = set(), []
    for u in units:
        if u.region_key not in seen:
            seen.add(u.region_key)
            out.append(Unit(u.file_index, u.file_label, u.region_label, n_steps=None, data_digest=u.data_digest))
    return out


class UnitData(NamedTuple):
    """What a unit computes on: its support region, the region's steps (µm, s; every time window
    of the region shares its mesh), the steps of the unit's time segment, the reading of the file
    (:class:`~napari_tramway.core.io.Provenance`, for the result's metadata) and the steps'
    :class:`~napari_tramway.core.acquisition.Acquisition` (frame interval s, σ µm, static filter
    threshold µm²), which goes to the time windows and the fit."""

    region: object
    steps: pd.DataFrame
    segment: pd.DataFrame
    reading: Provenance
    acquisition: Acquisition


def unit_steps(spec: AnalysisSpec, unit: Unit, cache=None, unit_input: UnitInput | None = None) -> UnitData:
    """The :class:`UnitData` of ``unit``.

    The region's steps come from ``cache`` (read and cropped once per file × region, shared by the
    units of every time window). A ``unit_input`` (a region's steps uploaded to a cluster, with the
    reading, acquisition and bounds of the file they were cut from) replaces reading and cropping
    the data file.
    """
    cache = cache or DEFAULT_CACHE
    if unit_input is None:
        reading = cache.trajectory_file(spec, unit.file_index).provenance
        region, steps, acquisition = cache.region_data(spec, unit.file_index, unit.region_label)
    else:
        steps, reading, acquisition = unit_input.steps, unit_input.reading, unit_input.acquisition
        region = _region_of_input(spec, unit, unit_input)
    if unit.segment is None:
        return UnitData(region, steps, steps, reading, acquisition)
    segs = time_segments(spec, steps, acquisition.frame_interval)
    last = segs is not None and unit.segment_index == len(segs) - 1
    seg = steps.loc[segment_mask(steps["t"].to_numpy(), unit.segment, last)].reset_index(drop=True)
    return UnitData(region, steps, seg, reading, acquisition)


def _region_of_input(spec, unit, unit_input):
    from ..core.roi import FullRegion

    if not spec.rois_for(unit.file_index):
        if unit_input.region_bounds is not None:
            return FullRegion(unit_input.region_bounds)
        x, y = unit_input.steps["x"].to_numpy(), unit_input.steps["y"].to_numpy()
        return FullRegion((float(x.min()), float(y.min()), float(x.max()), float(y.max())))
    return region_by_label(support_regions(spec, unit.file_index, None), unit.region_label)


def _stored_mesh(store: ResultStore, unit: Unit, fingerprint: str):
    """The mesh of the ``tessellate`` stage for the unit's region, if valid and made with these settings."""
    from ..core.meshes import Mesh

    path = store.tessellation_path(unit)
    if not path.exists() or store.check(path, verify=True)[0] != "done":
        return None
    try:
        arrays, meta, _ = read_archive(path, TESSELLATION_FORMAT)
        if meta.get("fingerprint") != fingerprint:
            return None
        return Mesh.from_arrays(arrays, meta["mesh"])
    except (ArchiveError, KeyError):
        return None


def _mesh_for(spec: AnalysisSpec, store: ResultStore | None, unit: Unit, region, steps, stage: str,
              timings: dict, cache, precropped: bool):
    from ..core.meshes import build_mesh

    fp = spec.unit_fingerprint(unit, "mesh")
    t0 = time.perf_counter()
    if store is not None:
        mesh = _stored_mesh(store, unit, fp)
        if mesh is not None:
            timings["load_mesh"] = time.perf_counter() - t0
            return mesh
        if stage == "infer":
            raise RuntimeError(
                f"unit {unit.label}: no valid mesh for region {unit.region_key} with these mesh settings; "
                "run the 'tessellate' stage first (or use 'tessellate_and_infer')"
            )
    if len(steps) == 0:
        raise ValueError(f"unit {unit.label}: not a single step in region {unit.region_label!r}")
    if precropped:  # a cluster task: its own region's steps, one unit per process
        mesh = build_mesh(spec.mesh.parameters, steps[["x", "y"]].to_numpy(), steps=steps, region=region)
    else:  # one mesh per region, shared by the units of its time windows and the GUI's preview
        mesh = cache.region_mesh(spec, unit.file_index, unit.region_label)
    timings["mesh"] = time.perf_counter() - t0
    return mesh


def run_unit(
    spec: AnalysisSpec,
    unit: Unit,
    store: ResultStore | None,
    *,
    stage: str | None = None,
    cache=None,
    unit_input: UnitInput | None = None,
    progress: Callable[[float | None, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    environment: str = "inprocess",
):
    """Compute one unit and write its result to ``store`` (when given); return ``(maps, meta)``.

    ``unit_input``: the unit's region's pre-cropped steps (a cluster task) with the reading and
    acquisition of the file they were cut from; otherwise the file is read (through ``cache``).
    The acquisition (frame interval s, σ µm, static filter µm²) goes to the fit, whose σ is the
    file's unless the model's parameters set one; the result metadata records the reading under
    ``provenance``.

    ``progress(fraction or None, message)`` is called at each step and at least once per optimizer
    iteration; ``cancel()`` returning True stops the unit (raises :class:`Cancelled`, nothing written).
    """
    from ..core.meshes import assign, save_mesh
    from ..core.models import fit
    from ..core.trajectories import trajectory_ends

    stage = stage or spec.stage
    if stage in CHAINS:
        raise ValueError(f"{stage!r} chains the stages {', '.join(CHAINS[stage])}: an environment runs them "
                         "one after the other, a unit runs one stage")
    cancel = cancel or (lambda: False)
    timings: dict[str, float] = {}
    started = time.time()
    t_all = time.perf_counter()

    def report(fraction, message):
        if progress is not None:
            progress(fraction, message)
        if cancel():
            raise Cancelled(unit.label)

    cache = cache or DEFAULT_CACHE
    report(0.0, "reading data")
    t0 = time.perf_counter()
    region, all_steps, seg_steps, reading, acquisition = unit_steps(spec, unit, cache, unit_input)
    timings["read_crop"] = time.perf_counter() - t0
    report(0.05, f"{len(seg_steps)} steps; building mesh")
    mesh = _mesh_for(spec, store, unit, region, all_steps, stage, timings, cache, unit_input is not None)
    base_meta = {"unit": unit.to_dict(), "stage": stage, "spec": spec.to_dict(), "environment": environment,
                 "software": f"napari-tramway {__version__}", "started": started,
                 "data_sha256": unit.data_digest, "provenance": reading.to_dict()}

    if stage == "tessellate":
        t0 = time.perf_counter()
        assignment = assign(mesh, all_steps[["x", "y"]].to_numpy(), region=region, ends=trajectory_ends(all_steps),
                            settings=spec.mesh.parameters)
        timings["assign"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_all
        if store is not None:
            path = store.tessellation_path(unit)
            save_mesh(path, mesh, assignment, fmt=TESSELLATION_FORMAT,
                      meta={**base_meta, "fingerprint": spec.unit_fingerprint(unit, "mesh"), "timings": timings,
                            "n_cells": mesh.n_cells})
            store.write_marker(path, TESSELLATION_FORMAT, unit.region_key, spec.unit_fingerprint(unit, "mesh"),
                               unit.data_digest)
        report(1.0, f"{mesh.n_cells} cells")
        return None, {**base_meta, "timings": timings, "n_cells": mesh.n_cells}

    report(0.15, f"{mesh.n_cells} cells; assigning")
    t0 = time.perf_counter()
    assignment = assign(mesh, seg_steps[["x", "y"]].to_numpy(), region=region, ends=trajectory_ends(seg_steps),
                        settings=spec.mesh.parameters)   # min_location_count counts locations, as TRamWAy
    timings["assign"] = time.perf_counter() - t0
    if assignment.point.size == 0:
        raise ValueError(f"unit {unit.label}: no step falls in a cell of the mesh ({len(seg_steps)} steps in the segment)")

    def fit_progress(p):  # a core.models Progress, at least once per optimizer iteration
        message = f"{p.stage}, iteration {p.iteration}" if p.iteration else p.stage
        report(0.2 + 0.75 * p.fraction, message)

    report(0.2, f"fitting {spec.model.name.upper()} on {mesh.n_cells} cells")
    t0 = time.perf_counter()
    maps = fit(spec.model.parameters, mesh, assignment, seg_steps, acquisition, progress=fit_progress, cancel=cancel)
    timings["fit"] = time.perf_counter() - t0
    if getattr(maps, "status", None) == "interrupted" and cancel():
        raise Cancelled(unit.label)
    timings["total"] = time.perf_counter() - t_all
    meta = {**base_meta, "fingerprint": spec.unit_fingerprint(unit), "timings": timings, "n_steps": int(len(seg_steps)),
            "n_trajectories": int(seg_steps["n"].nunique()) if "n" in seg_steps else None,
            "n_cells": int(mesh.n_cells), "n_cells_with_steps": int(maps.fitted.sum()), "finished": time.time(),
            "model_status": getattr(maps, "status", None)}
    if store is not None:
        arrays, maps_meta = maps.to_arrays()
        meta["maps"] = maps_meta
        store.write_result(store.unit_path(unit), UNIT_FORMAT, arrays, meta)
    report(1.0, "done")
    return maps, meta
