"""From the columns a reader found to the locations table: units, checks, order and ``attrs``.

Every reader returns a :class:`RawTable` (source columns, their roles and the units the file
states); :func:`assemble` applies one set of rules to all formats:

* coordinates to µm: the caller's ``space_scale`` or ``space_unit``, else the unit in the file,
  else the format's native unit (pixels for trackpy, MOSAIC and ISBI: ``pixel_size`` required),
  else µm (TRamWAy's convention);
* times to s: the caller's ``time_scale`` or ``time_unit``, else the file's unit, else s; times in
  frames (a frame column, or a time unit ``frame``) are multiplied by ``frame_interval``;
* no NaN or infinite value in n, x, y, z, t (the first one is reported with its line);
* integral trajectory ids; rows sorted by (n, t), stably; two rows of one trajectory at the same
  time are refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_tramway.core.errors import TrajectoryFormatError

from . import units as U

SPACE_ROLES = ("x", "y", "z")


@dataclass
class Options:
    """The reading options of :func:`napari_tramway.core.io.read_trajectories` (units µm, s)."""

    columns: object = None
    keep_columns: bool = False
    frame_interval: float | None = None
    localization_precision: float | None = None
    pixel_size: float | None = None
    space_unit: str | None = None
    space_scale: float | None = None
    time_unit: str | None = None
    time_scale: float | None = None
    threads: int | None = None

    def check(self, path: str) -> Options:
        """Validate the values; raise :class:`TrajectoryFormatError` naming the file."""
        try:
            for name in (
                "frame_interval",
                "localization_precision",
                "pixel_size",
                "space_scale",
                "time_scale",
            ):
                setattr(self, name, U.positive(getattr(self, name), name))
        except ValueError as exc:
            raise TrajectoryFormatError(str(exc), path=path) from None
        if self.space_unit is not None and self.space_scale is not None:
            raise TrajectoryFormatError("give space_unit= or space_scale=, not both", path=path)
        if self.time_unit is not None and self.time_scale is not None:
            raise TrajectoryFormatError("give time_unit= or time_scale=, not both", path=path)
        if self.space_unit is not None and U.space_factor(self.space_unit) is None:
            raise TrajectoryFormatError(
                f"unknown space_unit {self.space_unit!r}; expected one of µm, um, micron, nm, "
                "mm, pixel, px",
                path=path,
            )
        if self.time_unit is not None and U.time_factor(self.time_unit) is None:
            raise TrajectoryFormatError(
                f"unknown time_unit {self.time_unit!r}; expected one of s, sec, ms, µs, min, frame",
                path=path,
            )
        if self.columns is not None and not isinstance(self.columns, (dict, list, tuple)):
            raise TrajectoryFormatError(
                "columns= must be a list of names or a dict {role: column name}", path=path
            )
        return self


@dataclass
class RawTable:
    """What a reader found, before units and checks.

    ``data`` maps source column names to arrays (float64 for the role columns); ``roles`` maps
    n, x, y, z, t, frame to source names; ``units`` maps roles to the unit the file states.
    ``line_of_row(i)`` gives the 1-based file line of data row ``i`` (or ``None``).
    """

    path: str
    format: str
    data: dict[str, np.ndarray]
    roles: dict[str, str]
    units: dict[str, str | None] = field(default_factory=dict)
    extras: list[str] = field(default_factory=list)
    line_of_row: Callable[[int], int | None] | None = None
    row_label: Callable[[int], str] | None = None
    native_pixels: bool = False
    what: str = ""
    file_pixel_size: float | None = None
    file_frame_interval: float | None = None
    drop_constant_z: bool = False
    assumed_units: bool = False

    def where(self, row: int) -> tuple[int | None, str]:
        """``(line, extra text)`` locating data row ``row`` for an error message."""
        line = self.line_of_row(int(row)) if self.line_of_row is not None else None
        label = self.row_label(int(row)) if self.row_label is not None else ""
        return line, label


def assemble(raw: RawTable, opts: Options) -> pd.DataFrame:
    """Build the locations table (n, x, y[, z], t; µm, s) with its ``attrs``."""
    path = raw.path
    roles = raw.roles
    data = raw.data
    n_rows = len(next(iter(data.values()))) if data else 0
    if n_rows == 0:
        raise TrajectoryFormatError("no data rows (the file holds no locations)", path=path)

    # --- trajectory ids -------------------------------------------------------------------
    n = _trajectory_ids(raw, data[roles["n"]])

    # --- space ----------------------------------------------------------------------------
    out: dict[str, np.ndarray] = {"n": n}
    x_unit = values = None
    for role in SPACE_ROLES:
        if role not in roles:
            continue
        src = roles[role]
        values = _finite(raw, src, data[src])
        if (
            role == "z"
            and raw.drop_constant_z
            and (values.size == 0 or np.all(values == values[0]))
        ):
            continue
        factor, unit = _space_factor(raw, role, opts)
        if role == "x":
            x_unit = unit
        if factor != 1.0:
            values = _scaled(values, factor, data, src)
        out[role] = values

    # --- time -----------------------------------------------------------------------------
    frame_copy = None
    if opts.keep_columns and "frame" in roles and roles["frame"] != roles.get("t"):
        frame_copy = np.array(data[roles["frame"]], copy=True)  # before any in-place scaling
    t, time_unit, fi, from_frames = _times(raw, opts)
    out["t"] = t
    if opts.frame_interval is not None:
        fi = opts.frame_interval
    elif fi is None:
        fi = raw.file_frame_interval
    if fi is None and not from_frames and "frame" in roles:
        fi = _inferred_frame_interval(t, raw.data[roles["frame"]])

    # --- extra columns ----------------------------------------------------------------------
    extras = {}
    if frame_copy is not None:
        extras[roles["frame"]] = frame_copy
    if opts.keep_columns:
        for name in raw.extras:
            key = f"{name}_source" if name in ("n", "x", "y", "z", "t") else name
            extras[key] = raw.data[name]
    del data, values
    raw.data = {}  # drop the reader's references: sorting below may then free memory early

    # --- order and duplicates ------------------------------------------------------------
    order = _order(out["n"], out["t"])
    if order is not None:
        for k in list(out):
            out[k] = out[k][order]
        for k in list(extras):
            extras[k] = np.asarray(extras[k])[order]
    _check_duplicates(raw, out["n"], out["t"], order)

    columns = {**out, **extras}
    df = pd.DataFrame(columns, copy=False)
    df.attrs.update(
        source=path,
        format=raw.format,
        frame_interval=fi,
        localization_precision=opts.localization_precision,
        pixel_size=opts.pixel_size if opts.pixel_size is not None else raw.file_pixel_size,
        space_unit=opts.space_unit if opts.space_unit is not None else x_unit,
        time_unit=time_unit,
    )
    if raw.assumed_units and opts.space_unit is None and opts.space_scale is None:
        warnings.warn(
            f"{path}: the file does not state its units; assuming µm and s (pass space_unit= "
            "and time_unit= to say otherwise)",
            UserWarning,
            stacklevel=3,
        )
    return df


# ------------------------------------------------------------------------------------------


def _fail_at(raw: RawTable, row: int, column: str, message: str):
    line, label = raw.where(row)
    if label:
        message = f"{message} ({label})"
    raise TrajectoryFormatError(message, path=raw.path, line=line, column=column)


def _finite(raw: RawTable, src: str, values: np.ndarray) -> np.ndarray:
    """``values`` as float64, checked finite (the first NaN / inf is reported with its line)."""
    values = np.asarray(values)
    if values.dtype != np.float64:
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            converted = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(~np.isfinite(converted))
            row = int(bad[0]) if bad.size else 0
            _fail_at(raw, row, src, f"{values[row]!r} is not a number")
    ok = np.isfinite(values)
    if not ok.all():
        row = int(np.argmin(ok))
        what = "missing value (empty cell or NaN)" if np.isnan(values[row]) else "infinite value"
        _fail_at(raw, row, src, f"{what}; every location needs a finite {src}")
    return values


def _scaled(values, factor, data, src):
    if values is data.get(src) and values.flags.writeable:
        values *= factor  # the reader's own array: scale in place (no copy for big files)
        return values
    return values * factor


def _trajectory_ids(raw: RawTable, values: np.ndarray) -> np.ndarray:
    src = raw.roles["n"]
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    values = _finite(raw, src, values)
    ids = values.astype(np.int64)
    bad = ids != values
    if bad.any():
        row = int(np.argmax(bad))
        _fail_at(raw, row, src, f"trajectory id {values[row]!r} is not an integer")
    return ids


def _space_factor(raw: RawTable, role: str, opts: Options) -> tuple[float, str | None]:
    if opts.space_scale is not None:
        return opts.space_scale, None
    if opts.space_unit is not None:
        unit = opts.space_unit
        origin = "space_unit="
    else:
        unit = raw.units.get(role)
        origin = "the file"
        if unit is None and raw.native_pixels:
            unit = U.PIXEL
            origin = f"{raw.what or raw.format} convention"
    if unit is None:
        return 1.0, None
    factor = U.space_factor(unit)
    if factor is None:
        raise TrajectoryFormatError(
            f"unknown space unit {unit!r} for {raw.roles[role]}; pass space_unit= (µm, nm, pixel) "
            "or space_scale= (factor to µm)",
            path=raw.path,
            column=raw.roles[role],
        )
    if factor == U.PIXEL:
        if opts.pixel_size is None:
            raise TrajectoryFormatError(
                f"the positions are in pixels ({origin}); pass pixel_size=<µm per pixel> to "
                "convert them to µm, or space_unit='µm' if they are already in µm",
                path=raw.path,
                column=raw.roles[role],
            )
        return opts.pixel_size, unit
    return float(factor), unit


def _times(raw: RawTable, opts: Options):
    """``(t in s, unit read, frame interval used or None, True if t came from frames)``."""
    roles, data, path = raw.roles, raw.data, raw.path
    if opts.time_scale is not None:
        if "t" not in roles:
            raise TrajectoryFormatError(
                "time_scale= needs a time column; this file has only frames: pass frame_interval=",
                path=path,
            )
        src = roles["t"]
        return _scaled(_finite(raw, src, data[src]), opts.time_scale, data, src), None, None, False
    unit = opts.time_unit if opts.time_unit is not None else raw.units.get("t")
    use_frames = "t" not in roles or U.is_frame_unit(unit)
    if use_frames:
        src = roles["frame"] if "frame" in roles else roles["t"]
        fi = opts.frame_interval if opts.frame_interval is not None else raw.file_frame_interval
        if fi is None:
            what = f"{raw.what} " if raw.what else ""
            raise TrajectoryFormatError(
                f"the {what}times are frame numbers ({src!r}); pass frame_interval=<s per frame> "
                "to convert them to seconds",
                path=path,
                column=src,
            )
        values = _finite(raw, src, data[src])
        return _scaled(values, fi, data, src), unit or U.FRAME, fi, True
    src = roles["t"]
    values = _finite(raw, src, data[src])
    if unit is None:
        return values, None, None, False
    factor = U.time_factor(unit)
    if factor is None:
        raise TrajectoryFormatError(
            f"unknown time unit {unit!r}; pass time_unit= (s, ms, frame) or time_scale= "
            "(factor to s)",
            path=path,
            column=src,
        )
    if factor != 1.0:
        values = _scaled(values, factor, data, src)
    return values, unit, None, False


def _inferred_frame_interval(t: np.ndarray, frames) -> float | None:
    """The frame interval (s) implied by times ``t`` (s) and frame numbers, when they agree."""
    f = np.asarray(frames, dtype=np.float64)
    if f.size < 2 or not np.isfinite(f).all():
        return None
    i0, i1 = int(np.argmin(f)), int(np.argmax(f))
    if f[i1] == f[i0]:
        return None
    fi = (t[i1] - t[i0]) / (f[i1] - f[i0])
    if not fi > 0:
        return None
    if np.allclose(t, t[i0] + (f - f[i0]) * fi, rtol=1e-6, atol=1e-6 * fi):
        return float(f"{fi:.10g}")  # 0.05, not 0.049999999999999996
    return None


def _order(n: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """The stable (n, t) sorting permutation, or ``None`` when already sorted."""
    if n.size < 2:
        return None
    dn = n[1:] < n[:-1]
    if not dn.any():
        same = n[1:] == n[:-1]
        back = t[1:] < t[:-1]
        back &= same
        if not back.any():
            return None
    return np.lexsort((t, n))


def _check_duplicates(raw: RawTable, n: np.ndarray, t: np.ndarray, order) -> None:
    if n.size < 2:
        return
    dup = n[1:] == n[:-1]
    dup &= t[1:] == t[:-1]
    if not dup.any():
        return
    i = int(np.argmax(dup))
    a, b = i, i + 1
    if order is not None:
        a, b = sorted((int(order[a]), int(order[b])))
    line_a, label_a = raw.where(a)
    line_b, label_b = raw.where(b)
    if line_a is not None and line_b is not None:
        where = f"lines {line_a} and {line_b}"
    elif label_a:
        where = f"{label_a} and {label_b}"
    else:
        where = f"rows {a + 1} and {b + 1}"
    hint = ""
    if raw.format == "trackmate-csv":
        hint = (
            " (TrackMate tracks that split or merge have several spots per frame: read the "
            "TrackMate XML file instead, which breaks branches into simple trajectories)"
        )
    raise TrajectoryFormatError(
        f"trajectory {int(n[i])} has two locations at the same time t={t[i]:g} s ({where}); "
        f"each trajectory may visit each time point once{hint}",
        path=raw.path,
        line=line_b,
    )
