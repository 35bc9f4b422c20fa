"""From the columns a reader found to the locations table and its :class:`Provenance`.

Every reader returns a :class:`RawTable` (source columns, their roles and the units the file
states); :func:`assemble` applies one set of rules to all formats (``docs/formats.md``):

* coordinates to µm: the caller's ``space_scale`` or ``space_unit``, else the unit the file
  states, else the format's convention (pixels for trackpy, MOSAIC and ISBI), else pixels when a
  ``pixel_size`` is given, else µm (assumed, with a :class:`UnitWarning` when the values look
  like pixels); pixels need a pixel size (an error otherwise);
* times to s: the caller's ``time_scale`` or ``time_unit``, else the file's unit, else frames
  for a frame column, else s (assumed); frames are multiplied by the frame interval (the
  caller's, else the file's: an error otherwise);
* the frame interval: the caller's, else the file's, else implied by a time and a frame column,
  else estimated as the median time step (:func:`~napari_tramway.core.trajectories.estimate_frame_interval`);
* σ: the caller's, else the file's, else :data:`~napari_tramway.core.defaults.LOCALIZATION_PRECISION`;
* no NaN or infinite value in n, x, y, z, t (the first one is reported with its line);
* integral trajectory ids; rows sorted by (n, t), stably; two rows of one trajectory at the same
  time are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_tramway.core.defaults import LOCALIZATION_PRECISION
from napari_tramway.core.errors import TrajectoryFormatError, UnitError
from napari_tramway.core.trajectories import estimate_frame_interval

from . import plausible
from . import units as U
from .provenance import Provenance
from .settings import FileSettings, how_to_give

SPACE_ROLES = ("x", "y", "z")


@dataclass
class Options:
    """How to read one file: its :class:`FileSettings` and options that do not describe the file.

    ``column_names`` (a script's ``columns=[...]``) names the file's columns in order, replacing
    its header; ``keep_columns`` keeps the other columns; ``threads`` parses big text files in
    parallel.
    """

    settings: FileSettings = field(default_factory=FileSettings)
    keep_columns: bool = False
    threads: int | None = None
    column_names: list | None = None

    @property
    def columns(self):
        """The column names (list) or the role mapping (dict), or ``None``: what readers use."""
        if self.column_names is not None:
            return list(self.column_names)
        return dict(self.settings.columns) if self.settings.columns else None


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


@dataclass
class _Units:
    """The decisions of one read, gathered for :class:`Provenance`."""

    space: tuple = (None, "assumed", 1.0)  # unit, source, factor (of x)
    time: tuple = (None, "assumed", 1.0)
    frame_interval: tuple = (None, None)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def assemble(raw: RawTable, opts: Options, file_meta: dict | None = None,
             metadata_file: str | None = None) -> tuple[pd.DataFrame, Provenance]:
    """The locations table (n, x, y[, z], t; µm, s), with ``attrs``, and its :class:`Provenance`.

    ``file_meta`` holds settings recorded beside the file (its metadata file): units, frame
    interval, σ, pixel size; they count as stated by the file.
    """
    s = opts.settings
    _merge_file_meta(raw, file_meta or {})
    path = raw.path
    roles = raw.roles
    data = raw.data
    n_rows = len(next(iter(data.values()))) if data else 0
    if n_rows == 0:
        raise TrajectoryFormatError("no data rows (the file holds no locations)", path=path)
    decided = _Units()

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
        unit, source, factor = _space(raw, role, s)
        if role == "x":  # attrs keep the file's spelling ('micron'), as before
            x_unit = {"file": raw.units.get("x"), "format": U.PIXEL, "pixel_size": U.PIXEL}.get(source)
            decided.space = (unit, source, factor)
        if factor != 1.0:
            values = _scaled(values, factor, data, src)
        out[role] = values

    # --- time -----------------------------------------------------------------------------
    frame_copy = None
    if opts.keep_columns and "frame" in roles and roles["frame"] != roles.get("t"):
        frame_copy = np.array(data[roles["frame"]], copy=True)  # before any in-place scaling
    t, time_unit = _times(raw, s, decided)
    out["t"] = t
    if decided.frame_interval[0] is None and "frame" in roles and roles["frame"] != roles.get("t"):
        fi = _inferred_frame_interval(t, data[roles["frame"]])
        if fi is not None:
            decided.frame_interval = (fi, "inferred")

    # --- extra columns ----------------------------------------------------------------------
    extras = {}
    if frame_copy is not None:
        extras[roles["frame"]] = frame_copy
    if opts.keep_columns:
        for name in raw.extras:
            key = f"{name}_source" if name in ("n", "x", "y", "z", "t") else name
            extras[key] = raw.data[name]
    del data, values

    # --- order and duplicates ------------------------------------------------------------
    order = _order(out["n"], out["t"])
    raw.data = {}  # drop the reader's references: sorting below may then free memory early
    if order is not None:
        for k in list(out):
            out[k] = out[k][order]
        for k in list(extras):
            extras[k] = np.asarray(extras[k])[order]
    _check_duplicates(raw, out["n"], out["t"], order)
    if decided.frame_interval[0] is None:
        estimate = estimate_frame_interval(out["n"], out["t"])
        if estimate is not None:
            decided.frame_interval = (estimate, "estimated")

    _plausibility(raw, s, out, decided)
    provenance = _provenance(raw, s, decided, file_meta or {}, metadata_file)
    columns = {**out, **extras}
    df = pd.DataFrame(columns, copy=False)
    df.attrs.update(
        source=path,
        format=raw.format,
        frame_interval=provenance.frame_interval,
        frame_interval_source=provenance.frame_interval_source,
        localization_precision=(None if provenance.localization_precision_source == "default"
                                else provenance.localization_precision),
        pixel_size=provenance.pixel_size,
        space_unit=s.space_unit if s.space_unit is not None else x_unit,
        time_unit=time_unit,
    )
    return df, provenance


def _merge_file_meta(raw: RawTable, meta: dict) -> None:
    """Settings recorded beside the file count as stated by it (where the file itself is silent)."""
    if meta.get("space_unit"):
        for role in SPACE_ROLES:
            if role in raw.roles and not raw.units.get(role):
                raw.units[role] = meta["space_unit"]
    if meta.get("time_unit") and "t" in raw.roles and not raw.units.get("t"):
        raw.units["t"] = meta["time_unit"]
    if raw.file_frame_interval is None and meta.get("frame_interval"):
        raw.file_frame_interval = float(meta["frame_interval"])
    if raw.file_pixel_size is None and meta.get("pixel_size"):
        raw.file_pixel_size = float(meta["pixel_size"])


def _plausibility(raw: RawTable, s: FileSettings, out: dict, decided: _Units) -> None:
    """Warnings for units assumed against what the values suggest."""
    path = raw.path
    if raw.assumed_units and decided.space[1] == "assumed":
        decided.warnings.append(
            f"{path}: the file does not state its units; assuming µm and s (give the space and time "
            f"units to say otherwise: {how_to_give('space_unit')}; {how_to_give('time_unit')})"
        )
    if decided.space[1] == "assumed":
        signs = plausible.pixel_signs(out["x"], out["y"], out["n"])
        if signs:
            decided.warnings.append(
                f"{path}: the positions look like pixels ({', '.join(signs)}) but the file does not "
                "state their unit, so they are read as µm. If they are pixels, give the pixel size: "
                f"{how_to_give('pixel_size')}. If they are µm, say so to silence this warning: "
                f"{how_to_give('space_unit', 'µm')}."
            )
    if decided.time[1] == "assumed":
        signs = plausible.frame_signs(out["t"], out["n"])
        if signs:
            decided.warnings.append(
                f"{path}: the times look like frame numbers ({', '.join(signs)}) but the file does "
                "not state their unit, so they are read as seconds. If they are frames, give the time "
                f"unit frame ({how_to_give('time_unit', 'frame')}) and the frame interval "
                f"({how_to_give('frame_interval')}). If they are seconds, say so to silence this "
                f"warning: {how_to_give('time_unit', 's')}."
            )


def _provenance(raw: RawTable, s: FileSettings, decided: _Units, meta: dict, metadata_file) -> Provenance:
    if s.localization_precision is not None:
        sigma = (s.localization_precision, "given")
    elif meta.get("localization_precision") is not None:
        sigma = (float(meta["localization_precision"]), "file")
    else:
        sigma = (LOCALIZATION_PRECISION, "default")
    if s.pixel_size is not None:
        pixel = (s.pixel_size, "given")
    elif raw.file_pixel_size is not None:
        pixel = (raw.file_pixel_size, "file")
    else:
        pixel = (None, None)
    notes = list(decided.notes)
    space_unit, space_source, space_factor = decided.space
    if s.pixel_size is not None and space_unit != "px":
        stated = "space_scale" if space_source == "scale" else f"{space_unit} ({space_source})"
        notes.append(f"pixel_size {s.pixel_size:g} µm given but not applied: the positions are in {stated}")
    time_unit, time_source, time_factor = decided.time
    fi, fi_source = decided.frame_interval
    return Provenance(
        path=raw.path,
        format=raw.format,
        columns=dict(raw.roles),
        space_unit=space_unit,
        space_unit_source=space_source,
        space_factor=float(space_factor),
        time_unit=time_unit,
        time_unit_source=time_source,
        time_factor=float(time_factor),
        frame_interval=fi,
        frame_interval_source=fi_source,
        pixel_size=pixel[0],
        pixel_size_source=pixel[1],
        localization_precision=float(sigma[0]),
        localization_precision_source=sigma[1],
        metadata_file=metadata_file,
        notes=tuple(notes),
        warnings=tuple(decided.warnings),
    )


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


def _space(raw: RawTable, role: str, s: FileSettings) -> tuple[str | None, str, float]:
    """``(unit, source, factor to µm)`` of the positions of ``role`` (see the module docstring)."""
    if s.space_scale is not None:
        return None, "scale", s.space_scale
    if s.space_unit is not None:
        unit, source = s.space_unit, "given"
    elif raw.units.get(role):
        unit, source = raw.units[role], "file"
    elif raw.native_pixels:
        unit, source = "px", "format"
    elif s.pixel_size is not None:
        unit, source = "px", "pixel_size"
    else:
        return "µm", "assumed", 1.0
    factor = U.space_factor(unit)
    column = raw.roles[role]
    if factor is None:
        raise UnitError(
            f"unknown space unit {unit!r} for {column}; give the space unit (µm, nm, px): "
            f"{how_to_give('space_unit')}, or the factor to µm: {how_to_give('space_scale')}",
            path=raw.path,
            column=column,
        )
    canonical = U.canonical_space_unit(unit)
    if factor == U.PIXEL:
        if s.pixel_size is None:
            origin = {"given": "as given", "file": "as the file states"}.get(
                source, f"{raw.what or raw.format} convention"
            )
            raise UnitError(
                f"the positions are in pixels ({origin}); give the pixel size (µm) to convert them "
                f"to µm: {how_to_give('pixel_size')}; or, if they are already in µm, "
                f"{how_to_give('space_unit', 'µm')}",
                path=raw.path,
                column=column,
            )
        return canonical, source, s.pixel_size
    return canonical, source, float(factor)


def _times(raw: RawTable, s: FileSettings, decided: _Units) -> tuple[np.ndarray, str | None]:
    """``(t in s, unit read for attrs)``; records the time unit and the frame interval in ``decided``."""
    roles, data, path = raw.roles, raw.data, raw.path
    if s.frame_interval is not None:
        decided.frame_interval = (s.frame_interval, "given")
    elif raw.file_frame_interval is not None:
        decided.frame_interval = (raw.file_frame_interval, "file")
    if s.time_scale is not None:
        if "t" not in roles:
            raise UnitError(
                "time_scale needs a time column; this file has only frame numbers: give the frame "
                f"interval instead: {how_to_give('frame_interval')}",
                path=path,
            )
        src = roles["t"]
        decided.time = (None, "scale", s.time_scale)
        return _scaled(_finite(raw, src, data[src]), s.time_scale, data, src), None
    if s.time_unit is not None:
        unit, source = s.time_unit, "given"
    elif "t" in roles and raw.units.get("t"):
        unit, source = raw.units["t"], "file"
    elif "t" not in roles:
        unit, source = None, "frame_column"
    else:
        unit, source = None, "assumed"
    if "t" not in roles or U.is_frame_unit(unit):
        src = roles["frame"] if "frame" in roles else roles["t"]
        if "t" not in roles and unit is not None and not U.is_frame_unit(unit):
            decided.notes.append(f"time_unit {unit!r} not applied: the file has frame numbers ({src!r}), "
                                 "no time column")
            source = "frame_column"
        fi = decided.frame_interval[0]
        if fi is None:
            what = f"{raw.what} " if raw.what else ""
            raise UnitError(
                f"the {what}times are frame numbers ({src!r}); give the frame interval (s) to "
                f"convert them to seconds: {how_to_give('frame_interval')}",
                path=path,
                column=src,
            )
        values = _finite(raw, src, data[src])
        decided.time = ("frame", source, fi)
        return _scaled(values, fi, data, src), (unit if U.is_frame_unit(unit) else U.FRAME)
    src = roles["t"]
    values = _finite(raw, src, data[src])
    if unit is None:
        decided.time = ("s", "assumed", 1.0)
        return values, None
    factor = U.time_factor(unit)
    if factor is None:
        raise UnitError(
            f"unknown time unit {unit!r}; give the time unit (s, ms, frame): "
            f"{how_to_give('time_unit')}, or the factor to s: {how_to_give('time_scale')}",
            path=path,
            column=src,
        )
    if factor != 1.0:
        values = _scaled(values, factor, data, src)
    decided.time = (U.canonical_time_unit(unit), source, float(factor))
    return values, unit


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
