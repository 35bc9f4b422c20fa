"""The summary of a run: one row per finished unit, with its labels, counts and map statistics.

Each row holds the unit's labels (its file's and its ROIs', :mod:`.labels`, read from the spec when
the table is written: relabelling shows without recomputing), ``unit``, ``file``, ``region``, the
time window (``t0 [s]``, ``t1 [s]``), ``trajectories`` (with at least one translocation in the
unit), ``translocations`` (the unit's steps), ``cells`` (mesh cells with at least one
translocation), ``mesh cells``, ``model status``, then per map quantity the
**translocation-weighted** median, mean and interquartile range (q75 − q25) over the cells with
translocations, each weight being the cell's translocation count ``n``, for ``diffusivity``
[µm²/s], ``|drift|`` [µm/s], ``|force|`` [kT/µm] and ``potential`` [kT] (:mod:`.quantities`).

``potential depth [kT]`` is the 95th minus the 5th percentile of V over the unit's cells with
translocations, each cell counted once (a robust max − min: one badly estimated cell at the rim
does not make a well). Any other column of the maps (uncertainties such as ``diffusivity sd``,
columns added by newer models) gets the same three statistics, and a boolean column (a flag such
as ``isolated``) its number of flagged cells (``isolated cells``). Last come the settings the unit
was computed with (mesh and its parameters, model and its parameters, time windows, static-step
filter, the file's frame interval and σ, the software version) and the data file's ``path``.

Files: ``<store>/summary.csv`` and, when pyarrow is importable, ``<store>/summary.parquet``, both
written atomically; ``pandas.read_csv(".../summary.csv")`` reads it. :func:`refresh_summary`
updates them incrementally (a unit's row is computed once, cached in ``<store>/.summary-rows.json``
by its result's SHA-256) under a lock file, so that several writers (the run's follower, the napari
panel, another process) leave a complete table. The façade refreshes it as units finish.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.archive import atomic_write, current_umask, write_json_atomic
from ..core.errors import ArchiveError
from .quantities import (  # noqa: F401 (the summary's vocabulary, used as summary.QUANTITIES...)
    DEPTH,
    DEPTH_COLUMN,
    DEPTH_QUANTILES,
    QUANTITIES,
    STATS,
    WEIGHT,
    Quantity,
    potential_depth,
    stat_column,
    weighted_quantile,
    weighted_stats,
    weights_of,
)
from .spec import AnalysisSpec, region_members
from .store import ResultStore

SUMMARY_CSV = "summary.csv"
SUMMARY_PARQUET = "summary.parquet"
ROWS_CACHE = ".summary-rows.json"
LOCK_FILE = ".summary.lock"
#: bumped when a row's definition changes: cached rows of another version are computed again
ROW_VERSION = 1
#: columns every row has, after the labels
FIXED = ("unit", "file", "region", "t0 [s]", "t1 [s]", "trajectories", "translocations", "cells", "mesh cells",
         "model status")
SETTINGS = ("mesh", "mesh parameters", "model", "model parameters", "time windows", "discard static",
            "frame interval [s]", "localization precision [µm]", "software", "path")


def _known_columns() -> set[str]:
    cols = {"x", "y", "z", WEIGHT}
    for q in QUANTITIES.values():
        cols.update(q.columns)
    return cols


def unit_row(maps, meta: dict) -> dict:
    """The summary row of one unit (without labels and path: those come from the spec)."""
    from ..core.maps import column_unit

    unit = meta.get("unit") or {}
    label = unit.get("label", "?")
    table = maps.table
    weights = weights_of(table, f"unit {label}")
    segment = unit.get("segment")
    row = {"unit": label, "file": unit.get("file_label"), "region": unit.get("region_label"),
           "t0 [s]": segment[0] if segment else math.nan, "t1 [s]": segment[1] if segment else math.nan,
           "trajectories": meta.get("n_trajectories"), "translocations": meta.get("n_steps"),
           "cells": int((weights > 0).sum()), "mesh cells": int(len(table)),
           "model status": meta.get("model_status") or getattr(maps, "status", None)}
    for q in QUANTITIES.values():
        if q.present(table):
            for stat, value in weighted_stats(q.values(table), weights).items():
                row[q.column(stat)] = value
    if DEPTH.present(table):
        row[DEPTH_COLUMN] = potential_depth(table)
    known = _known_columns()
    for col in table.columns:
        if col in known:
            continue
        values = table[col].to_numpy()
        if values.dtype.kind == "b":
            row[f"{col} cells"] = int((values & (weights > 0)).sum())
        elif values.dtype.kind in "iuf":
            for stat, value in weighted_stats(values, weights).items():
                row[stat_column(str(col), stat, column_unit(str(col)))] = value
    row.update(_settings(meta, unit))
    return row


def _settings(meta: dict, unit: dict) -> dict:
    spec = meta.get("spec") or {}
    mesh, model = spec.get("mesh") or {}, spec.get("model") or {}
    files = spec.get("files") or []
    i = unit.get("file_index")
    f = files[i] if isinstance(i, int) and 0 <= i < len(files) and isinstance(files[i], dict) else {}
    tw = spec.get("time_windows")
    return {"mesh": mesh.get("method"), "mesh parameters": _json(mesh.get("parameters") or {}),
            "model": model.get("name"), "model parameters": _json(model.get("parameters") or {}),
            "time windows": _json(tw) if tw else "", "discard static": spec.get("discard_static"),
            "frame interval [s]": f.get("frame_interval"), "localization precision [µm]": f.get("localization_precision"),
            "software": meta.get("software"), "path": f.get("path")}


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


# -- labels of units ----------------------------------------------------------------------------------

def region_labels(spec: AnalysisSpec, file_index: int, region_label: str) -> dict[str, str]:
    """A unit's labels: its file's, updated by its region's ROIs' (distinct values of grouped ROIs
    joined by ``+``, e.g. ``nucleus+membrane``)."""
    labels = dict(spec.files[file_index].labels or {})
    rois = spec.rois_for(file_index)
    per_key: dict[str, list[str]] = {}
    for m in region_members(region_label):
        if m < len(rois):
            for k, v in (rois[m].labels or {}).items():
                if v not in per_key.setdefault(k, []):
                    per_key[k].append(v)
    labels.update({k: "+".join(values) for k, values in per_key.items()})
    return labels


def label_keys(spec: AnalysisSpec) -> list[str]:
    """Every label key of ``spec``, in order of first appearance (files, then ROIs)."""
    keys: list[str] = []
    rois = list(spec.rois) + [r for f in spec.files for r in (f.rois or [])]
    for labels in [f.labels for f in spec.files] + [r.labels for r in rois]:
        for k in labels or {}:
            if k not in keys:
                keys.append(k)
    return keys


def _with_labels(rows: list[dict], spec: AnalysisSpec) -> pd.DataFrame:
    keys = label_keys(spec)
    index = {label: i for i, label in enumerate(spec.file_labels())}
    order = []
    for row in rows:
        i = index.get(row.get("file"))
        labels = region_labels(spec, i, row.get("region") or "") if i is not None else {}
        rec = {k: labels.get(k) for k in keys}
        rec.update(row)
        if i is not None:  # the path as the spec says now (a cluster's result holds its remote copy's)
            rec["path"] = spec.files[i].path
        order.append((i if i is not None else len(index), str(row.get("region")), _num(row.get("t0 [s]")),
                      str(row.get("unit")), rec))
    order.sort(key=lambda t: t[:4])
    records = [t[-1] for t in order]
    stats = [q.column(s) for q in QUANTITIES.values() for s in STATS]
    present = {c for r in records for c in r}
    extra = sorted(c for c in present if c not in set(keys) | set(FIXED) | set(SETTINGS) | set(stats) | {DEPTH_COLUMN})
    columns = keys + list(FIXED) + [c for c in stats + [DEPTH_COLUMN] if c in present] + extra + list(SETTINGS)
    table = pd.DataFrame.from_records(records, columns=columns)
    for col in ("trajectories", "translocations", "cells", "mesh cells"):
        table[col] = table[col].astype("Int64")
    table.attrs["label_keys"] = keys
    return table


def _num(x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(x) else x


# -- the files -------------------------------------------------------------------------------------------

def summary_paths(store) -> tuple[Path, Path]:
    """``(summary.csv, summary.parquet)`` of a store directory."""
    root = Path(getattr(store, "root", store))
    return root / SUMMARY_CSV, root / SUMMARY_PARQUET


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


@contextlib.contextmanager
def summary_lock(root: Path):
    """Hold the store's summary lock (a ``flock`` on ``.summary.lock``; blocking). Writers in other
    processes and other threads (each opens its own descriptor) wait for each other."""
    fd = os.open(Path(root) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no lock; each file is still replaced atomically
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _done_results(store: ResultStore) -> dict[str, str]:
    """``label → SHA-256`` of every unit result whose done-marker and size agree (not re-hashed)."""
    base = store.root / "units"
    out = {}
    if not base.exists():
        return out
    for marker in base.rglob("*.done.json"):
        label = marker.relative_to(base).as_posix()[: -len(".done.json")]
        if store.check(store.unit_path(label), verify=False)[0] != "done":
            continue
        try:
            out[label] = str(json.loads(marker.read_text())["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _read_cache(path: Path) -> dict:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or cache.get("version") != ROW_VERSION or not isinstance(cache.get("rows"), dict):
        return {}
    return cache["rows"]


def unit_rows(store, use_cache: bool = True) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(label → row, label → cache entry)`` (:func:`unit_row`) of every done unit of a store; rows already computed for
    the same result file are taken from the store's row cache. Hold :func:`summary_lock` when
    writing the cache (:func:`refresh_summary` does)."""
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    cached = _read_cache(store.root / ROWS_CACHE) if use_cache else {}
    rows, entries = {}, {}
    for label, sha in _done_results(store).items():
        hit = cached.get(label)
        if isinstance(hit, dict) and hit.get("sha256") == sha and isinstance(hit.get("row"), dict):
            rows[label] = hit["row"]
        else:
            try:
                maps, meta = store.load_unit(label)  # checks the SHA-256 against the marker
            except ArchiveError:
                continue  # damaged since its marker was written: the store reports it as corrupt
            rows[label] = unit_row(maps, meta)
            _remember_cells(store, label, sha, maps, meta)  # cell_values will not read it again
        entries[label] = {"sha256": sha, "row": rows[label]}
    return rows, entries


