"""The exception types of the core, each a ``ValueError`` so that callers can catch one type."""

from __future__ import annotations


class TrajectoryFormatError(ValueError):
    """A trajectory file could not be read; the message names the file and the line or column.

    Attributes
    ----------
    path : str or None
        The file that was being read.
    line : int or None
        1-based line number in that file, when the problem is on one line.
    column : str or None
        The column concerned, when the problem is in one column.
    """

    def __init__(self, message: str, *, path=None, line=None, column=None):
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ColumnError(TrajectoryFormatError):
    """The columns of a table are not recognised: which one is the trajectory id, x, y, t?

    The message names the columns found and how to map them (column mapping setting).
    """


class UnitError(TrajectoryFormatError):
    """A unit cannot be determined where it matters (pixels without a pixel size, frames without a
    frame interval) or is not a known unit."""


class NotTrajectoryFileError(TrajectoryFormatError):
    """The file is text, but not a table of trajectories (prose, a log, a table of numbers too
    narrow to hold trajectory id, x, y and time); the message says what was found."""


class UnitWarning(UserWarning):
    """A trajectory file's unit was assumed and its values suggest another one (pixels read as
    µm, frame numbers read as seconds). Silence it by giving the unit."""


class RoiFormatError(ValueError):
    """A ROI file or ROI description is invalid; the message names the file / line / field."""


class ParameterError(ValueError):
    """A parameter value is invalid; ``field`` is the dotted path of the parameter."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SettingsError(ValueError):
    """One or more invalid settings; ``problems`` lists each as a :class:`ParameterError`
    (``field`` is its dotted path, e.g. ``files[0].pixel_size``)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class ArchiveError(ValueError):
    """A result or mesh file is corrupt, truncated, of another format or of an unknown version."""
