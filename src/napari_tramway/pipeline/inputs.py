"""A unit's input for a remote worker: a region's steps with the typed values they are fitted with.

A cluster task does not read the data file: the client crops each support region once and uploads
its steps (``n, x, y, t, dx, dy, dt``, µm and s) in a ``napari-tramway/steps`` archive whose
metadata is typed JSON — the reading of the file (:class:`~napari_tramway.core.io.Provenance`,
for the result's metadata), the steps' :class:`~napari_tramway.core.acquisition.Acquisition`
(frame interval s, σ µm, static filter threshold µm²) and, for a file analysed whole, the bounds
of its region (µm). The worker reads them back typed, checked once (:func:`read_unit_input`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.acquisition import Acquisition
from ..core.errors import ArchiveError, ParameterError
from ..core.io.provenance import Provenance

if TYPE_CHECKING:
    import pandas as pd

#: The archive format of a unit's input and its layout version (2: typed acquisition and bounds).
FORMAT, VERSION = "napari-tramway/steps", 2


@dataclass(frozen=True)
class UnitInput:
    """A region's steps and what they mean (see the module docstring).

    ``region_bounds`` is ``(x0, y0, x1, y1)`` (µm) of the whole file's region when the file has no
    ROI (its steps alone would give a smaller box), else ``None``.
    """

    steps: pd.DataFrame = field(compare=False)
    reading: Provenance
    acquisition: Acquisition
    region_bounds: tuple[float, float, float, float] | None = None


def write_unit_input(path, unit_input: UnitInput) -> None:
    """Write a unit's input (atomically) for a remote worker."""
    from ..core.archive import write_archive

    steps = unit_input.steps
    bounds = unit_input.region_bounds
    write_archive(path, FORMAT, VERSION, {c: steps[c].to_numpy() for c in steps.columns},
                  {"columns": list(steps.columns), "reading": unit_input.reading.to_dict(),
                   "acquisition": unit_input.acquisition.to_dict(),
                   "region_bounds": None if bounds is None else [float(b) for b in bounds]})


def read_unit_input(path) -> UnitInput:
    """The :class:`UnitInput` written by :func:`write_unit_input`; a missing or invalid value is an
    :class:`~napari_tramway.core.errors.ArchiveError` naming the file and the field."""
    import pandas as pd

    from ..core.archive import read_archive

    arrays, meta, version = read_archive(path, FORMAT, max_version=VERSION)
    try:
        for name in ("columns", "reading", "acquisition"):
            if meta.get(name) is None:
                raise ParameterError(name, "missing" + (" (an input written before version 2: submit the run again)"
                                                        if version < VERSION else ""))
        acquisition = Acquisition.from_dict(meta["acquisition"])
        reading = Provenance.from_dict(meta["reading"])
        bounds = meta.get("region_bounds")
        if bounds is not None and len(bounds) != 4:
            raise ParameterError("region_bounds", f"expected x0, y0, x1, y1 (µm), got {bounds!r}")
    except (ParameterError, TypeError) as exc:
        raise ArchiveError(f"{path}: unit input: {exc}") from None
    steps = pd.DataFrame({k: arrays[k] for k in meta["columns"]})
    return UnitInput(steps, reading, acquisition, None if bounds is None else tuple(float(b) for b in bounds))
