"""Sliding time windows repeating a spatial mesh over time segments (reference §3.3 'Time').

Segments: ``t0 = start_time`` (default: the earliest t), ``n = max(1, round((t_max − t0 −
duration)/shift) + 1)``, segment ``k = [t0 + k·shift, t0 + k·shift + duration)``, half-open, as
TRamWAy. **Fixed:** TRamWAy leaves unassigned the points after the end of the last segment (its
count is rounded, and the last instant ``t_max`` itself falls outside a half-open window ending
at it). Here, unless ``extend_last=False``, the last segment is stretched to just past ``t_max``
so that no step is silently dropped; it may then last up to ``shift/2`` longer than the others.

Assignment is spatial first (nearest cell of every step once), then ``min_location_count`` and
``knn`` are applied within each segment. The flat cell index of (segment ``s``, cell ``c``) is
``s·K + c`` with ``K`` spatial cells, as TRamWAy's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError
from .assignment import nearest_cells, refine
from .base import Assignment


def format_time(t: float) -> str:
    """``%.3f`` with trailing zeros (and a trailing dot) stripped: 0.05 → ``0.05``, 30 → ``30``."""
    s = f"{t:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def segment_label(t0: float, t1: float) -> str:
    """``t=0.05-30.05s`` (TRamWAy's label after its ``"<map> -- "`` prefix)."""
    return f"t={format_time(t0)}-{format_time(t1)}s"


@dataclass(frozen=True)
class SlidingWindows:
    """Time windows of ``duration`` every ``shift`` (default: ``duration``), in s or in frames.

    Parameters
    ----------
    duration : float
        Window length (s, or frames when ``frames``).
    shift : float, optional
        Time between window starts (same unit); default ``duration`` (no overlap).
    frames : bool
        ``duration`` and ``shift`` are numbers of frames, converted with the frame interval (s)
        that :meth:`segments` is then given (an error without it: there is no estimate here).
    start_time : float, optional
        Start of the first window (s); default the earliest time of the data.
    extend_last : bool
        Stretch the last window to include the latest time (default; see the module docstring).
    """

    duration: float
    shift: float | None = None
    frames: bool = False
    start_time: float | None = None
    extend_last: bool = True

    def __post_init__(self):
        if not (np.isfinite(self.duration) and self.duration > 0):
            raise ParameterError("duration", f"must be > 0, got {self.duration!r}")
        if self.shift is not None and not (np.isfinite(self.shift) and self.shift > 0):
            raise ParameterError("shift", f"must be > 0, got {self.shift!r}")

    def _lengths(self, t, frame_interval):
        duration = float(self.duration)
        shift = float(self.shift if self.shift is not None else self.duration)
        if self.frames:
            if frame_interval is None:
                raise ParameterError("frame_interval", "windows counted in frames need the frame interval (s)")
            duration, shift = duration * float(frame_interval), shift * float(frame_interval)
        return duration, shift

    def segments(self, t, frame_interval: float | None = None) -> np.ndarray:
        """The windows ``[t0, t1)`` (s), an (S, 2) float array (S ≥ 1)."""
        t = np.asarray(t, float)
        t = t[np.isfinite(t)]
        if t.size == 0:
            raise ValueError("no time values to place windows on")
        duration, shift = self._lengths(t, frame_interval)
        t0 = float(t.min()) if self.start_time is None else float(self.start_time)
        t_max = float(t.max())
        n = max(1, int(round((t_max - t0 - duration) / shift)) + 1)
        starts = t0 + np.arange(n) * shift
        seg = np.column_stack([starts, starts + duration])
        if self.extend_last and seg[-1, 1] <= t_max and t_max >= seg[-1, 0]:
            seg[-1, 1] = np.nextafter(t_max, np.inf)
        return seg

    def segment_labels(self, t, frame_interval: float | None = None) -> list[str]:
        """``t=<t0>-<t1>s`` per segment."""
        return [segment_label(a, b) for a, b in self.segments(t, frame_interval)]

    def segment_points(self, t, frame_interval: float | None = None) -> list[np.ndarray]:
        """Row indices (sorted) of the times in each segment."""
        t = np.asarray(t, float)
        return _rows_in(self.segments(t, frame_interval), t)

    def segment_masks(self, t, frame_interval: float | None = None) -> np.ndarray:
        """(S, N) bool: whether each time lies in each segment."""
        t = np.asarray(t, float)
        seg = self.segments(t, frame_interval)
        return (t[None, :] >= seg[:, :1]) & (t[None, :] < seg[:, 1:])

    def to_dict(self) -> dict:
        return {"duration": self.duration, "shift": self.shift, "frames": self.frames,
                "start_time": self.start_time, "extend_last": self.extend_last}


def _rows_in(segments: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Row indices (sorted) of the times ``t`` in each window ``[t0, t1)`` of ``segments``."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    lo = np.searchsorted(ts, segments[:, 0], side="left")
    hi = np.searchsorted(ts, segments[:, 1], side="left")
    return [np.sort(order[a:b]) for a, b in zip(lo, hi)]


@dataclass
class TimeAssignment:
    """Per-segment assignments of steps to the cells of one spatial mesh.

    ``assignments[s].point`` are row indices into the full points table; ``segments[s]`` is the
    window ``[t0, t1)``; ``labels[s]`` its ``t=...s`` label.
    """

    segments: np.ndarray
    labels: list
    assignments: list
    n_spatial_cells: int

    @property
    def n_segments(self) -> int:
        return len(self.assignments)

    def flat(self) -> Assignment:
        """One assignment over ``S·K`` cells: cell index ``s·K + c``."""
        k = self.n_spatial_cells
        point = np.concatenate([a.point for a in self.assignments]) if self.assignments else np.zeros(0, np.int64)
        cell = np.concatenate([a.cell + s * k for s, a in enumerate(self.assignments)]) if self.assignments \
            else np.zeros(0, np.int64)
        return Assignment(point=point.astype(np.int64), cell=cell.astype(np.int64), n_cells=k * self.n_segments)

    def counts(self) -> np.ndarray:
        """(S, K) steps per segment and cell."""
        return np.stack([a.counts() for a in self.assignments]) if self.assignments else np.zeros((0, self.n_spatial_cells))

    def to_arrays(self, prefix: str = "time/") -> dict[str, np.ndarray]:
        flat = self.flat()
        return {prefix + "segments": np.asarray(self.segments, float), prefix + "point": flat.point,
                prefix + "cell": flat.cell, prefix + "n_spatial_cells": np.asarray(self.n_spatial_cells, np.int64)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "time/") -> TimeAssignment:
        seg = np.asarray(arrays[prefix + "segments"], float).reshape(-1, 2)
        k = int(arrays[prefix + "n_spatial_cells"])
        point, cell = arrays[prefix + "point"], arrays[prefix + "cell"]
        out = []
        for s in range(len(seg)):
            sel = (cell >= s * k) & (cell < (s + 1) * k)
            out.append(Assignment(point=point[sel].astype(np.int64), cell=(cell[sel] - s * k).astype(np.int64), n_cells=k))
        return cls(seg, [segment_label(a, b) for a, b in seg], out, k)


def assign_in_time(mesh, points, t, windows: SlidingWindows, *, region=None, min_location_count=0,
                   knn=None, radius=None, frame_interval: float | None = None) -> TimeAssignment:
    """Assign steps (origins ``points``, times ``t``) to (segment, cell) pairs.

    The nearest cell is found once for all steps; ``min_location_count``, ``knn`` and ``radius``
    then act within each segment (reference §3.3).
    """
    xy = np.asarray(points, float)[:, :2]
    t = np.asarray(t, float)
    if len(t) != len(xy):
        raise ValueError(f"{len(xy)} points but {len(t)} times")
    base = nearest_cells(mesh, xy, region=region)
    seg = windows.segments(t, frame_interval)
    per = []
    for idx in _rows_in(seg, t):
        per.append(refine(mesh, xy[idx], base[idx], min_location_count=min_location_count, knn=knn,
                          radius=radius, index=idx))
    return TimeAssignment(seg, [segment_label(a, b) for a, b in seg], per, mesh.n_cells)


@dataclass
class TimeMesh:
    """A spatial mesh repeated over time windows (``n_cells = S·K``)."""

    mesh: object
    segments: np.ndarray

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    @property
    def n_cells(self) -> int:
        return self.n_segments * self.mesh.n_cells

    @property
    def labels(self) -> list[str]:
        return [segment_label(a, b) for a, b in self.segments]

    def adjacency(self, time_links: bool = True) -> sp.csr_matrix:
        """Block-diagonal spatial adjacency, plus (``time_links``) the links between the same
        cell in consecutive segments (reference §3.3: block tridiagonal)."""
        return spatiotemporal_adjacency(self.mesh.adjacency, self.n_segments, time_links)


def spatiotemporal_adjacency(adjacency, n_segments: int, time_links: bool = True) -> sp.csr_matrix:
    """Spatial blocks on the diagonal; identity blocks between consecutive segments."""
    a = sp.csr_matrix(adjacency, dtype=bool)
    k = a.shape[0]
    out = sp.kron(sp.identity(n_segments, dtype=bool, format="csr"), a, format="csr")
    if time_links and n_segments > 1:
        off = sp.diags([np.ones(n_segments - 1), np.ones(n_segments - 1)], [-1, 1], shape=(n_segments, n_segments),
                       dtype=bool)
        out = (out + sp.kron(off, sp.identity(k, dtype=bool), format="csr")).astype(bool)
    out = sp.csr_matrix(out, dtype=bool)
    out.sort_indices()
    return out
