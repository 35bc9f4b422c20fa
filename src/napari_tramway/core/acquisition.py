"""What a steps table's numbers mean beyond its columns: :class:`Acquisition`.

A steps table (``dx``, ``dy``, ``dt`` in µm and s) is fitted with three values that are not in
its columns: the frame interval (s: the unit of the Δt groups, and of time windows counted in
frames), the localization precision σ (µm) and, after the static filter, the threshold u₀ on
dx² + dy² (µm²) below which steps were removed. Each is decided once — where the file is read
(:attr:`napari_tramway.core.io.TrajectoryFile.acquisition`: given, stated in the file, inferred
or estimated, with its source), or by a script that knows them — checked here, and passed as this
typed value to the static filter (:func:`~napari_tramway.core.trajectories.discard_static`), the
time windows and the fit (:func:`~napari_tramway.core.models.fit`). No ``DataFrame.attrs``
carries them, and nothing falls back to a default or an estimate of its own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from .errors import ParameterError


@dataclass(frozen=True)
class Acquisition:
    """The frame interval, σ and the static filter's threshold of a steps table, checked once.

    Attributes
    ----------
    frame_interval : float
        Time between frames (s), > 0.
    localization_precision : float
        σ (µm), ≥ 0: the standard deviation of the localization error per axis.
    min_squared_step : float
        u₀ (µm²), ≥ 0: only steps with dx² + dy² above it were kept (the static filter); 0 without
        filter. The models condition their likelihood on it.
    frame_interval_source, localization_precision_source : str
        Where each value came from, for the record (``given``, ``file``, ``inferred``,
        ``estimated``, ``default``: see :mod:`napari_tramway.core.io.provenance`).
    """

    frame_interval: float
    localization_precision: float
    min_squared_step: float = 0.0
    frame_interval_source: str = "given"
    localization_precision_source: str = "given"

    def __post_init__(self):
        for name, positive in (("frame_interval", True), ("localization_precision", False),
                               ("min_squared_step", False)):
            object.__setattr__(self, name, _number(name, getattr(self, name), positive))
        for name in ("frame_interval_source", "localization_precision_source"):
            if not isinstance(getattr(self, name), str):
                raise ParameterError(name, f"must be a string, got {getattr(self, name)!r}")

    def filtered(self, min_squared_step: float) -> Acquisition:
        """The same acquisition after a static filter of threshold ``min_squared_step`` (µm² on
        dx² + dy²); filters applied one after the other keep the strictest threshold."""
        return replace(self, min_squared_step=max(self.min_squared_step, _number("min_squared_step",
                                                                                 min_squared_step, False)))

    def to_dict(self) -> dict:
        """Plain JSON types (a unit's input sent to a cluster, result metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d, where: str = "acquisition") -> Acquisition:
        """The record written by :meth:`to_dict`; a missing or invalid value is a
        :class:`~napari_tramway.core.errors.ParameterError` naming ``where.field``."""
        if not isinstance(d, dict):
            raise ParameterError(where, f"expected an object with frame_interval and localization_precision, got {d!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ParameterError(f"{where}.{unknown[0]}", "unknown field")
        for name in ("frame_interval", "localization_precision"):
            if d.get(name) is None:
                raise ParameterError(f"{where}.{name}", "missing")
        try:
            return cls(**d)
        except ParameterError as exc:
            raise ParameterError(f"{where}.{exc.field}", exc.message) from None


def _number(name: str, value, positive: bool) -> float:
    if isinstance(value, bool):
        raise ParameterError(name, f"must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ParameterError(name, f"must be {'>' if positive else '≥'} 0 and finite, got {value!r}")
    return number
