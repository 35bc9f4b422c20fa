"""Sufficient statistics of the models' likelihood, built once per fit.

Every model of :mod:`napari_tramway.core.models` writes the displacement of step j in cell i as
Gaussian with mean ``c_i Δt_j`` (``c`` the drift velocity, µm/s: 0, ``a``, ``D F`` or ``−D ∇V``)
and per-axis variance ``2 s_ij``, ``s_ij = D_i Δt_j + σ²``. For the steps of one cell sharing one
Δt the negative log-likelihood is therefore a function of three sums only::

    Σ_j [ln(4π s) + ‖Δr_j − cΔt‖²/(4s)] = n ln(4π s) + (Q − 2Δt c·S + nΔt²‖c‖²)/(4s)

with ``n`` the count, ``S = Σ Δr_j`` (µm) and ``Q = Σ ‖Δr_j‖²`` (µm²). This module groups the
steps by (cell, Δt) — Δt values equal within ``DT_RTOL`` of the frame interval share a group,
whose Δt is the mean of its members — and returns those sums. An optimizer iteration then costs
O(number of groups), never O(number of steps).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Δt values closer than this fraction of the frame interval are one group (see module doc).
DT_RTOL = 1e-4


@dataclass(frozen=True)
class StepStatistics:
    """Per (cell, Δt group) sums of the steps assigned to a mesh.

    Attributes
    ----------
    n_cells : int
        Number of cells of the mesh (K).
    cell : (M,) int64
        Mesh cell of each entry (sorted by cell, then Δt).
    tau : (M,) float
        Δt of the entry's group (s): the mean Δt of its steps.
    count : (M,) float
        Number of steps.
    sum_dr : (M, 2) float
        Σ Δx, Σ Δy (µm).
    sum_sq : (M,) float
        Σ (Δx² + Δy²) (µm²).
    n : (K,) int64
        Steps per cell.
    dt_mean : (K,) float
        Mean Δt per cell (s), NaN for empty cells (the Δt̄ of the Jeffreys priors).
    frame_interval : float
        The frame interval used to group Δt (s).
    n_dropped : int
        Assigned steps ignored because dx, dy or dt was not finite or dt was 0.
    n_flipped : int
        Steps with negative dt, whose displacement was reversed (as TRamWAy does).
    pairs : (K,) int64
        Consecutive steps of one trajectory that are both in the cell (the first's destination is
        the second's origin). Their displacements share a localization error, so their squared
        lengths are correlated (covariance 4σ⁴): :mod:`.percell` widens D's intervals for it.
        Zero when ``steps`` has no ``n`` and ``t`` columns.
    """

    n_cells: int
    cell: np.ndarray
    tau: np.ndarray
    count: np.ndarray
    sum_dr: np.ndarray
    sum_sq: np.ndarray
    n: np.ndarray
    dt_mean: np.ndarray
    frame_interval: float
    n_dropped: int = 0
    n_flipped: int = 0
    pairs: np.ndarray | None = None

    @property
    def n_entries(self) -> int:
        return int(self.cell.shape[0])

    @property
    def groups_per_cell(self) -> np.ndarray:
        """(K,) number of distinct Δt groups in each cell."""
        return np.bincount(self.cell, minlength=self.n_cells)

    def subset(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries of ``cells`` (mesh ids, increasing): ``(entry indices, position of their cell in cells)``."""
        lookup = np.full(self.n_cells, -1, dtype=np.int64)
        lookup[cells] = np.arange(len(cells))
        pos = lookup[self.cell]
        keep = np.flatnonzero(pos >= 0)
        return keep, pos[keep]


def _column(steps: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return steps[name].to_numpy(dtype=np.float64)
    except KeyError:
        raise ValueError(f"steps table has no {name!r} column; it needs dx, dy, dt (µm, s)") from None


def step_statistics(assignment, steps: pd.DataFrame, frame_interval: float) -> StepStatistics:
    """Group the steps of ``assignment`` by (cell, Δt) and sum them.

    Parameters
    ----------
    assignment : Assignment
        Pairs (row of ``steps``, cell); ``point`` indexes rows by position.
    steps : DataFrame
        Translocations with columns ``dx``, ``dy`` (µm) and ``dt`` (s).
    frame_interval : float
        Grouping unit (s): the data's frame interval
        (:attr:`~napari_tramway.core.acquisition.Acquisition.frame_interval`).
    """
    k = int(assignment.n_cells)
    point = np.asarray(assignment.point, dtype=np.int64)
    cell = np.asarray(assignment.cell, dtype=np.int64)
    if point.shape != cell.shape:
        raise ValueError("assignment.point and assignment.cell differ in length")
    if point.size and (point.min() < 0 or point.max() >= len(steps)):
        raise ValueError(f"assignment refers to step rows outside 0..{len(steps) - 1}")
    if cell.size and (cell.min() < 0 or cell.max() >= k):
        raise ValueError(f"assignment refers to cells outside 0..{k - 1}")
    dx = _column(steps, "dx")[point]
    dy = _column(steps, "dy")[point]
    dt = _column(steps, "dt")[point]
    pairs = _consecutive_pairs(steps, point, cell, k)
    ok = np.isfinite(dx) & np.isfinite(dy) & np.isfinite(dt) & (dt != 0)
    n_dropped = int(ok.size - np.count_nonzero(ok))
    if n_dropped:
        warnings.warn(f"{n_dropped} assigned steps have a non-finite displacement or a zero dt; ignored",
                      RuntimeWarning, stacklevel=3)
        dx, dy, dt, cell = dx[ok], dy[ok], dt[ok], cell[ok]
    neg = dt < 0
    n_flipped = int(np.count_nonzero(neg))
    if n_flipped:
        warnings.warn(f"{n_flipped} steps have a negative dt; their displacement is reversed",
                      RuntimeWarning, stacklevel=3)
        dx = np.where(neg, -dx, dx)
        dy = np.where(neg, -dy, dy)
        dt = np.abs(dt)

    frame_interval = float(frame_interval)
    if not (frame_interval > 0 and np.isfinite(frame_interval)):
        raise ValueError(f"frame_interval: must be > 0 s and finite, got {frame_interval}")

    if dt.size == 0:
        empty = np.zeros(0)
        return StepStatistics(k, np.zeros(0, np.int64), empty, empty, np.zeros((0, 2)), empty,
                              np.zeros(k, np.int64), np.full(k, np.nan), frame_interval, n_dropped, n_flipped,
                              pairs)

    # Δt groups: quantise dt in units of DT_RTOL·frame interval, then renumber the present keys
    q = np.rint(dt / (DT_RTOL * frame_interval)).astype(np.int64)
    qmin, qmax = int(q.min()), int(q.max())
    if qmin == qmax:
        gid = None
        n_groups = 1
    else:
        span = qmax - qmin + 1
        if span <= 4 * q.size + 1_000_000:
            present = np.bincount(q - qmin, minlength=span) > 0
            lut = np.cumsum(present) - 1
            gid = lut[q - qmin]
            n_groups = int(present.sum())
        else:
            _, gid = np.unique(q, return_inverse=True)
            n_groups = int(gid.max()) + 1

    key = cell if gid is None else cell * n_groups + gid
    total = k * n_groups
    if total <= max(4 * key.size, 10_000_000):
        count = np.bincount(key, minlength=total)
        entries = np.flatnonzero(count)
        inverse = None
    else:
        entries, inverse = np.unique(key, return_inverse=True)
        count = None

    def sums(weights):
        if inverse is None:
            return np.bincount(key, weights, minlength=total)[entries]
        return np.bincount(inverse, weights, minlength=entries.size)

    if inverse is None:
        cnt = count[entries].astype(np.float64)
    else:
        cnt = np.bincount(inverse, minlength=entries.size).astype(np.float64)
    sdt = sums(dt)
    sx = sums(dx)
    sy = sums(dy)
    sq = sums(dx * dx + dy * dy)
    ecell = entries // n_groups
    n = np.bincount(ecell, cnt, minlength=k).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dt_mean = np.bincount(ecell, sdt, minlength=k) / n
    return StepStatistics(
        n_cells=k, cell=ecell.astype(np.int64), tau=sdt / cnt, count=cnt, sum_dr=np.column_stack([sx, sy]),
        sum_sq=sq, n=n, dt_mean=dt_mean, frame_interval=frame_interval, n_dropped=n_dropped, n_flipped=n_flipped,
        pairs=pairs,
    )


def _consecutive_pairs(steps: pd.DataFrame, point: np.ndarray, cell: np.ndarray, k: int) -> np.ndarray:
    """(K,) number of assigned steps whose successor (next row, same trajectory, starting where it
    ends) is assigned to the same cell; zeros without ``n`` and ``t`` columns."""
    if point.size == 0 or "n" not in steps.columns or "t" not in steps.columns:
        return np.zeros(k, np.int64)
    traj = steps["n"].to_numpy()
    t = steps["t"].to_numpy(dtype=np.float64)
    dt = steps["dt"].to_numpy(dtype=np.float64)
    last = len(steps) - 1
    nxt = np.minimum(point + 1, last)
    chained = (point < last) & (traj[nxt] == traj[point])
    with np.errstate(invalid="ignore"):
        chained &= np.abs(t[nxt] - (t[point] + dt[point])) <= 1e-6 * np.maximum(np.abs(dt[point]), 1e-12)
    if not chained.any():
        return np.zeros(k, np.int64)
    n_rows = np.int64(len(steps))
    keys = np.sort(cell.astype(np.int64) * n_rows + point)
    want = cell[chained].astype(np.int64) * n_rows + nxt[chained]
    pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    found = keys[pos] == want
    return np.bincount(cell[chained][found], minlength=k).astype(np.int64)
