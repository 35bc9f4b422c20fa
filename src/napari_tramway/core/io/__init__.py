"""Trajectory readers: every supported format, read in the right units.

* :func:`read_trajectory_file` ``(path, settings) -> TrajectoryFile``: the entry point of the
  pipeline and the faces. It returns the locations table (``n``, ``x``, ``y`` [, ``z``] in µm,
  ``t`` in s, sorted by (n, t)) with the :class:`FileSettings` used and a :class:`Provenance`
  saying what the file's units were, the factors applied, and where the frame interval and σ
  came from (given, the file, inferred, estimated, default).
* :func:`read_trajectories` ``(path, **options) -> DataFrame``: the same read for scripts; the
  table's ``attrs`` hold a convenience copy of the metadata (``source``, ``format``,
  ``frame_interval`` s and ``frame_interval_source``, ``localization_precision`` σ µm when
  given or recorded, ``pixel_size`` µm, ``space_unit`` and ``time_unit`` as the file spelled
  them).

What describes a file is :data:`FILE_SETTINGS` (one registry for every face). Every problem with
the input raises :class:`~napari_tramway.core.errors.TrajectoryFormatError` (a ``ValueError``)
whose message names the file, and the line and column when it can; units assumed against the
values' appearance give a :class:`~napari_tramway.core.errors.UnitWarning`. See
``docs/formats.md``.
"""

from importlib import import_module

_LAZY = {
    **dict.fromkeys(("ColumnError", "NotTrajectoryFileError", "TrajectoryFormatError", "UnitError", "UnitWarning"),
                    "napari_tramway.core.errors"),
    **dict.fromkeys(("FILE_SETTINGS", "FileSettings", "how_to_give"), ".settings"),
    **dict.fromkeys(("Provenance", "TrajectoryFile"), ".provenance"),
    "FORMATS": ".sniff",
    "write_trajectories_text": ".writer",
    **dict.fromkeys(("OPTION_NAMES", "READING_OPTIONS", "detect_format", "read_trajectories", "read_trajectory_file"),
                    ".reading"),
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    """The names above, imported when first used: reading the settings (a spec, ``--help``) does
    not import the readers (pandas)."""
    if name in _LAZY:
        module = _LAZY[name]
        return getattr(import_module(module, __name__) if module.startswith(".") else import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
