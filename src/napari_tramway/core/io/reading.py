"""Reading a trajectory file: :func:`read_trajectory_file` (the typed result) and
:func:`read_trajectories` (the table, for scripts); see the package's docstring."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from napari_tramway.core.errors import SettingsError, TrajectoryFormatError, UnitWarning

from .metadata import read_metadata
from .provenance import Provenance, TrajectoryFile
from .settings import FILE_SETTINGS, FileSettings
from .sniff import read_head, sniff

if TYPE_CHECKING:
    import pandas as pd

_PACKAGE = __name__.rpartition(".")[0]

#: Options of a read that do not describe the file (not in :data:`FILE_SETTINGS`).
READING_OPTIONS = ("keep_columns", "threads")
#: Every keyword :func:`read_trajectories` accepts.
OPTION_NAMES = tuple(p.name for p in FILE_SETTINGS.parameters) + READING_OPTIONS

#: format → (module, function) of its reader, imported once a file of that format is opened
#: (numpy, pandas: the command line starts, and a file that is not trajectories is refused, without them)
_READERS = {
    "tramway-text": (".text", "read_text"),
    "csv": (".table", "read_table"),
    "trackmate-csv": (".table", "read_table"),
    "trackpy": (".table", "read_table"),
    "mosaic": (".table", "read_table"),
    "thunderstorm": (".table", "read_table"),
    "trackmate-xml": (".trackmate_xml", "read_trackmate_xml"),
    "isbi-xml": (".isbi_xml", "read_isbi_xml"),
}


def _reader(fmt: str):
    module, name = _READERS[fmt]
    return getattr(import_module(module, _PACKAGE), name)


def read_trajectory_file(
    path,
    settings: FileSettings | Mapping | None = None,
    *,
    keep_columns: bool = False,
    threads: int | None = None,
    column_names: list | None = None,
    warn: bool = True,
) -> TrajectoryFile:
    """Read a trajectory file: the locations (µm, s), the settings used and the provenance.

    Parameters
    ----------
    path : str or path-like
        The file. Its format is recognised from its content (see :data:`FORMATS`).
    settings : FileSettings or dict, optional
        How to read it (:data:`FILE_SETTINGS`: format, columns, units, pixel size µm, frame
        interval s, σ µm); a dict is validated with :meth:`FileSettings.from_dict`.
    keep_columns : bool
        Append the file's other columns after ``t`` (default: drop them).
    threads : int, optional
        Parser threads for big text files (default: the available cores, at most 4).
    column_names : list of str, optional
        Names of the file's columns in order, replacing its header (scripts; the faces use the
        ``columns`` mapping, with 0-based positions for a file without header).
    warn : bool
        Emit the :class:`UnitWarning` s (they are recorded in the provenance either way).

    Raises
    ------
    TrajectoryFormatError
        The file is missing, empty, binary, not trajectories (:class:`NotTrajectoryFileError`),
        its columns are not recognised (:class:`ColumnError`), a unit cannot be determined
        (:class:`UnitError`), a value is bad, or a trajectory visits one time twice; also for
        invalid ``settings`` (the message lists every problem).
    """
    abspath, head = read_head(path)
    if not isinstance(settings, FileSettings):
        try:
            settings = FileSettings.from_dict(settings)
        except SettingsError as exc:
            err = TrajectoryFormatError(f"invalid settings: {exc}", path=abspath)
            err.problems = exc.problems  # each a ParameterError with its field
            raise err from None
    from .assemble import Options, assemble

    opts = Options(settings=settings, keep_columns=bool(keep_columns), threads=threads,
                   column_names=None if column_names is None else list(column_names))
    sniffed = sniff(abspath, head, settings.format)
    raw = _reader(sniffed.format)(abspath, head, sniffed, opts)
    file_meta, metadata_file, problem = read_metadata(abspath)
    locations, provenance = assemble(raw, opts, file_meta, metadata_file)
    if problem is not None:
        provenance = _with_warning(provenance, problem)
    if warn:
        for message in provenance.warnings:
            warnings.warn(message, UnitWarning, stacklevel=_caller_level())
    return TrajectoryFile(locations, settings, provenance)


def read_trajectories(path, **options) -> pd.DataFrame:
    """Read a trajectory file into a locations table (n, x, y[, z], t; µm, s).

    ``options`` are the settings of :data:`FILE_SETTINGS` (``format``, ``columns``,
    ``space_unit``, ``pixel_size`` µm, ``time_unit``, ``frame_interval`` s,
    ``localization_precision`` σ µm, ``space_scale``, ``time_scale``) and ``keep_columns``,
    ``threads``; ``columns`` may also be a list naming the file's columns in order. The table's
    ``attrs`` hold a copy of the metadata (see the module docstring); the typed record is
    :func:`read_trajectory_file`'s.

    Raises
    ------
    TrajectoryFormatError
        As :func:`read_trajectory_file`; an unknown keyword is listed with the accepted ones.
    """
    abspath, _ = read_head(path)
    unknown = sorted(k for k in options if k not in OPTION_NAMES)
    if unknown:
        raise TrajectoryFormatError(
            f"unknown option(s) {', '.join(unknown)}; expected some of {', '.join(OPTION_NAMES)}",
            path=abspath,
        )
    reading = {k: options.pop(k) for k in READING_OPTIONS if k in options}
    columns = options.get("columns")
    if isinstance(columns, (list, tuple)):
        reading["column_names"] = list(options.pop("columns"))
    return read_trajectory_file(abspath, options, **reading).locations


def _with_warning(provenance: Provenance, message: str) -> Provenance:
    from dataclasses import replace

    return replace(provenance, warnings=(*provenance.warnings, message))


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def detect_format(path) -> str:
    """The format name :func:`read_trajectories` would use for ``path``."""
    abspath, head = read_head(path)
    return sniff(abspath, head).format
