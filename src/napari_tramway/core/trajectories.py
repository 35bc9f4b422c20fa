"""Locations and translocations: the one table every later step starts from.

A *locations* table is a ``pandas.DataFrame`` with columns ``n`` (trajectory id, int64), ``x``,
``y`` (µm), optionally ``z`` (µm), and ``t`` (s), sorted by (n, t). What the numbers mean
beyond the columns — frame interval (s), σ (µm), the static filter's threshold (µm²) — is a typed
:class:`~napari_tramway.core.acquisition.Acquisition` passed beside the table (a read file's is
:attr:`napari_tramway.core.io.TrajectoryFile.acquisition`), never ``DataFrame.attrs``, which
nothing here reads or writes.

A *translocations* table has one row per step of a trajectory, on its **origin**: columns
``n, x, y[, z], t`` of the origin and ``dx, dy[, dz], dt`` of the step (µm, s). A step belongs
to the cell / region that contains its origin; missing frames simply give a longer ``dt``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .acquisition import Acquisition

SPATIAL = ("x", "y", "z")


def spatial_columns(df: pd.DataFrame) -> list[str]:
    """The coordinate columns present in ``df`` (``['x', 'y']`` or ``['x', 'y', 'z']``)."""
    return [c for c in SPATIAL if c in df.columns]


#: The frame-interval estimate looks at up to this many rows, in blocks spread over the table.
ESTIMATE_BLOCK_ROWS = 20_000
ESTIMATE_BLOCKS = 10


def estimate_frame_interval(n: np.ndarray | None, t: np.ndarray | None = None, *,
                            dt: np.ndarray | None = None) -> float | None:
    """The frame interval (s) estimated as the median positive time step within trajectories.

    The one place where a missing frame interval is estimated: the readers call it when neither
    the user nor the file gives one, and record the value as ``estimated`` (the napari face also
    calls it to draw a table without a file on napari's time axis). ``n`` and ``t`` (s) are
    sorted by (n, t); or ``dt`` (s) gives the steps themselves (a translocations table). Big tables are sampled in blocks spread over the table (200,000 rows at most).
    ``None`` when no trajectory has two locations at different times.
    """
    if dt is not None:
        dt = np.asarray(dt, dtype=np.float64)
        return _median_step([dt[a:b] for a, b in _blocks(dt.size + 1)])
    n = np.asarray(n)
    t = np.asarray(t, dtype=np.float64)
    steps = []
    for a, b in _blocks(n.size):
        same = n[a + 1 : b] == n[a : b - 1]
        steps.append((t[a + 1 : b] - t[a : b - 1])[same])
    return _median_step(steps)


def _median_step(steps: list[np.ndarray]) -> float | None:
    dts = np.concatenate(steps) if steps else np.zeros(0)
    dts = dts[dts > 0]
    if dts.size == 0:
        return None
    return float(f"{np.median(dts):.10g}")  # 0.05, not 0.049999999999999996


def _blocks(size: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` sampled by :func:`estimate_frame_interval`."""
    if size <= ESTIMATE_BLOCK_ROWS * ESTIMATE_BLOCKS:
        return [(0, size)] if size > 1 else []
    starts = np.linspace(0, size - ESTIMATE_BLOCK_ROWS, ESTIMATE_BLOCKS).astype(np.int64)
    return [(int(a), int(a) + ESTIMATE_BLOCK_ROWS) for a in starts]


def _step_mask(n: np.ndarray) -> np.ndarray:
    """Boolean mask over rows: True where the next row continues the same trajectory."""
    mask = np.zeros(n.shape[0], dtype=bool)
    if n.shape[0] > 1:
        mask[:-1] = n[1:] == n[:-1]
    return mask


def _deltas(df: pd.DataFrame, cols) -> dict[str, np.ndarray]:
    out = {}
    for c in cols:
        v = df[c].to_numpy(dtype=np.float64)
        d = np.full(v.shape[0], np.nan)
        if v.shape[0] > 1:
            d[:-1] = v[1:] - v[:-1]
        out["d" + c] = d
    return out


def translocations(locations: pd.DataFrame, inside: np.ndarray | None = None) -> pd.DataFrame:
    """Steps of every trajectory, each on its origin row.

    Parameters
    ----------
    locations : DataFrame
        Locations table (``n, x, y[, z], t``; µm, s), sorted by (n, t).
    inside : bool array, optional
        Per location, whether it lies in a region. When given, only steps whose origin is inside
        are kept (their destination may be outside), and trajectories are split where they leave
        the region: each run of consecutive inside locations gets its own trajectory id,
        renumbered 1, 2, 3... in order of appearance (reference §1.4).

    Returns
    -------
    DataFrame with columns ``n, x, y[, z], t, dx, dy[, dz], dt``.
    """
    cols = spatial_columns(locations)
    n = locations["n"].to_numpy()
    has_next = _step_mask(n)
    deltas = _deltas(locations, cols + ["t"])
    if inside is None:
        keep = has_next
        new_n = n
    else:
        inside = np.asarray(inside, dtype=bool)
        if inside.shape != n.shape:
            raise ValueError(f"inside mask has shape {inside.shape}, expected {n.shape}")
        # a new segment starts at every inside location whose predecessor is not an inside
        # location of the same trajectory
        prev_same_inside = np.zeros_like(inside)
        prev_same_inside[1:] = inside[:-1] & (n[1:] == n[:-1])
        starts = inside & ~prev_same_inside
        segment = np.cumsum(starts)
        keep = has_next & inside
        new_n = segment
    data = {"n": np.asarray(new_n)[keep].astype(np.int64)}
    for c in cols + ["t"]:
        data[c] = locations[c].to_numpy(dtype=np.float64)[keep]
    for c in cols + ["t"]:
        data["d" + c] = deltas["d" + c][keep]
    out = pd.DataFrame(data)
    if inside is not None and len(out):
        # renumber the kept segments consecutively (segments that lost every step disappear)
        _, out_n = np.unique(out["n"].to_numpy(), return_inverse=True)
        out["n"] = out_n.astype(np.int64) + 1
    return out


def discard_static(steps: pd.DataFrame, acquisition: Acquisition,
                   min_msd: float | None = None) -> tuple[pd.DataFrame, Acquisition]:
    """Drop steps whose mean squared displacement per axis, (dx² + dy²)/2, is not above ``min_msd`` (µm²).

    TRamWAy's ``discard_static_trajectories`` (reference §1.6), as an **opt-in** filter: it removes
    only 39 % of an immobile molecule's steps (‖Δr‖² is exponential with mean 4σ² there) and also
    the short steps of mobile ones, so on its own it biases D upwards. ``min_msd`` defaults to σ²
    (σ = ``acquisition.localization_precision``, µm). Returns the kept steps and ``acquisition``
    with the threshold on dx² + dy², u₀ = 2·``min_msd`` (µm², :meth:`Acquisition.filtered`), from
    which every model conditions its likelihood on the filter (``docs/models.md``), which removes
    that bias. Steps with an undefined length are dropped too. Only dx, dy count (the models are 2D).
    """
    if min_msd is None:
        min_msd = acquisition.localization_precision ** 2
    min_msd = max(float(min_msd), 0.0)
    sq = steps["dx"].to_numpy(dtype=np.float64) ** 2 + steps["dy"].to_numpy(dtype=np.float64) ** 2
    out = steps.loc[sq / 2.0 > min_msd].reset_index(drop=True)
    return out, acquisition.filtered(2.0 * min_msd)


def trajectory_ends(steps: pd.DataFrame) -> np.ndarray:
    """(M, 2) end points (x + dx, y + dy of each trajectory's last step, µm): the locations that
    start no step, which TRamWAy's ``min_location_count`` counts with the step origins."""
    if len(steps) == 0:
        return np.zeros((0, 2))
    n = steps["n"].to_numpy()
    last = np.ones(len(steps), dtype=bool)
    last[:-1] = n[1:] != n[:-1]
    return np.column_stack([(steps["x"] + steps["dx"]).to_numpy()[last], (steps["y"] + steps["dy"]).to_numpy()[last]])


def locations_from_translocations(steps: pd.DataFrame) -> pd.DataFrame:
    """Rebuild locations from steps: every origin plus the destination of each trajectory's last step."""
    cols = spatial_columns(steps)
    n = steps["n"].to_numpy()
    last = np.ones(len(steps), dtype=bool)
    if len(steps) > 1:
        last[:-1] = n[1:] != n[:-1]
    origins = steps[["n", *cols, "t"]]
    ends = pd.DataFrame({"n": n[last]})
    for c in cols + ["t"]:
        ends[c] = steps[c].to_numpy()[last] + steps["d" + c].to_numpy()[last]
    out = pd.concat([origins, ends], ignore_index=True)
    return out.sort_values(["n", "t"], kind="stable").reset_index(drop=True)


def split_at_gaps(locations: pd.DataFrame, dt: float | None = None, tolerance: float = 0.1) -> pd.DataFrame:
    """Split trajectories where a frame is missing; new ids are 1, 2, 3... (reference §1.5).

    A gap is a time step larger than ``(1 + tolerance) * dt``; ``dt`` defaults to the smallest
    positive step of the table (s).
    """
    if len(locations) == 0:
        return locations.copy()
    n = locations["n"].to_numpy()
    t = locations["t"].to_numpy()
    same = n[1:] == n[:-1]
    steps = t[1:] - t[:-1]
    if dt is None:
        pos = steps[same]
        if pos.size and pos.min() <= 0:
            raise ValueError("multiple rows for the same time point in one trajectory")
        dt = float(pos.min()) if pos.size else 1.0
    new = np.ones(len(locations), dtype=bool)
    new[1:] = ~same | (steps > (1 + tolerance) * dt)
    out = locations.copy()
    out["n"] = np.cumsum(new).astype(np.int64)
    return out
