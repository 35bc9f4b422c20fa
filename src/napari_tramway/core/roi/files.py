"""ROI files: TRamWAy's tab-separated ROI files and our JSON file.

TRamWAy's files (reference §2.2) have the bounds form ``x min  y min  x max  y max`` or the
centres form ``x  y`` with a size; our JSON file (``napari-tramway/rois``, version 1) also holds
polygons, ellipses, time ranges and labels. Errors (:class:`RoiFormatError`) name the file, and
the line or field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..archive import atomic_write, write_json_atomic
from ..errors import RoiFormatError
from .shapes import Rectangle, Roi, roi_from_dict

ROI_FORMAT = "napari-tramway/rois"
ROI_FORMAT_VERSION = 1


def write_rois(path, rois: Iterable[Roi], group_overlapping_rois: bool | None = None) -> Path:
    """Write ROIs to ``path``: our JSON file (``.json``) or, for ``.txt``/``.tsv``/``.roi``,
    TRamWAy's tab-separated bounds form (rectangles only; other shapes are refused, not boxed).
    The file is replaced atomically."""
    path = Path(path)
    rois = list(rois)
    if path.suffix.lower() == ".json":
        doc = {"format": ROI_FORMAT, "version": ROI_FORMAT_VERSION, "units": {"space": "µm", "time": "s"},
               "rois": [r.to_dict() for r in rois]}
        if group_overlapping_rois is not None:
            doc["group_overlapping"] = bool(group_overlapping_rois)
        write_json_atomic(path, doc)
        return path
    bad = [i for i, r in enumerate(rois) if not isinstance(r, Rectangle)]
    if bad:
        raise RoiFormatError(
            f"{path}: TRamWAy ROI text files hold rectangles only; ROI(s) {bad} are "
            f"{', '.join(sorted({rois[i].kind for i in bad}))} — save them as .json instead"
        )
    has_time = any(r.time is not None for r in rois)
    if has_time and not all(r.time is not None for r in rois):
        raise RoiFormatError(f"{path}: either every ROI has a time range or none has, in a TRamWAy ROI file")
    cols = ["x min", "y min"] + (["t min"] if has_time else []) + ["x max", "y max"] + (["t max"] if has_time else [])
    lines = ["\t".join(cols)]
    for r in rois:
        vals = [r.xmin, r.ymin] + ([r.time[0]] if has_time else []) + [r.xmax, r.ymax] + ([r.time[1]] if has_time else [])
        lines.append("\t".join(f"{v:.4f}" for v in vals))
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def read_rois(path, size: float | None = None) -> list[Roi]:
    """Read ROIs from our JSON file or a TRamWAy tab-separated ROI file.

    ``size`` (µm) is the side of the square ROIs of a centres-form TRamWAy file (``x  y``
    columns). ``~`` is expanded. Errors (:class:`RoiFormatError`) name the file, and the line or
    field.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RoiFormatError(f"{path}: no such ROI file") from None
    except OSError as exc:
        raise RoiFormatError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RoiFormatError(f"{path}: not a text file (binary content)") from None
    if not text.strip():
        raise RoiFormatError(f"{path}: empty ROI file")
    if text.lstrip().startswith("{"):
        return _read_json_rois(path, text)
    return _read_tramway_rois(path, text, size)


def _read_json_rois(path, text) -> list[Roi]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoiFormatError(f"{path}, line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if doc.get("format") != ROI_FORMAT:
        raise RoiFormatError(f"{path}: 'format' is {doc.get('format')!r}, expected {ROI_FORMAT!r}")
    if int(doc.get("version", 0)) > ROI_FORMAT_VERSION:
        raise RoiFormatError(f"{path}: ROI file version {doc.get('version')} is newer than supported ({ROI_FORMAT_VERSION})")
    items = doc.get("rois")
    if not isinstance(items, list):
        raise RoiFormatError(f"{path}: field 'rois' must be a list")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(roi_from_dict(item, where=f"rois[{i}]"))
        except RoiFormatError as exc:
            raise RoiFormatError(f"{path}: {exc}") from None
    return out


def _read_tramway_rois(path, text, size) -> list[Roi]:
    lines = [ln for ln in text.splitlines()]
    header = [h.strip() for h in lines[0].split("\t")]
    if len(header) == 1:  # tolerate other whitespace between two-word names
        header = [h for h in lines[0].replace("min", "min\t").replace("max", "max\t").split("\t") if h.strip()]
        header = [" ".join(h.split()) for h in header]
    cols = {h: i for i, h in enumerate(header)}
    if any(c in ("z", "z min", "z max") for c in cols):
        raise RoiFormatError(f"{path}, line 1: 3D ROIs (z columns) are not supported; napari-tramway works in 2D")
    bounds_form = all(c in cols for c in ("x min", "x max", "y min", "y max"))
    centre_form = "x" in cols and "y" in cols
    if not bounds_form and not centre_form:
        if ("x" in cols) != ("y" in cols) or ("x min" in cols) != ("y min" in cols):
            raise RoiFormatError(f"{path}, line 1: x without y (or y without x) in the header {header}")
        raise RoiFormatError(
            f"{path}, line 1: header {header} has neither the bounds columns "
            f"'x min, y min, x max, y max' nor the centre columns 'x, y'"
        )
    if "t" in cols:
        raise RoiFormatError(f"{path}, line 1: a 't' centre column is not allowed; use 't min' and 't max'")
    if centre_form and not bounds_form and size is None:
        raise RoiFormatError(f"{path}: this ROI file gives centres (x, y); pass the ROI size (side, µm)")
    out = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != len(header):
            raise RoiFormatError(f"{path}, line {lineno}: {len(fields)} values for {len(header)} columns")
        vals = {}
        for name, i in cols.items():
            try:
                vals[name] = float(fields[i])
            except ValueError:
                raise RoiFormatError(f"{path}, line {lineno}, column {name!r}: {fields[i]!r} is not a number") from None
        time = (vals["t min"], vals["t max"]) if "t min" in vals and "t max" in vals else None
        try:
            if bounds_form:
                out.append(Rectangle(vals["x min"], vals["y min"], vals["x max"], vals["y max"], time=time))
            else:
                h = float(size) / 2
                out.append(Rectangle(vals["x"] - h, vals["y"] - h, vals["x"] + h, vals["y"] + h, time=time))
        except ValueError as exc:
            raise RoiFormatError(f"{path}, line {lineno}: {exc}") from None
    if not out:
        raise RoiFormatError(f"{path}: no ROI in the file (header only)")
    return out