def summary_table(store, spec: AnalysisSpec | None = None) -> pd.DataFrame:
    """The summary of a store (one row per done unit), computed without writing anything; labels
    from ``spec`` (default: the spec the store was last run with)."""
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    rows, _ = unit_rows(store)
    return _with_labels(list(rows.values()), spec or store.spec())


def refresh_summary(store, spec: AnalysisSpec | None = None) -> pd.DataFrame:
    """Update ``summary.csv`` (and ``summary.parquet``) of a store and return the table.

    Only units not seen before are read; the labels come from ``spec`` (default: the store's).
    Concurrent refreshes (threads or processes) are serialised by the store's summary lock."""
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    spec = spec or store.spec()
    csv_path, parquet_path = summary_paths(store)
    with summary_lock(store.root):
        rows, entries = unit_rows(store)
        write_json_atomic(store.root / ROWS_CACHE, {"version": ROW_VERSION, "rows": entries})
        table = _with_labels(list(rows.values()), spec)
        with atomic_write(csv_path, "w", encoding="utf-8") as fh:
            table.to_csv(fh, index=False)
        if parquet_available():
            with atomic_write(parquet_path, "wb") as fh:
                table.to_parquet(fh, index=False)
    return table


class SummaryFollower:
    """Keeps a store's summary up to date while a run goes, in its own thread: a refresh after
    ``done`` / ``skipped`` events (a burst of them gives one refresh, at most every ``interval``
    s) and a last one when the run ends (``running()`` turns false). Call it with each event.

    ``error`` holds the last refresh's exception (None after a successful one)."""

    REFRESH_KINDS = ("done", "skipped")

    def __init__(self, store, spec: AnalysisSpec | None = None, interval: float = 1.0):
        self.store = store if isinstance(store, ResultStore) else ResultStore(store)
        self.spec = spec
        self.interval = float(interval)
        self.error: BaseException | None = None
        self.refreshes = 0
        self._wake = threading.Event()
        self._running: Callable[[], bool] | None = None
        self._thread = threading.Thread(target=self._loop, name="napari-tramway summary", daemon=True)

    def __call__(self, event) -> None:
        if getattr(event, "kind", None) in self.REFRESH_KINDS and getattr(event, "unit", None) is not None:
            self._wake.set()

    def follow(self, running: Callable[[], bool]) -> SummaryFollower:
        """Start following; ``running()`` says whether the run still goes."""
        self._running = running
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the last refresh (after the run ended); True when it is done."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _refresh(self) -> None:
        try:
            refresh_summary(self.store, self.spec)
            self.error = None
        except Exception as exc:  # reported by whoever waits (the façade's run, the CLI)
            self.error = exc
        self.refreshes += 1

    def _loop(self) -> None:
        last = -math.inf
        while True:
            woke = self._wake.wait(0.2)
            if not self._running():
                self._refresh()
                return
            if not woke:
                continue
            delay = self.interval - (time.monotonic() - last)
            if delay > 0:
                time.sleep(delay)
            self._wake.clear()
            self._refresh()
            last = time.monotonic()


