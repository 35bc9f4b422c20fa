"""Reading a spec's data files once, and cutting them into the steps of each support region."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import pandas as pd

from ..core.roi import FullRegion, SupportRegion, crop, group_overlapping
from ..core.trajectories import discard_static


class DataCache:
    """A small LRU cache of locations tables keyed by (path, options, mtime, size)."""

    def __init__(self, max_files: int = 2):
        self.max_files = max_files
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def read(self, path, options: dict) -> pd.DataFrame:
        from ..core.io import read_trajectories

        st = os.stat(path)
        key = (str(path), repr(sorted(options.items())), st.st_mtime_ns, st.st_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        df = read_trajectories(path, **options)
        with self._lock:
            self._items[key] = df
            while len(self._items) > self.max_files:
                self._items.popitem(last=False)
        return df


DEFAULT_CACHE = DataCache()


def support_regions(spec, file_index: int, locations: pd.DataFrame | None = None) -> list:
    """The support regions of one file: grouped ROIs, or one :class:`FullRegion` labelled ``all``."""
    rois = spec.rois_for(file_index)
    if not rois:
        return [FullRegion.of(locations) if locations is not None else FullRegion()]
    return group_overlapping(rois, group=spec.group_overlapping_rois)


def region_steps(spec, region, locations: pd.DataFrame) -> pd.DataFrame:
    """Steps whose origin is in ``region``, static steps removed when the spec says so (σ² threshold)."""
    steps = crop(locations, region)
    if spec.discard_static and len(steps):
        steps = discard_static(steps)
    return steps


def region_by_label(regions, label: str):
    for r in regions:
        if r.label == label:
            return r
    raise KeyError(f"no support region {label!r}; regions: {', '.join(r.label for r in regions)}")


__all__ = ["DataCache", "DEFAULT_CACHE", "support_regions", "region_steps", "region_by_label", "SupportRegion"]
