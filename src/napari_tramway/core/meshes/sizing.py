"""TRamWAy's standard sizing parameters (reference §3.2), resolved against the data.

``resolution`` (µm) sets ``ref_distance = resolution/2``; otherwise ``ref_distance`` is the mean
step length. Then ``avg_distance = 2·ref_distance`` (= resolution), ``min_distance =
0.8·ref_distance``. Without ``resolution`` the mesh is sized by count: about
``N / avg_location_count`` cells, ``avg_location_count`` defaulting to 4 × ``min_location_count``
(80 when that is 0, TRamWAy's 4 × 20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

REL_MIN_DISTANCE = 0.8
REL_AVG_DISTANCE = 2.0
DEFAULT_MIN_COUNT = 20  # TRamWAy's min_location_count default for sizing


@dataclass
class Sizing:
    """Resolved sizing of one mesh build (µm; counts)."""

    mode: str  # "resolution" or "count"
    n_points: int
    ref_distance: float | None
    avg_distance: float | None
    min_distance: float
    avg_location_count: int | None

    @property
    def n_cells_target(self) -> float:
        """Target number of cells in count mode (≥ 1)."""
        return max(1.0, self.n_points / float(self.avg_location_count))

    def to_dict(self) -> dict:
        return {"sizing": self.mode, "n_points": int(self.n_points), "ref_distance": self.ref_distance,
                "avg_distance": self.avg_distance, "min_distance": self.min_distance,
                "avg_location_count": self.avg_location_count}


def mean_step_length(steps) -> float | None:
    """Mean translocation length (µm) of a translocations table or an (N, 2) array of (dx, dy)."""
    if steps is None:
        return None
    if hasattr(steps, "columns"):
        if "dx" not in steps.columns or "dy" not in steps.columns:
            raise ParameterError("steps", "the translocations table needs dx and dy columns")
        dx, dy = steps["dx"].to_numpy(float), steps["dy"].to_numpy(float)
    else:
        d = np.asarray(steps, float)
        if d.ndim != 2 or d.shape[1] < 2:
            raise ParameterError("steps", f"expected a translocations table or an (N, 2) array, got shape {d.shape}")
        dx, dy = d[:, 0], d[:, 1]
    if len(dx) == 0:
        return None
    length = np.hypot(dx, dy)
    if not np.isfinite(length).all():
        length = length[np.isfinite(length)]
    if length.size == 0 or not length.mean() > 0:
        return None
    return float(length.mean())


def resolve_sizing(params, n_points: int, steps=None) -> Sizing:
    """Apply reference §3.2 to validated settings (their cross-parameter rules, e.g. resolution
    and avg_location_count not both set, were checked with them: see ``registry.one_sizing``)."""
    resolution = params.get("resolution")
    ref = params.get("ref_distance")
    avg_count = params.get("avg_location_count")
    if ref is None:
        ref = resolution / 2 if resolution is not None else mean_step_length(steps)
    avg_distance = None if ref is None else REL_AVG_DISTANCE * ref
    min_distance = 0.0 if ref is None else REL_MIN_DISTANCE * ref
    if resolution is not None:
        return Sizing("resolution", int(n_points), ref, avg_distance, min_distance, None)
    if avg_count is None:
        mlc = params.get("min_location_count") or 0
        avg_count = 4 * (mlc if mlc > 0 else DEFAULT_MIN_COUNT)
    return Sizing("count", int(n_points), ref, avg_distance, min_distance, int(avg_count))


def calibrate(size: float, count, target: float, iterations: int = 12) -> float:
    """Adjust a cell size so that ``count(size)`` is close to ``target`` (fixed-point steps)."""
    best, best_err = size, np.inf
    for _ in range(iterations):
        n = count(size)
        err = abs(n - target)
        if err < best_err:
            best, best_err = size, err
        if err <= max(0.5, 0.01 * target) or n == 0:
            break
        size *= float(np.sqrt(n / target))
    return best


def require_ref(sizing: Sizing, method: str) -> float:
    if sizing.avg_distance is None:
        raise ParameterError("ref_distance", f"{method} needs a length scale: set resolution or "
                             "ref_distance, or pass the steps (ref_distance = mean step length)")
    return sizing.avg_distance