# -- per-cell values ------------------------------------------------------------------------------------

_CELLS: dict[tuple[str, str], tuple[str, str, pd.DataFrame]] = {}
_CELLS_MAX = 4096


def cell_values(store, spec: AnalysisSpec | None = None) -> pd.DataFrame:
    """Per-cell values of every done unit (in the summary's order: the spec's files, regions,
    windows), for distributions and comparisons: the unit's labels,
    ``unit``, ``file``, ``region``, ``t0 [s]``, ``cell``, ``n`` (the cell's translocations, the
    weight) and one column per quantity present (``diffusivity``, ``|drift|``, ``|force|``,
    ``potential``), for the cells with translocations. Units already read in this process are
    not read again (keyed by their result's SHA-256)."""
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    spec = spec or store.spec()
    index = {label: i for i, label in enumerate(spec.file_labels())}
    keys = label_keys(spec)
    parts = []
    for label, sha in _done_results(store).items():
        key = (str(store.unit_path(label).resolve()), sha)
        hit = _CELLS.get(key)
        if hit is None:
            try:
                maps, meta = store.load_unit(label)
            except ArchiveError:
                continue
            hit = _remember_cells(store, label, sha, maps, meta)
        file_label, region, part = hit
        part = part.copy()
        i = index.get(file_label)
        labels = region_labels(spec, i, region) if i is not None else {}
        for k in keys:
            part[k] = labels.get(k)
        t0 = part["t0 [s]"].iloc[0] if len(part) else math.nan
        parts.append(((i if i is not None else len(index), region, _num(t0), label), part))
    parts = [p for _, p in sorted(parts, key=lambda t: t[0])]  # the summary's order: the spec's files
    columns = keys + ["unit", "file", "region", "t0 [s]", "cell", WEIGHT]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    rest = [c for c in out.columns if c not in columns]
    out = out[columns + rest]
    out.attrs["label_keys"] = keys
    return out


def _remember_cells(store: ResultStore, label: str, sha: str, maps, meta) -> tuple[str, str, pd.DataFrame]:
    unit = meta.get("unit") or {}
    hit = (unit.get("file_label"), unit.get("region_label") or "", _unit_cells(maps, meta))
    if len(_CELLS) >= _CELLS_MAX:
        _CELLS.pop(next(iter(_CELLS)))
    _CELLS[(str(store.unit_path(label).resolve()), sha)] = hit
    return hit


def _unit_cells(maps, meta) -> pd.DataFrame:
    unit = meta.get("unit") or {}
    table = maps.table
    weights = weights_of(table, f"unit {unit.get('label')}")
    keep = weights > 0
    segment = unit.get("segment")
    data = {"unit": unit.get("label"), "file": unit.get("file_label"), "region": unit.get("region_label"),
            "t0 [s]": segment[0] if segment else math.nan, "cell": table.index.to_numpy()[keep],
            WEIGHT: weights[keep].astype(np.int64)}
    for q in QUANTITIES.values():
        if q.present(table):
            data[q.name] = q.values(table)[keep]
    return pd.DataFrame(data)
