"""Trajectory readers: one function, :func:`read_trajectories`, for every supported format.

The result is always a *locations* table: columns ``n`` (int64), ``x``, ``y`` [, ``z``] (µm),
``t`` (s), sorted by (n, t), with ``attrs`` ``source``, ``format``, ``frame_interval`` (s),
``localization_precision`` (σ, µm), ``pixel_size`` (µm), ``space_unit`` and ``time_unit`` (the
units the file's values were in, before conversion). Every problem with the input raises
:class:`~napari_tramway.core.errors.TrajectoryFormatError` (a ``ValueError``) whose message names
the file, and the line and column when it can. See ``docs/formats.md``.
"""

from __future__ import annotations

import pandas as pd

from napari_tramway.core.errors import TrajectoryFormatError

from .assemble import Options, assemble
from .isbi_xml import read_isbi_xml
from .sniff import FORMATS, read_head, sniff
from .table import read_table
from .text import read_text, write_trajectories_text
from .trackmate_xml import read_trackmate_xml

__all__ = [
    "FORMATS",
    "OPTION_NAMES",
    "TrajectoryFormatError",
    "detect_format",
    "read_trajectories",
    "write_trajectories_text",
]

OPTION_NAMES = (
    "format",
    "columns",
    "keep_columns",
    "frame_interval",
    "localization_precision",
    "pixel_size",
    "space_unit",
    "space_scale",
    "time_unit",
    "time_scale",
    "threads",
)

_READERS = {
    "tramway-text": read_text,
    "csv": read_table,
    "trackmate-csv": read_table,
    "trackpy": read_table,
    "mosaic": read_table,
    "thunderstorm": read_table,
    "trackmate-xml": read_trackmate_xml,
    "isbi-xml": read_isbi_xml,
}


def read_trajectories(
    path,
    *,
    format: str | None = None,
    columns=None,
    keep_columns: bool = False,
    frame_interval: float | None = None,
    localization_precision: float | None = None,
    pixel_size: float | None = None,
    space_unit: str | None = None,
    space_scale: float | None = None,
    time_unit: str | None = None,
    time_scale: float | None = None,
    threads: int | None = None,
    **unknown,
) -> pd.DataFrame:
    """Read a trajectory file into a locations table (n, x, y[, z], t; µm, s).

    Parameters
    ----------
    path : str or path-like
        The file. Its format is recognised from its content (see :data:`FORMATS`).
    format : str, optional
        Force a format: ``'tramway-text'``, ``'csv'``, ``'trackmate-csv'``, ``'trackpy'``,
        ``'mosaic'``, ``'thunderstorm'``, ``'trackmate-xml'`` or ``'isbi-xml'``.
    columns : list of str or dict, optional
        Text and table formats: a list names the file's columns in order (replacing its
        header); a dict maps roles ``n``, ``x``, ``y``, ``z``, ``t``, ``frame`` to column names
        (or 0-based positions).
    keep_columns : bool
        Append the file's other columns after ``t`` (default: drop them).
    frame_interval : float, optional
        Time between frames (s). Converts frame numbers to times; also recorded in ``attrs``.
    localization_precision : float, optional
        Localisation precision σ (µm), recorded in ``attrs``.
    pixel_size : float, optional
        Pixel size (µm). Converts positions given in pixels; also recorded in ``attrs``.
    space_unit : str, optional
        Unit of the file's positions, overriding the file: ``'µm'``, ``'nm'``, ``'pixel'``...
    space_scale : float, optional
        Factor from the file's positions to µm (instead of ``space_unit``).
    time_unit : str, optional
        Unit of the file's times: ``'s'``, ``'ms'``, ``'frame'``...
    time_scale : float, optional
        Factor from the file's times to s (instead of ``time_unit``).
    threads : int, optional
        Parser threads for big text files (default: the available cores, at most 4).

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z``], ``t`` [, extra columns], index 0..N-1.

    Raises
    ------
    TrajectoryFormatError
        The file is missing, empty, binary, malformed, lacks a needed column or unit, has a bad
        value, or a trajectory visits one time twice.
    """
    abspath, head = read_head(path)
    if unknown:
        raise TrajectoryFormatError(
            f"unknown option(s) {', '.join(sorted(unknown))}; expected some of "
            f"{', '.join(OPTION_NAMES)}",
            path=abspath,
        )
    opts = Options(
        columns=columns,
        keep_columns=keep_columns,
        frame_interval=frame_interval,
        localization_precision=localization_precision,
        pixel_size=pixel_size,
        space_unit=space_unit,
        space_scale=space_scale,
        time_unit=time_unit,
        time_scale=time_scale,
        threads=threads,
    ).check(abspath)
    sniffed = sniff(abspath, head, format)
    raw = _READERS[sniffed.format](abspath, head, sniffed, opts)
    return assemble(raw, opts)


def detect_format(path) -> str:
    """The format name :func:`read_trajectories` would use for ``path``."""
    abspath, head = read_head(path)
    return sniff(abspath, head).format
