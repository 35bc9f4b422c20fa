"""Work units: file × support region × time segment, each with a stable label.

A unit's label is ``<file label>/<region label>`` (``roi000``, ``roi000-002-003`` or ``all``),
followed by ``/<segment label>`` (``t=0.05-30.05s``) when time windows are used. Labels are
path-safe and name the unit's result file in the store. A unit also carries the SHA-256 of its
data file's content (:mod:`.digests`), part of its fingerprint: a file replaced under the same
name makes its units stale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .data import DEFAULT_CACHE
from .digests import file_digest
from .spec import AnalysisSpec, safe_label

if TYPE_CHECKING:  # numpy: imported by the functions that use it (a run is started without it)
    import numpy as np


@dataclass(frozen=True)
class Unit:
    """One piece of work. ``segment`` is the half-open window [t0, t1) in s, or None;
    ``data_digest`` the SHA-256 of the data file's content when the unit was planned."""

    file_index: int
    file_label: str
    region_label: str
    segment_index: int | None = None
    segment: tuple[float, float] | None = None
    n_steps: int | None = None
    data_digest: str | None = None

    @property
    def segment_label(self) -> str | None:
        if self.segment is None:
            return None
        from ..core.meshes.time import segment_label

        return segment_label(*self.segment)

    @property
    def region_key(self) -> str:
        return f"{self.file_label}/{safe_label(self.region_label)}"

    @property
    def label(self) -> str:
        base = self.region_key
        return base if self.segment is None else f"{base}/{self.segment_label}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["segment"] = None if self.segment is None else list(self.segment)
        d["label"] = self.label
        return d

    @classmethod
    def from_dict(cls, d) -> Unit:
        seg = d.get("segment")
        return cls(file_index=int(d["file_index"]), file_label=d["file_label"], region_label=d["region_label"],
                   segment_index=d.get("segment_index"), segment=None if seg is None else (float(seg[0]), float(seg[1])),
                   n_steps=d.get("n_steps"), data_digest=d.get("data_digest"))


def time_segments(spec: AnalysisSpec, steps, frame_interval: float | None) -> np.ndarray | None:
    """The (S, 2) windows [t0, t1) (s) of a region's steps, or None without time windows.

    ``frame_interval`` (s) is the file's, as its reader decided it (windows counted in frames).
    """
    if spec.time_windows is None:
        return None
    import numpy as np

    from ..core.meshes.time import SlidingWindows

    tw = spec.time_windows
    windows = SlidingWindows(duration=tw.duration, shift=tw.shift, frames=tw.frames)
    t = steps["t"].to_numpy()
    if len(t) == 0:
        return np.zeros((0, 2))
    return np.asarray(windows.segments(t, frame_interval=frame_interval), dtype=float)


def plan_units(spec: AnalysisSpec, cache=None, on_file=None) -> list[Unit]:
    """Enumerate the units of ``spec``; reads and hashes each data file once (through ``cache``
    and :func:`~.digests.file_digest`).

    The :class:`~napari_tramway.core.errors.UnitWarning` s of each file's reading (units assumed
    against the values' appearance) are emitted here, once per plan. ``on_file(index, trajectory
    file)`` is called after each file is read. Units come in a stable order: files in spec order,
    regions by smallest ROI index, segments by time.
    """
    cache = cache or DEFAULT_CACHE
    labels = spec.file_labels()
    units: list[Unit] = []
    for i, f in enumerate(spec.files):
        tf = cache.trajectory_file(spec, i)
        _warn(tf.provenance.warnings)
        digest = file_digest(spec.resolve_path(f))
        if on_file is not None:
            on_file(i, tf)
        for region in cache.regions(spec, i):
            _, steps = cache.region_steps(spec, i, region.label)
            segs = time_segments(spec, steps, tf.frame_interval)
            if segs is None:
                units.append(Unit(i, labels[i], region.label, n_steps=len(steps), data_digest=digest))
                continue
            t = steps["t"].to_numpy()
            for k, (t0, t1) in enumerate(segs):
                mask = segment_mask(t, (t0, t1), last=k == len(segs) - 1)
                units.append(Unit(i, labels[i], region.label, k, (float(t0), float(t1)), n_steps=int(mask.sum()),
                                  data_digest=digest))
    return units


def _warn(messages) -> None:
    import warnings

    from ..core.errors import UnitWarning

    for message in messages:
        warnings.warn(message, UnitWarning, stacklevel=3)


def segment_mask(t: np.ndarray, segment, last: bool) -> np.ndarray:
    """Steps whose origin time is in the window [t0, t1) — [t0, t1] for the last window."""
    t0, t1 = segment
    return (t >= t0) & ((t <= t1) if last else (t < t1))
