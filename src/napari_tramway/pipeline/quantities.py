"""The map quantities a run's summary describes, and their translocation-weighted statistics.

==================  ===========  ==========================================================
quantity            unit         per cell
==================  ===========  ==========================================================
``diffusivity``     µm²/s        D (log scale: conditions are compared by ratio)
``|drift|``         µm/s         √(drift x² + drift y²)
``|force|``         kT/µm        √(force x² + force y²)
``potential``       kT           V (0 at the minimum of each connected part of the mesh)
==================  ===========  ==========================================================

``potential depth`` (kT) is one value per unit: the 95th minus the 5th percentile of V over its
cells with translocations, each cell counted once. Every statistic weighs a cell by its number of
translocations, the maps' column ``n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.errors import ArchiveError

#: the per-cell translocation count, the weight of every statistic
WEIGHT = "n"
DEPTH_QUANTILES = (0.05, 0.95)
STATS = ("median", "mean", "IQR")


@dataclass(frozen=True)
class Quantity:
    """A per-cell map quantity: its name, unit, the maps columns it is made of (a vector's norm
    when there are two) and its natural scale (``log``: compared by ratio, else by difference)."""

    name: str
    unit: str
    columns: tuple[str, ...]
    scale: str = "linear"

    def present(self, table: pd.DataFrame) -> bool:
        return all(c in table.columns for c in self.columns)

    def values(self, table: pd.DataFrame) -> np.ndarray:
        if len(self.columns) == 1:
            return table[self.columns[0]].to_numpy(dtype=float)
        return np.hypot(*(table[c].to_numpy(dtype=float) for c in self.columns))

    @property
    def effect(self) -> str:
        """How two conditions are compared: ``ratio`` (log scale) or ``difference``."""
        return "ratio" if self.scale == "log" else "difference"

    def column(self, stat: str) -> str:
        return stat_column(self.name, stat, self.unit)


QUANTITIES = {q.name: q for q in (
    Quantity("diffusivity", "µm²/s", ("diffusivity",), "log"),
    Quantity("|drift|", "µm/s", ("drift x", "drift y")),
    Quantity("|force|", "kT/µm", ("force x", "force y")),
    Quantity("potential", "kT", ("potential",)),
)}
DEPTH = Quantity("potential depth", "kT", ("potential",))
DEPTH_COLUMN = f"{DEPTH.name} [{DEPTH.unit}]"


def stat_column(name: str, stat: str, unit: str = "") -> str:
    """``diffusivity median [µm²/s]``."""
    return f"{name} {stat} [{unit}]" if unit else f"{name} {stat}"


def weighted_quantile(values, weights, q):
    """The weighted ``q``-quantile(s) by the inverted CDF: the smallest value whose cumulative
    weight reaches ``q`` × total (numpy ≥ 2's ``np.quantile(..., weights=, method='inverted_cdf')``)."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    order = np.argsort(v, kind="stable")
    v, cw = v[order], np.cumsum(w[order])
    if v.size == 0 or cw[-1] <= 0:
        return np.full(np.shape(q), np.nan) if np.ndim(q) else math.nan
    idx = np.searchsorted(cw, np.asarray(q, dtype=float) * cw[-1], side="left")
    out = v[np.minimum(idx, v.size - 1)]
    return out if np.ndim(q) else float(out)


def weighted_stats(values, weights) -> dict[str, float]:
    """Weighted median, mean and interquartile range of the finite values with positive weight."""
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    ok = np.isfinite(v) & (w > 0)
    v, w = v[ok], w[ok]
    if v.size == 0:
        return dict.fromkeys(STATS, math.nan)
    q25, q50, q75 = weighted_quantile(v, w, [0.25, 0.5, 0.75])
    return {"median": float(q50), "mean": float(np.average(v, weights=w)), "IQR": float(q75 - q25)}


def potential_depth(table: pd.DataFrame) -> float:
    """95th − 5th percentile of V (kT) over the cells with translocations (each cell once)."""
    if "potential" not in table.columns:
        return math.nan
    v = table["potential"].to_numpy(dtype=float)[table[WEIGHT].to_numpy() > 0]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    lo, hi = np.quantile(v, DEPTH_QUANTILES)
    return float(hi - lo)


def weights_of(table: pd.DataFrame, where: str = "maps") -> np.ndarray:
    if WEIGHT not in table.columns:
        raise ArchiveError(f"{where}: no per-cell translocation count column {WEIGHT!r} (columns: "
                           f"{', '.join(map(str, table.columns))})")
    return table[WEIGHT].to_numpy(dtype=float)
