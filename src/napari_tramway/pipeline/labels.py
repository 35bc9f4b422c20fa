"""Labels of data files and ROIs: ``condition=treated``, ``replicate=2``, ``cell=c7``...

Labels are free ``KEY=VALUE`` pairs (string values) that say what a data file (and optionally one of
its ROIs) *is*, so that a run's summary (:mod:`.summary`) can be grouped and compared by condition
(:mod:`.compare`). They are set in the spec (``files[i].labels``, ``rois[j].labels``), on the
command line (``--label condition=treated``, ``--sample-sheet samples.csv``) and in the napari data
panel (one text field, ``condition=treated, replicate=2``, parsed by :func:`parse_labels`).

Labels never change what a unit computes: they are not part of any fingerprint, and the summary
reads them from the spec when it is written, so relabelling a file recomputes nothing.

A unit's labels are its file's, updated by those of its region's ROIs; when a region groups
overlapping ROIs whose values differ, the unit's value is the distinct values joined by ``+``
(``nucleus+membrane``).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

from .schema import Kind, RoisKind

#: A label key: a letter or ``_``, then letters, digits or ``_`` (a column name of the summary).
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Keys that name columns of the summary table (:mod:`.summary`) and cannot be labels.
RESERVED_KEYS = frozenset({"unit", "file", "path", "region", "trajectories", "translocations", "cells", "mesh",
                           "model", "software"})
EXAMPLE = "condition=treated, replicate=2"


class LabelError(ValueError):
    """Labels that cannot be read; the message names the field, file, line or text."""


def key_problem(key) -> str | None:
    """Why ``key`` is not a valid label key, or None."""
    if not isinstance(key, str) or not KEY.match(key):
        return (f"{key!r} is not a label key: a letter or _ then letters, digits or _, "
                f"e.g. condition, replicate, cell")
    if key in RESERVED_KEYS:
        return f"{key!r} names a column of the summary table; choose another key (reserved: " \
               f"{', '.join(sorted(RESERVED_KEYS))})"
    return None


def value_problem(value) -> str | None:
    """Why ``value`` is not a valid label value (a non-empty string on one line), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"expected a string value, got {value!r}"
    text = str(value).strip()
    if not text:
        return "expected a non-empty value"
    if "\n" in text or "\r" in text:
        return "a label value must fit on one line"
    return None


