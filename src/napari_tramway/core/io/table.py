"""Delimited tables with a header (CSV, TSV, semicolon): generic and tracker flavours.

The delimiter is sniffed among ``,`` ``;`` and tab (a ``;`` table whose numbers use a decimal
comma is read as such). Column roles are found by name (see :mod:`.columns`) or given with
``columns={'n': ..., 'x': ..., 'y': ..., 't' or 'frame': ...}``. Flavours:

* ``trackmate-csv``: TrackMate spot tables. TrackMate >= 7 writes up to four header lines
  (feature keys, names, short names, units such as ``(micron)``, ``(sec)``); older exports have
  the keys line only (units then unknown: µm and s are assumed, with a warning). Spots outside
  tracks (empty or ``None`` TRACK_ID) are dropped; a table with no spot in a track is refused.
* ``trackpy``: ``particle``, ``frame``, ``x``, ``y`` in pixels: ``pixel_size`` and
  ``frame_interval`` are required (or ``space_unit='µm'`` if the positions are calibrated).
* ``mosaic``: MOSAIC ParticleTracker (``Trajectory``, ``Frame``, ``x``, ``y``, ``z``, ``m0``...):
  pixels and frames, as trackpy.
* ``thunderstorm``: ThunderSTORM localisation tables (``id``, ``frame``, ``x [nm]``...) with a
  track column (``track``, ``track_id``, ``trajectory``, ``particle``...): units from the header
  brackets, frames need ``frame_interval``; ``id`` numbers localisations, never trajectories.
* ``csv``: any other table with trajectory, x, y and t (or frame) columns; µm and s unless the
  header says otherwise (``x [nm]``, ``t (ms)``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from napari_tramway.core.errors import ColumnError, TrajectoryFormatError

from . import columns as C
from .assemble import Options, RawTable
from .plausible import check_looks_tabular
from .sniff import Sniffed, split_line
from .text import line_of_row

TRACK_ALIASES = (
    "track",
    "track_id",
    "trackid",
    "traj",
    "trajectory",
    "trajectory_id",
    "particle",
    "particle_id",
    "tid",
    "n",
)

_WHAT = {
    "trackmate-csv": "TrackMate",
    "trackpy": "trackpy",
    "mosaic": "MOSAIC ParticleTracker",
    "thunderstorm": "ThunderSTORM",
    "csv": "",
}


def read_table(path: str, head: bytes, sniffed: Sniffed, opts: Options) -> RawTable:
    """Read a delimited table into a :class:`RawTable` (values as in the file)."""
    fmt = sniffed.format
    delim = sniffed.delimiter
    lines = _lines(head, sniffed.encoding)
    i0 = next(
        (
            i
            for i, (_, text, _) in enumerate(lines)
            if text.strip() and not text.lstrip().startswith("#")
        ),
        None,
    )
    if i0 is None:
        raise TrajectoryFormatError("the file holds no data (only blank or # lines)", path=path)
    file_units: dict[str, str] = {}
    units_row = False
    if not sniffed.header:
        width = len(split_line(lines[i0][1], delim))
        names = C.headerless_names(path, width, opts.columns, lines[i0][0])
        first_data = i0
    else:
        tokens = split_line(lines[i0][1], delim)
        first_data = i0 + 1
        if fmt == "trackmate-csv":
            extra, file_units = _trackmate_header(tokens, lines[i0 + 1 : i0 + 4], delim)
            units_row = bool(file_units)
            first_data += extra
        names = C.dedupe(tokens)
        if isinstance(opts.columns, (list, tuple)):
            names = C.listed_names(path, opts.columns, len(names), lines[i0][0])
    if first_data >= len(lines):
        raise TrajectoryFormatError(
            "no data rows after the header", path=path, line=lines[first_data - 1][0]
        )
    data_offset = lines[first_data][2]
    first_line = first_data + 1

    mapping = opts.columns if isinstance(opts.columns, dict) else None
    n_aliases = TRACK_ALIASES if fmt == "thunderstorm" else None
    roles, units = C.resolve(
        names, path, mapping, allow_id_as_n=(fmt == "csv"), n_aliases=n_aliases
    )
    if fmt == "thunderstorm" and "n" not in roles:
        raise ColumnError(
            "a ThunderSTORM localisation table without a track column: the molecules are not "
            f"tracked. Columns found: {', '.join(names)}; expected a track column among "
            f"{', '.join(TRACK_ALIASES)} (the 'id' column numbers localisations, not "
            f"trajectories), or say which column is the trajectory id (n): {C._how()}",
            path=path,
        )
    try:
        C.require(roles, names, path, _WHAT.get(fmt, ""))
    except ColumnError:
        check_looks_tabular(path, head, sniffed.encoding, delim, sniffed.header)
        raise
    for role, src in roles.items():
        if not units.get(role) and file_units.get(src):
            units[role] = file_units[src]
    wanted = list(dict.fromkeys(roles.values()))
    extras = [c for c in names if c not in wanted] if opts.keep_columns else []

    data = _parse(path, data_offset, first_line, names, wanted, extras, delim, sniffed, head)
    n_src = roles["n"]
    rows = None
    if fmt == "trackmate-csv":
        in_track = np.isfinite(data[n_src])
        if not in_track.all():
            if not in_track.any():
                raise TrajectoryFormatError(
                    "spots without tracks: no spot of this TrackMate table belongs to a track "
                    f"(column {n_src} is empty); track the spots in TrackMate, then export again",
                    path=path,
                    column=n_src,
                )
            rows = np.flatnonzero(in_track)
            data = {k: v[rows] for k, v in data.items()}

    def line_at(row: int, _rows=rows) -> int | None:
        source_row = int(_rows[row]) if _rows is not None else row
        return line_of_row(path, data_offset, first_line, source_row)

    return RawTable(
        path=path,
        format=fmt,
        data=data,
        roles=roles,
        units={k: v for k, v in units.items() if v},
        extras=extras,
        line_of_row=line_at,
        native_pixels=fmt in ("trackpy", "mosaic"),
        what=_WHAT.get(fmt, ""),
        drop_constant_z=fmt != "csv",
        assumed_units=fmt == "trackmate-csv" and not units_row,
    )


# --- header ---------------------------------------------------------------------------------


def _lines(head: bytes, encoding: str, limit: int = 64) -> list[tuple[int, str, int]]:
    """``(line number, text, byte offset)`` of the first lines of the sample."""
    out = []
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    line_no = 0
    while pos < len(head) and len(out) < limit:
        nl = head.find(b"\n", pos)
        if nl < 0:
            break
        line_no += 1
        out.append((line_no, head[pos:nl].decode(encoding, errors="replace").rstrip("\r"), pos))
        pos = nl + 1
    if pos < len(head) and len(out) < limit:
        line_no += 1
        out.append((line_no, head[pos:].decode(encoding, errors="replace"), pos))
    return out


def _trackmate_header(tokens, following, delim) -> tuple[int, dict[str, str]]:
    """Number of extra header lines after the keys line, and ``{column: unit}`` from the last.

    TrackMate >= 7 repeats the header as names, short names (each skipped when identical to
    the line before) and units (``(micron)``, ``(sec)``, or empty cells).
    """
    probe = [i for i, t in enumerate(tokens) if t.strip().upper() in ("POSITION_X", "ID", "FRAME")]
    extra = 0
    last = None
    for _, text, _ in following:
        cells = split_line(text, delim)
        if not cells or not any(c.strip() for c in cells):
            break
        numeric = False
        for i in probe:
            if i < len(cells):
                try:
                    float(cells[i])
                    numeric = True
                except ValueError:
                    pass
        if numeric:
            break
        extra += 1
        last = cells
    units: dict[str, str] = {}
    if last is not None and all(re.fullmatch(r"\s*(\(.*\))?\s*", c) for c in last):
        for name, cell in zip(C.dedupe(tokens), last):
            cell = cell.strip()
            if cell:
                units[name] = cell[1:-1].strip()
    return extra, units


# --- parsing --------------------------------------------------------------------------------


def _read(path, data_offset, dtype, delim, sniffed, head, **kw) -> pd.DataFrame:
    """The data rows, columns numbered 0, 1, ... (pandas checks that no row is too long)."""
    sep = delim if delim is not None else r"\s+"
    decimal = "."
    if delim == ";" and re.search(rb"\d,\d", head[data_offset : data_offset + 4096]):
        decimal = ","
    with open(path, "rb") as f:
        f.seek(data_offset)
        return pd.read_csv(
            f,
            sep=sep,
            header=None,
            dtype=dtype,
            index_col=False,
            encoding=sniffed.encoding,
            decimal=decimal,
            skip_blank_lines=True,
            engine="c",
            **kw,
        )


def _fit_width(df, names, path, data_offset, first_line) -> pd.DataFrame:
    """Match the parsed columns to the header: empty trailing cells are ignored, values not."""
    width = len(names)
    if df.shape[1] > width:
        extra = df.iloc[:, width:]
        filled = extra.notna().to_numpy().any(axis=1)
        if filled.any():
            row = int(np.argmax(filled))
            raise TrajectoryFormatError(
                f"more values than the {width} columns of the header",
                path=path,
                line=line_of_row(path, data_offset, first_line, row),
            )
        df = df.iloc[:, :width]
    df.columns = names[: df.shape[1]]
    for name in names[df.shape[1] :]:
        df[name] = np.nan  # a header longer than every row: those cells are empty
    return df


def _parse(path, data_offset, first_line, names, wanted, extras, delim, sniffed, head) -> dict:
    dtype = {names.index(c): np.float64 for c in wanted}
    try:
        df = _read(path, data_offset, dtype, delim, sniffed, head)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = first_line + int(m.group(1)) - 1 if m else None
        detail = re.sub(r"^Error tokenizing data\. C error: ", "", str(exc)).strip()
        raise TrajectoryFormatError(
            f"malformed row: {detail} (the header has {len(names)} columns)", path=path, line=line
        ) from None
    except (ValueError, TypeError, KeyError):
        _locate_text(path, data_offset, first_line, names, wanted, delim, sniffed, head)
        raise
    if len(df) == 0:
        raise TrajectoryFormatError("no data rows after the header", path=path)
    df = _fit_width(df, names, path, data_offset, first_line)
    data = {c: df[c].to_numpy(dtype=np.float64) for c in wanted}
    for c in extras:
        data[c] = df[c].to_numpy()
    return data


def _locate_text(path, data_offset, first_line, names, wanted, delim, sniffed, head):
    """Find the first cell of a number column that is not a number, and raise on it."""
    df = _read(path, data_offset, str, delim, sniffed, head, keep_default_na=True)
    df = _fit_width(df, names, path, data_offset, first_line)
    best = None
    for c in wanted:
        col = df[c]
        converted = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(converted.isna().to_numpy() & col.notna().to_numpy())
        if bad.size and (best is None or bad[0] < best[0]):
            best = (int(bad[0]), c, col.iloc[int(bad[0])])
    if best is None:
        return
    row, c, value = best
    raise TrajectoryFormatError(
        f"{value!r} is not a number",
        path=path,
        line=line_of_row(path, data_offset, first_line, row),
        column=c,
    )
