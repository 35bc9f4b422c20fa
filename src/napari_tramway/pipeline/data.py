"""Reading a spec's data files once, and cutting them into the steps of each support region.

A file is read with :func:`~napari_tramway.core.io.read_trajectory_file` and its settings (the
spec's :class:`~napari_tramway.pipeline.spec.DataFile`); what the read decided travels as typed
values — the :class:`~napari_tramway.core.io.TrajectoryFile`, its
:class:`~napari_tramway.core.acquisition.Acquisition` (frame interval s, σ µm) and its
:class:`~napari_tramway.core.io.Provenance` (units, factors, sources) — to where they are used:
the acquisition to the static-step filter (which adds its threshold, µm²), the time windows in
frames and the fit, the provenance to each unit's result metadata.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..core.acquisition import Acquisition

if TYPE_CHECKING:  # the command line plans a run up to the first read without pandas or shapely
    import pandas as pd


class DataCache:
    """Each data file read once, and what is derived from it computed once.

    Files are keyed by (path, settings, mtime, size); a file's support regions, region steps and
    region meshes are memoised with it and dropped with it (LRU over ``max_files``), so planning a
    run, the units of every time window of a region, and the GUI's mesh preview share one read,
    one crop and one mesh per region. Reads do not emit :class:`~napari_tramway.core.io.UnitWarning`
    (they are in the provenance; :func:`~napari_tramway.pipeline.units.plan_units` shows them).
    """

    def __init__(self, max_files: int = 2):
        self.max_files = max_files
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, path, settings) -> dict:
        from ..core.io import FileSettings, read_trajectory_file

        if not isinstance(settings, FileSettings):  # keywords of read_trajectories (scripts, tests)
            settings = FileSettings.from_dict(settings)
        st = os.stat(path)
        key = (str(path), settings, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        entry = {"file": read_trajectory_file(path, settings, warn=False), "derived": {}}
        with self._lock:
            entry = self._items.setdefault(key, entry)
            while len(self._items) > self.max_files:
                self._items.popitem(last=False)
        return entry

    def trajectory_file(self, spec, file_index: int):
        """The :class:`~napari_tramway.core.io.TrajectoryFile` of a file of ``spec`` (read once
        while it is unchanged): locations (µm, s), settings and provenance."""
        f = spec.files[file_index]
        return self._entry(spec.resolve_path(f), f.settings)["file"]

    def read(self, path, settings) -> pd.DataFrame:
        """The locations table of a file read with ``settings`` (a ``FileSettings``, or a dict of
        them), read once while it is unchanged."""
        return self._entry(path, settings)["file"].locations

    def memo(self, spec, file_index: int, key: tuple, compute):
        """``compute(trajectory file)`` once per data file of ``spec`` and ``key`` (kept while the
        file is cached)."""
        f = spec.files[file_index]
        entry = self._entry(spec.resolve_path(f), f.settings)
        derived = entry["derived"]
        if key not in derived:
            derived[key] = compute(entry["file"])
        return derived[key]

    def regions(self, spec, file_index: int) -> list:
        """The support regions of a file (see :func:`support_regions`)."""
        key = ("regions", _rois_key(spec, file_index), spec.group_overlapping_rois)
        return self.memo(spec, file_index, key, lambda tf: support_regions(spec, file_index, tf.locations))

    def region_data(self, spec, file_index: int, label: str):
        """``(region, steps, acquisition)`` of the support region ``label`` of a file (see
        :func:`region_steps`): the steps the units fit and their frame interval, σ and filter."""
        key = ("steps", _rois_key(spec, file_index), spec.group_overlapping_rois, spec.discard_static, label)

        def compute(tf):
            region = region_by_label(self.regions(spec, file_index), label)
            return (region, *region_steps(spec, region, tf.locations, tf.acquisition))

        return self.memo(spec, file_index, key, compute)

    def region_steps(self, spec, file_index: int, label: str):
        """``(region, steps)`` of the support region ``label`` of a file (see :meth:`region_data`)."""
        return self.region_data(spec, file_index, label)[:2]

    def region_mesh(self, spec, file_index: int, label: str):
        """The mesh of a support region, built once from all of its steps (every time window of the
        region uses it); raises ``ValueError`` for a region without steps."""
        from ..core.meshes import build_mesh

        region, steps = self.region_steps(spec, file_index, label)
        if len(steps) == 0:
            raise ValueError(f"not a single step in region {label!r} of file {spec.files[file_index].path}")
        key = ("mesh", _rois_key(spec, file_index), spec.group_overlapping_rois, spec.discard_static, label,
               spec.fingerprint("mesh"))
        return self.memo(spec, file_index, key, lambda _tf: build_mesh(
            spec.mesh.parameters, steps[["x", "y"]].to_numpy(), steps=steps, region=region))


def _rois_key(spec, file_index: int) -> str:
    import json

    return json.dumps([r.to_dict() for r in spec.rois_for(file_index)], sort_keys=True)


def support_regions(spec, file_index: int, locations: pd.DataFrame | None = None) -> list:
    """The support regions of one file: grouped ROIs, or one :class:`FullRegion` labelled ``all``."""
    from ..core.roi import FullRegion, group_overlapping

    rois = spec.rois_for(file_index)
    if not rois:
        return [FullRegion.of(locations) if locations is not None else FullRegion()]
    return group_overlapping(rois, group=spec.group_overlapping_rois)


def region_steps(spec, region, locations: pd.DataFrame, acquisition: Acquisition) -> tuple[pd.DataFrame, Acquisition]:
    """``(steps, acquisition)``: the steps whose origin is in ``region``, static steps removed when
    the spec says so (mean squared displacement per axis below σ², σ = the acquisition's, µm), and
    the acquisition with the filter's threshold, so that the models account for the filter."""
    return _steps_to_fit(locations, region, spec.discard_static, acquisition)


def _steps_to_fit(locations, region, discard_static: bool, acquisition: Acquisition):
    from ..core.roi import crop
    from ..core.trajectories import discard_static as drop_static_steps

    steps = crop(locations, region)
    if discard_static and len(steps):
        return drop_static_steps(steps, acquisition)
    return steps, acquisition


def fit_step_count(locations: pd.DataFrame, region, acquisition: Acquisition, *, discard_static: bool = False) -> int:
    """How many steps the units of ``region`` fit: steps whose origin is in the region, after the
    static filter when ``discard_static`` (the spec's setting, with σ = the acquisition's); the
    count the ROI panel shows."""
    return int(len(_steps_to_fit(locations, region, discard_static, acquisition)[0]))


def region_by_label(regions, label: str):
    for r in regions:
        if r.label == label:
            return r
    raise KeyError(f"no support region {label!r}; regions: {', '.join(r.label for r in regions)}")


DEFAULT_CACHE = DataCache()

__all__ = ["DataCache", "DEFAULT_CACHE", "support_regions", "region_steps", "fit_step_count", "region_by_label"]