def check_labels(raw, path: str, problems: list) -> dict[str, str]:
    """Validate a spec's labels object (``{key: value}``); add ``(field path, message)`` to
    ``problems`` for each problem (``path.condition``, relative to the labels without ``path``)
    and return the valid labels.

    Integer values are accepted and kept as strings (``replicate = 2`` in TOML is ``"2"``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append((path, f"expected an object of KEY: \"value\" labels, e.g. "
                               f"{{\"condition\": \"treated\"}}, got {type(raw).__name__}"))
        return {}
    out = {}
    for key, value in raw.items():
        why = key_problem(key) or value_problem(value)
        if why is not None:
            problems.append((f"{path}.{key}" if path else str(key), why))
            continue
        out[key] = str(value).strip()
    return out


def parse_labels(text: str, where: str = "labels") -> dict[str, str]:
    """``"condition=treated, replicate=2"`` → ``{"condition": "treated", "replicate": "2"}``.

    Pairs are separated by commas (or semicolons); an empty text gives no label. Raises
    :class:`LabelError` naming ``where`` and the faulty pair."""
    out: dict[str, str] = {}
    for part in re.split(r"[,;]", text or ""):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise LabelError(f"{where}: {part!r} is not KEY=VALUE (e.g. {EXAMPLE})")
        why = key_problem(key) or value_problem(value)
        if why is not None:
            raise LabelError(f"{where}: {part!r}: {why}")
        if key in out and out[key] != value:
            raise LabelError(f"{where}: {key!r} is given twice ({out[key]!r} and {value!r})")
        out[key] = value
    return out


def format_labels(labels: dict | None) -> str:
    """The text form of labels, read back by :func:`parse_labels`: ``condition=treated, replicate=2``."""
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items())


# -- in the spec's sections (pipeline.schema) -----------------------------------------------------------

class LabelsKind(Kind):
    """A ``labels`` field: checked by :func:`check_labels`, written when not empty."""

    def check(self, value, owner, problems):
        return check_labels(value, "", problems)

    def write(self, value):
        return super().write(dict(value) if value else None)


class LabelledRoisKind(RoisKind):
    """A list of ROIs whose ``labels`` are checked by :func:`check_labels` (field paths
    ``rois[0].labels.condition``) before the shapes are read."""

    def check(self, value, owner, problems):
        if isinstance(value, list | tuple):
            value = [{**item, "labels": check_labels(item["labels"], f"[{i}].labels", problems)}
                     if isinstance(item, dict) and item.get("labels") is not None else item
                     for i, item in enumerate(value)]
        return super().check(value, owner, problems)


def labels_field():
    """The ``labels`` field of a section (default: none)."""
    return dataclasses.field(default_factory=dict, metadata={"kind": LabelsKind()})


def labelled_roi_list(optional: bool = False):
    """A list of ROIs with labels (``optional``: None, the default, means "not given")."""
    kind = LabelledRoisKind(optional)
    if optional:
        return dataclasses.field(default=None, metadata={"kind": kind})
    return dataclasses.field(default_factory=list, metadata={"kind": kind})
def apply_labels(spec, labels: dict[str, str]) -> None:
    """Set ``labels`` on every data file of ``spec`` (added to, or replacing, their own)."""
    for f in spec.files:
        f.labels = {**(f.labels or {}), **labels}


# -- sample sheets ---------------------------------------------------------------------------------------

FILE_COLUMNS = ("file", "path")


def read_sample_sheet(path) -> list[tuple[int, str, dict[str, str]]]:
    """Read a sample sheet: a CSV (or tab-separated) table with a ``file`` (or ``path``) column and
    one column per label key; returns ``(line, file, labels)`` per row (empty cells: no label).

    Errors (:class:`LabelError`) name the sheet, the line and the column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelError(f"{path}: cannot read the sample sheet ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path}: the sample sheet is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines:
        raise LabelError(f"{path}: the sample sheet is empty (expected a header: file,condition,...)")
    delimiter = "\t" if lines[0].count("\t") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    file_col = next((i for i, h in enumerate(header) if h.lower() in FILE_COLUMNS), None)
    if file_col is None:
        raise LabelError(f"{path}, line 1: no 'file' column (header: {', '.join(header) or 'empty'}); expected "
                         f"e.g. file,condition,replicate")
    keys = {}
    for i, h in enumerate(header):
        if i == file_col:
            continue
        why = key_problem(h)
        if why is not None:
            raise LabelError(f"{path}, line 1, column {h!r}: {why}")
        if h in keys.values():
            raise LabelError(f"{path}, line 1: column {h!r} appears twice")
        keys[i] = h
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise LabelError(f"{path}, line {lineno}: {len(row)} fields for {len(header)} columns")
        row = row + [""] * (len(header) - len(row))
        name = row[file_col].strip()
        if not name:
            raise LabelError(f"{path}, line {lineno}: the file column is empty")
        labels = {}
        for i, key in keys.items():
            value = row[i].strip()
            if value:
                why = value_problem(value)
                if why is not None:
                    raise LabelError(f"{path}, line {lineno}, column {key!r}: {why}")
                labels[key] = value
        out.append((lineno, name, labels))
    return out


def match_file(spec, name: str, base_dir=None) -> list[int]:
    """Indices of the spec's data files that ``name`` designates: the path as written in the spec,
    the file name, the file's label (``cell1``), or the same file (a path relative to ``base_dir``,
    the sample sheet's directory)."""
    labels = spec.file_labels()
    target = Path(name).expanduser()
    if not target.is_absolute() and base_dir is not None:
        target = Path(base_dir) / target
    try:
        target = target.resolve()
    except OSError:
        target = None
    hits = []
    for i, f in enumerate(spec.files):
        if name in (str(f.path), Path(f.path).name, labels[i]):
            hits.append(i)
            continue
        try:
            if target is not None and spec.resolve_path(f).resolve() == target:
                hits.append(i)
        except OSError:
            pass
    return hits


def apply_sample_sheet(spec, path) -> dict[int, dict[str, str]]:
    """Set the labels of ``spec``'s data files from a sample sheet (:func:`read_sample_sheet`);
    return ``{file index: labels}``. A row that names no data file of the spec, or more than one,
    is an error naming its line; files without a row keep their labels."""
    rows = read_sample_sheet(path)
    found: dict[int, dict[str, str]] = {}
    for lineno, name, labels in rows:
        hits = match_file(spec, name, Path(path).parent)
        if not hits:
            known = ", ".join(Path(f.path).name for f in spec.files)
            raise LabelError(f"{path}, line {lineno}: {name!r} is not a data file of the analysis (its files: {known})")
        if len(hits) > 1:
            raise LabelError(f"{path}, line {lineno}: {name!r} matches {len(hits)} data files; give their paths")
        if hits[0] in found:
            raise LabelError(f"{path}, line {lineno}: {name!r} is listed twice")
        found[hits[0]] = labels
    for i, labels in found.items():
        spec.files[i].labels = {**(spec.files[i].labels or {}), **labels}
    return found
