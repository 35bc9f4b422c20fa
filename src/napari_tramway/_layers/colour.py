"""Colour scales of the maps: which quantity a maps column holds, its title with its unit, its
colormap, whether it is drawn on a log scale, and its colour limits (alone or shared).

Every face draws a column the same way: the napari layers, their colour bars and hover, and the
matplotlib figures of :mod:`napari_tramway.figures`. Columns not known here are drawn generically
(any ``<quantity> sd`` column is that quantity's uncertainty, same unit, hidden at first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Symbols of the known columns (the unit comes from :func:`napari_tramway.core.maps.column_unit`).
SYMBOLS = {"diffusivity": "D", "potential": "V", "n": "translocations", "drift": "drift", "force": "F"}
#: Colormaps (names napari and matplotlib share) of the known scalar columns; others take ``magma``.
COLORMAPS = {"diffusivity": "viridis", "potential": "plasma", "n": "gray"}
#: Scalar columns drawn and shown first, in this order.
SHOWN_FIRST = ("diffusivity",)
#: Vector features: their two columns and colormap (colour = magnitude).
VECTORS = {"force": (("force x", "force y"), "magma"), "drift": (("drift x", "drift y"), "inferno")}
#: Columns never drawn as a map: geometry, and the components of vectors (drawn as arrows).
NOT_SCALAR = ("x", "y", "force x", "force y", "drift x", "drift y")
UNCERTAINTY_SUFFIXES = (" sd", " ci low", " ci high")
LOG10 = "log10"


@dataclass(frozen=True)
class Quantity:
    """How one maps column is drawn.

    Attributes
    ----------
    column : str
        The maps column (``diffusivity``, ``potential sd``...).
    symbol : str
        Its short name (``D``, ``V sd``...).
    unit : str
        The unit of the column's values (``µm²/s``, ``kT``; ``''`` when dimensionless).
    colormap : str
        A colormap name known to napari and matplotlib.
    log : bool
        Drawn as log10 of the value (D by default: it spans decades).
    visible : bool
        Shown when first added (the others are added hidden).
    note : str
        What the colours mean beyond the unit (e.g. the potential's reference).
    """

    column: str
    symbol: str
    unit: str
    colormap: str
    log: bool = False
    visible: bool = False
    note: str = ""

    @property
    def title(self) -> str:
        """``log₁₀ D (µm²/s)``, ``V (kT)``, ``translocations``."""
        name = f"log₁₀ {self.symbol}" if self.log else self.symbol
        return f"{name} ({self.unit})" if self.unit else name

    @property
    def value_unit(self) -> str:
        """The unit of the drawn values: ``log10(µm²/s)`` on a log scale, else the column's."""
        return f"log10({self.unit})" if self.log and self.unit else self.unit

    @property
    def transform(self) -> str | None:
        return LOG10 if self.log else None

    @property
    def scale_text(self) -> str:
        """How to read the colours, for a colour bar's title: ``log scale: -1 = 0.1 µm²/s``."""
        if self.log:
            return f"log₁₀ scale: −1 = 0.1 {self.unit}"
        return self.note

    def values(self, v: np.ndarray) -> np.ndarray:
        """The drawn values of the column's values ``v`` (log10 where positive, NaN elsewhere)."""
        v = np.asarray(v, dtype=np.float64)
        if not self.log:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(v), np.nan)


def base_column(column: str) -> str:
    """``diffusivity`` for ``diffusivity sd``; the column itself otherwise."""
    for suffix in UNCERTAINTY_SUFFIXES:
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def symbol_of(column: str) -> str:
    """``D`` for ``diffusivity``, ``F x`` for ``force x``, ``D sd`` for ``diffusivity sd``."""
    base = base_column(column)
    suffix = column[len(base):]
    for key, short in SYMBOLS.items():
        if base == key:
            return short + suffix
        if base.startswith(key + " "):
            return short + base[len(key):] + suffix
    return column


def feature_name(column: str) -> str:
    """A maps column as named in hover and tables: ``D (µm²/s)``, ``x (µm)``, ``translocations``."""
    from ..core.maps import column_unit

    unit = column_unit(column)
    name = symbol_of(column)
    return f"{name} ({unit})" if unit else name


def quantity(column: str, log_diffusivity: bool = True) -> Quantity:
    """How ``column`` is drawn (known columns by name; others generically)."""
    from ..core.maps import column_unit

    unit = column_unit(column)
    base = base_column(column)
    symbol = symbol_of(column)
    if column != base:  # an uncertainty: same unit, its own hidden layer
        return Quantity(column, symbol, unit, "magma")
    if column == "diffusivity":
        return Quantity(column, symbol, unit, COLORMAPS[column], log=log_diffusivity, visible=True)
    if column == "potential":
        return Quantity(column, symbol, unit, COLORMAPS[column],
                        note="0 kT: each region's lowest cell")
    return Quantity(column, symbol, unit, COLORMAPS.get(column, "magma"))


def scalar_columns(columns, counts: bool = False, uncertainty: bool = True) -> list[str]:
    """The columns of a maps table drawn as scalar maps, in display order: D, V, then any other
    numeric quantity, the translocation count when ``counts``, then the uncertainties of those."""
    columns = list(columns)
    main = [c for c in ("diffusivity", "potential") if c in columns]
    for c in columns:
        if c in main or c in NOT_SCALAR or c == "n" or base_column(c) != c:
            continue
        main.append(c)
    out = list(main) + (["n"] if counts and "n" in columns else [])
    if uncertainty:
        out += [c for c in columns if c.endswith(" sd") and base_column(c) in main]
    return out


def numeric_columns(table) -> list[str]:
    """Columns of a maps table holding numbers (flags and labels are features, not maps)."""
    return [c for c in table.columns if table[c].dtype.kind in "fiu"]


def limits(values: np.ndarray, lo_q: float = 1.0, hi_q: float = 99.0) -> tuple[float, float]:
    """Colour limits of ``values`` (percentiles, widened when all values are equal)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(x) for x in np.percentile(v, [lo_q, hi_q]))
    if not hi > lo:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    return (lo, hi)


def column_limits(column: str, values: np.ndarray) -> tuple[float, float]:
    """Colour limits of drawn values of ``column``: counts from 0, potentials from their minimum."""
    if column == "n":
        return (0.0, max(1.0, limits(values)[1]))
    if column == "potential":
        lo, hi = limits(values, 0.0, 98.0)
        return (min(lo, 0.0), hi)
    return limits(values)


def shared_limits(all_limits) -> tuple[float, float]:
    """One colour scale covering several maps' limits (NaN when none is finite)."""
    lims = np.asarray(list(all_limits), float).reshape(-1, 2)
    ok = np.isfinite(lims).all(axis=1)
    if not ok.any():
        return (float("nan"), float("nan"))
    return (float(lims[ok, 0].min()), float(lims[ok, 1].max()))
