"""What a read did: :class:`Provenance` (units found, conversions, where each value came from) and
:class:`TrajectoryFile`, the typed result of
:func:`~napari_tramway.core.io.read_trajectory_file`.

Sources of a value, as recorded:

* ``given``: the caller's settings;
* ``file``: stated in the file (units row, XML attributes, ``x [nm]`` header, TrackMate
  calibration, the metadata file written next to it by ``write_trajectories_text``);
* ``format``: the format's convention (trackpy, MOSAIC and ISBI positions are pixels);
* ``frame_column``: the times are a frame column's frame numbers;
* ``pixel_size``: the positions' unit is unknown and a pixel size was given, so they are pixels;
* ``scale``: ``space_scale`` / ``time_scale`` gave the factor;
* ``assumed``: nothing says; µm and s are assumed (TRamWAy's convention), with a
  :class:`~napari_tramway.core.errors.UnitWarning` when the values suggest otherwise;
* ``inferred``: the frame interval implied by a time column and a frame column that agree;
* ``estimated``: the frame interval estimated as the median time step within trajectories;
* ``default``: σ from :data:`napari_tramway.core.defaults.LOCALIZATION_PRECISION`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.errors import TrajectoryFormatError

from .settings import FileSettings

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Provenance:
    """How a trajectory file was read (values in µm and s).

    Attributes
    ----------
    path, format : str
        The absolute path and the format name used.
    columns : dict
        ``{role: source column}`` for the roles read (n, x, y, [z], t and/or frame).
    space_unit, space_unit_source : str or None
        Unit of the file's positions (``'µm'``, ``'nm'``, ``'px'``, or the file's own name for
        others) and where it came from; ``None`` when ``space_scale`` gave the factor.
    space_factor : float
        Factor applied to the file's positions to get µm.
    time_unit, time_unit_source : str or None
        Unit of the file's times (``'s'``, ``'ms'``, ``'frame'``...) and where it came from.
    time_factor : float
        Factor applied to the file's times (or frame numbers) to get s.
    frame_interval, frame_interval_source : float or None, str or None
        Frame interval (s) and where it came from; ``None`` when there was none to find
        (no trajectory with two locations).
    pixel_size, pixel_size_source : float or None, str or None
        Pixel size (µm) given or read from the file, whether applied or not.
    localization_precision, localization_precision_source : float, str
        σ (µm) and where it came from (``given``, ``file`` or ``default``).
    metadata_file : str or None
        The metadata file read next to the data file, if any.
    notes : tuple of str
        Decisions worth knowing (e.g. a pixel size given but not applied).
    warnings : tuple of str
        The warnings emitted (:class:`~napari_tramway.core.errors.UnitWarning`...).
    """

    path: str
    format: str
    columns: dict = field(hash=False)
    space_unit: str | None
    space_unit_source: str
    space_factor: float
    time_unit: str | None
    time_unit_source: str
    time_factor: float
    frame_interval: float | None
    frame_interval_source: str | None
    pixel_size: float | None
    pixel_size_source: str | None
    localization_precision: float
    localization_precision_source: str
    metadata_file: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def frame_interval_estimated(self) -> bool:
        """True when the frame interval is an estimate (median time step), not a given value."""
        return self.frame_interval_source == "estimated"

    def to_dict(self) -> dict:
        """Plain JSON types, for result metadata."""
        d = asdict(self)
        d["notes"], d["warnings"] = list(self.notes), list(self.warnings)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Provenance:
        """The record written by :meth:`to_dict` (a unit's input sent to a cluster)."""
        d = dict(d)
        d["notes"], d["warnings"] = tuple(d.get("notes") or ()), tuple(d.get("warnings") or ())
        return cls(**d)

    def describe(self) -> list[str]:
        """One line per conversion, for a log or a tooltip."""
        lines = [f"{self.path} ({self.format})"]
        if self.space_unit is None:
            lines.append(f"positions × {self.space_factor:g} → µm (space_scale)")
        else:
            lines.append(f"positions in {self.space_unit} ({_source(self.space_unit_source)}) "
                         f"× {self.space_factor:g} → µm")
        if self.time_unit is None:
            lines.append(f"times × {self.time_factor:g} → s (time_scale)")
        else:
            lines.append(f"times in {self.time_unit} ({_source(self.time_unit_source)}) × {self.time_factor:g} → s")
        if self.frame_interval is None:
            lines.append("frame interval: unknown")
        else:
            lines.append(f"frame interval {self.frame_interval:g} s ({_source(self.frame_interval_source)})")
        lines.append(f"σ {self.localization_precision:g} µm ({_source(self.localization_precision_source)})")
        return lines + list(self.notes) + [f"warning: {w}" for w in self.warnings]


_SOURCES = {
    "given": "given",
    "file": "stated in the file",
    "format": "the format's convention",
    "frame_column": "a frame column",
    "pixel_size": "a pixel size was given and the file states no unit",
    "scale": "scale given",
    "assumed": "assumed: the file states no unit",
    "inferred": "implied by the time and frame columns",
    "estimated": "estimated: median time step",
    "default": "default",
}


def _source(key) -> str:
    return _SOURCES.get(key, str(key))


@dataclass(frozen=True)
class TrajectoryFile:
    """A read trajectory file: the locations table, the settings used and what was done.

    ``locations`` has columns ``n``, ``x``, ``y`` [, ``z``] (µm), ``t`` (s), sorted by (n, t);
    its ``attrs`` hold a copy of the metadata for people to look at (see ``docs/formats.md``);
    nothing computes from it: the analysis takes :attr:`acquisition`.
    """

    locations: pd.DataFrame = field(compare=False, hash=False)
    settings: FileSettings
    provenance: Provenance

    @property
    def frame_interval(self) -> float | None:
        """Frame interval (s): given, from the file, inferred or estimated (see provenance)."""
        return self.provenance.frame_interval

    @property
    def localization_precision(self) -> float:
        """σ (µm): given, from the file, or the default."""
        return self.provenance.localization_precision

    @cached_property
    def acquisition(self) -> Acquisition:
        """The frame interval (s) and σ (µm) the analysis of this file uses, with their sources.

        Raises :class:`~napari_tramway.core.errors.TrajectoryFormatError` naming
        ``frame_interval`` when there is none (nothing gave one and no trajectory has two
        locations at different times, so there is no step to analyse either).
        """
        p = self.provenance
        if p.frame_interval is None:
            raise TrajectoryFormatError("frame_interval: unknown (not given, not in the file, and no trajectory has "
                                        "two locations at different times to estimate it from); give the frame "
                                        "interval (s)", path=p.path)
        return Acquisition(p.frame_interval, p.localization_precision, frame_interval_source=p.frame_interval_source,
                           localization_precision_source=p.localization_precision_source)

    @property
    def pixel_size(self) -> float | None:
        """Pixel size (µm) given or stated in the file, or ``None``."""
        return self.provenance.pixel_size
