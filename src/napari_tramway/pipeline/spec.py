"""The analysis spec: everything needed to re-run an analysis, as one serialisable object.

A spec holds the data files with their metadata (frame interval s, localization precision σ µm,
column mapping and reader options), the ROIs (per file or shared), whether overlapping ROIs are
grouped, the mesh and its parameters, optional time windows, the model and its parameters, the
stage, and the environment. It is saved as JSON (``napari-tramway/spec``, versioned) and loaded
from JSON or TOML. Loading validates everything and reports **every** problem with its field path
(e.g. ``files[1].frame_interval``, ``mesh.parameters.resolution``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ParameterError, RoiFormatError
from ..core.roi import Roi, roi_from_dict

SPEC_FORMAT = "napari-tramway/spec"
SPEC_VERSION = 1
STAGES = ("tessellate_and_infer", "tessellate", "infer")


class SpecError(ValueError):
    """An invalid spec; ``problems`` lists ``(field path, message)`` for every problem found."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(self.problems)} problem(s) in the analysis spec:"]
        lines += [f"  - {path}: {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


@dataclass
class DataFile:
    """One trajectory file and how to read it.

    ``path`` may be relative to the spec file. ``rois`` = None means "use the spec's shared ROIs".
    ``reader`` holds extra options of :func:`napari_tramway.read_trajectories` (``columns``,
    ``space_unit``, ``pixel_size`` µm, ``format``...).
    """

    path: str
    frame_interval: float | None = None
    localization_precision: float | None = None
    reader: dict = field(default_factory=dict)
    rois: list[Roi] | None = None
    label: str | None = None
    remote_path: str | None = None

    def to_dict(self) -> dict:
        d = {"path": str(self.path)}
        for k in ("frame_interval", "localization_precision", "label", "remote_path"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.reader:
            d["reader"] = copy.deepcopy(self.reader)
        if self.rois is not None:
            d["rois"] = [r.to_dict() for r in self.rois]
        return d

    def read_options(self) -> dict:
        opts = dict(self.reader)
        if self.frame_interval is not None:
            opts["frame_interval"] = self.frame_interval
        if self.localization_precision is not None:
            opts["localization_precision"] = self.localization_precision
        return opts


@dataclass
class MeshSpec:
    """Mesh method (a name of :data:`napari_tramway.core.meshes.MESHES`) and its parameters."""

    method: str = "hexagon"
    parameters: dict = field(default_factory=lambda: {"resolution": 1.0})

    def to_dict(self):
        return {"method": self.method, "parameters": copy.deepcopy(self.parameters)}

    def assignment_parameters(self) -> dict:
        """``min_location_count``, ``knn`` and ``radius`` when set (for :func:`core.meshes.assign`)."""
        from ..core.meshes import ASSIGNMENT_PARAMETERS

        return {k: v for k, v in self.parameters.items() if k in ASSIGNMENT_PARAMETERS and v is not None}


@dataclass
class TimeWindowSpec:
    """Sliding time windows: ``duration`` and ``shift`` (s, or frames when ``frames``)."""

    duration: float
    shift: float | None = None
    frames: bool = False

    def to_dict(self):
        d = {"duration": self.duration, "frames": self.frames}
        if self.shift is not None:
            d["shift"] = self.shift
        return d


@dataclass
class ModelSpec:
    """Model name (``d``, ``dd``, ``df``, ``dv``) and its parameters."""

    name: str = "d"
    parameters: dict = field(default_factory=dict)

    def to_dict(self):
        return {"name": self.name, "parameters": copy.deepcopy(self.parameters)}


@dataclass
class EnvironmentSpec:
    """Where units run: ``inprocess`` (default), ``local`` (process pool) or a site name."""

    name: str = "inprocess"
    options: dict = field(default_factory=dict)

    def to_dict(self):
        d = {"name": self.name}
        if self.options:
            d["options"] = copy.deepcopy(self.options)
        return d


@dataclass
class AnalysisSpec:
    """One analysis: data files × support regions × time windows, a mesh, a model, an environment."""

    files: list[DataFile] = field(default_factory=list)
    rois: list[Roi] = field(default_factory=list)
    group_overlapping_rois: bool = False
    mesh: MeshSpec = field(default_factory=MeshSpec)
    time_windows: TimeWindowSpec | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    stage: str = "tessellate_and_infer"
    discard_static: bool = False
    name: str | None = None
    base_dir: str | None = field(default=None, compare=False)
    """Directory that relative file paths are relative to (the spec file's directory)."""

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "files": [f.to_dict() for f in self.files],
            "rois": [r.to_dict() for r in self.rois],
            "group_overlapping_rois": self.group_overlapping_rois,
            "mesh": self.mesh.to_dict(),
            "model": self.model.to_dict(),
            "environment": self.environment.to_dict(),
            "stage": self.stage,
            "discard_static": self.discard_static,
        }
        if self.time_windows is not None:
            d["time_windows"] = self.time_windows.to_dict()
        if self.name:
            d["name"] = self.name
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False)

    def save(self, path) -> Path:
        """Write the spec as JSON (atomically)."""
        from ..core.archive import atomic_write

        path = Path(path)
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
        return path

    @classmethod
    def from_dict(cls, d: Any, source: str | None = None, base_dir: str | None = None) -> AnalysisSpec:
        """Build and validate a spec; raise :class:`SpecError` listing every problem."""
        return _parse(d, source, base_dir)

    @classmethod
    def load(cls, path) -> AnalysisSpec:
        """Load a spec from a ``.json`` or ``.toml`` file; relative data paths are relative to it."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError([("", f"cannot read the spec file ({exc.strerror or exc})")], str(path)) from None
        try:
            if path.suffix.lower() == ".toml":
                import tomllib

                d = tomllib.loads(raw.decode("utf-8"))
            else:
                d = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise SpecError([("", "not a text file")], str(path)) from None
        except json.JSONDecodeError as exc:
            raise SpecError([(f"line {exc.lineno}", f"invalid JSON: {exc.msg}")], str(path)) from None
        except Exception as exc:  # tomllib.TOMLDecodeError
            raise SpecError([("", f"invalid TOML: {exc}")], str(path)) from None
        return _parse(d, str(path), str(path.parent.resolve()))

    # -- helpers --------------------------------------------------------------------------------
    def resolve_path(self, file: DataFile) -> Path:
        p = Path(file.path).expanduser()
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p

    def file_labels(self) -> list[str]:
        """A stable, unique, path-safe label per data file (its stem unless given)."""
        labels, seen = [], {}
        for f in self.files:
            base = f.label or Path(f.path).name.split(".")[0] or "file"
            base = safe_label(base)
            k = seen.get(base, 0)
            seen[base] = k + 1
            labels.append(base if k == 0 else f"{base}-{k + 1}")
        return labels

    def rois_for(self, index: int) -> list[Roi]:
        f = self.files[index]
        return list(f.rois) if f.rois is not None else list(self.rois)

    def fingerprint(self, part: str = "analysis") -> str:
        """A short hash of what determines a unit's result (mesh, time windows, model, filters)."""
        d = self.to_dict()
        keep = {"mesh": d["mesh"], "model": d["model"], "time_windows": d.get("time_windows"),
                "discard_static": d["discard_static"], "group_overlapping_rois": d["group_overlapping_rois"]}
        if part == "mesh":
            keep.pop("model")
        blob = json.dumps(keep, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def unit_fingerprint(self, unit, part: str = "analysis") -> str:
        """What determines one unit's result: :meth:`fingerprint` plus its file's metadata (frame
        interval, σ, reader options) and the shapes of its region's ROIs.

        Editing an ROI, or the localization precision of a file, makes that file's affected units
        stale; the data path is left out (the same file may live elsewhere on a cluster).
        """
        f = self.files[unit.file_index]
        rois = self.rois_for(unit.file_index)
        members = region_members(unit.region_label)
        keep = {
            "analysis": self.fingerprint(part),
            "file": {"frame_interval": f.frame_interval, "localization_precision": f.localization_precision,
                     "reader": f.reader},
            "rois": [rois[m].to_dict() for m in members if m < len(rois)],
        }
        blob = json.dumps(keep, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_SAFE = re.compile(r"[^A-Za-z0-9._+=-]+")
_REGION = re.compile(r"^roi(\d+)((?:-\d+)*)$")


def region_members(label: str) -> list[int]:
    """ROI indices of a support-region label: ``roi000-002-003`` → [0, 2, 3]; ``all`` → []."""
    m = _REGION.match(label)
    if not m:
        return []
    return [int(m.group(1))] + [int(x) for x in m.group(2).split("-") if x]


def safe_label(text: str) -> str:
    """A label usable as a file name and in shell commands (no spaces, slashes or quotes)."""
    s = _SAFE.sub("_", str(text)).strip("._")
    return s or "x"


def _parse(d, source, base_dir) -> AnalysisSpec:
    problems: list[tuple[str, str]] = []
    if not isinstance(d, dict):
        raise SpecError([("", f"expected a JSON/TOML object, got {type(d).__name__}")], source)
    fmt = d.get("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        problems.append(("format", f"expected {SPEC_FORMAT!r}, got {fmt!r}"))
    version = d.get("version", SPEC_VERSION)
    if not isinstance(version, int) or version < 1:
        problems.append(("version", f"expected a positive integer, got {version!r}"))
    elif version > SPEC_VERSION:
        problems.append(("version", f"spec version {version} is newer than this napari-tramway supports ({SPEC_VERSION})"))
    known = {"format", "version", "files", "rois", "group_overlapping_rois", "mesh", "model", "environment",
             "stage", "discard_static", "time_windows", "name"}
    for k in d:
        if k not in known:
            problems.append((k, f"unknown field; known fields: {', '.join(sorted(known))}"))

    files = []
    raw_files = d.get("files", [])
    if not isinstance(raw_files, list):
        problems.append(("files", "expected a list of data files"))
        raw_files = []
    if not raw_files:
        problems.append(("files", "at least one data file is required"))
    for i, fd in enumerate(raw_files):
        files.append(_parse_file(fd, f"files[{i}]", problems))

    rois = _parse_rois(d.get("rois", []), "rois", problems)
    mesh = _parse_mesh(d.get("mesh", {}), problems)
    model = _parse_model(d.get("model", {}), problems)
    env = _parse_env(d.get("environment", {}), problems)
    tw = _parse_time(d.get("time_windows"), problems)
    stage = d.get("stage", "tessellate_and_infer")
    if stage not in STAGES:
        problems.append(("stage", f"expected one of {', '.join(STAGES)}, got {stage!r}"))
    group = d.get("group_overlapping_rois", False)
    if not isinstance(group, bool):
        problems.append(("group_overlapping_rois", f"expected true or false, got {group!r}"))
    discard = d.get("discard_static", False)
    if not isinstance(discard, bool):
        problems.append(("discard_static", f"expected true or false, got {discard!r}"))
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        problems.append(("name", "expected a string"))
    if problems:
        raise SpecError(problems, source)
    return AnalysisSpec(files=files, rois=rois, group_overlapping_rois=group, mesh=mesh, time_windows=tw,
                        model=model, environment=env, stage=stage, discard_static=discard, name=name,
                        base_dir=base_dir)


def _positive(value, path, problems, allow_none=True):
    if value is None:
        if not allow_none:
            problems.append((path, "a value is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        problems.append((path, f"expected a positive number, got {value!r}"))
        return None
    return float(value)


def _parse_file(fd, path, problems) -> DataFile:
    if isinstance(fd, str):
        fd = {"path": fd}
    if not isinstance(fd, dict):
        problems.append((path, "expected an object with at least 'path'"))
        return DataFile(path="")
    known = {"path", "frame_interval", "localization_precision", "reader", "rois", "label", "remote_path"}
    for k in fd:
        if k not in known:
            problems.append((f"{path}.{k}", f"unknown field; known: {', '.join(sorted(known))}"))
    p = fd.get("path")
    if not isinstance(p, str) or not p:
        problems.append((f"{path}.path", "a file path is required"))
        p = ""
    fi = _positive(fd.get("frame_interval"), f"{path}.frame_interval", problems)
    lp = fd.get("localization_precision")
    if lp is not None:
        if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not math.isfinite(lp) or lp < 0:
            problems.append((f"{path}.localization_precision", f"expected a number ≥ 0 (µm), got {lp!r}"))
            lp = None
        else:
            lp = float(lp)
    reader = fd.get("reader", {}) or {}
    if not isinstance(reader, dict):
        problems.append((f"{path}.reader", "expected an object of reader options"))
        reader = {}
    rois = None
    if fd.get("rois") is not None:
        rois = _parse_rois(fd["rois"], f"{path}.rois", problems)
    label = fd.get("label")
    if label is not None and not isinstance(label, str):
        problems.append((f"{path}.label", "expected a string"))
        label = None
    remote = fd.get("remote_path")
    return DataFile(path=p, frame_interval=fi, localization_precision=lp, reader=dict(reader), rois=rois,
                    label=label, remote_path=remote)


def _parse_rois(items, path, problems) -> list[Roi]:
    if not isinstance(items, list):
        problems.append((path, "expected a list of ROIs"))
        return []
    out = []
    for i, item in enumerate(items):
        try:
            out.append(roi_from_dict(item, where=f"{path}[{i}]"))
        except RoiFormatError as exc:
            msg = str(exc)
            prefix = f"{path}[{i}]"
            if msg.startswith(prefix):
                rest = msg[len(prefix):]
                field_path, _, m = rest.partition(": ")
                problems.append((prefix + field_path, m or msg))
            else:
                problems.append((prefix, msg))
    return out


def _parse_mesh(md, problems) -> MeshSpec:
    from ..core.meshes import MESHES

    if not isinstance(md, dict):
        problems.append(("mesh", "expected an object with 'method' and 'parameters'"))
        return MeshSpec()
    method = md.get("method", "hexagon")
    params = md.get("parameters", {}) or {}
    if not isinstance(params, dict):
        problems.append(("mesh.parameters", "expected an object"))
        params = {}
    for k in md:
        if k not in ("method", "parameters"):
            problems.append((f"mesh.{k}", "unknown field; known: method, parameters"))
    if method not in MESHES:
        problems.append(("mesh.method", f"unknown mesh {method!r}; known: {', '.join(MESHES)}"))
        return MeshSpec(method=str(method), parameters=dict(params))
    errors = MESHES[method].problems(params, "mesh.parameters")
    for err in errors:
        problems.append((err.field, str(err)[len(err.field) + 2:]))
    if not errors:  # cross-parameter rules (e.g. resolution and avg_location_count together)
        from ..core.meshes.registry import validate_mesh_parameters

        try:
            validate_mesh_parameters(method, params, "mesh.parameters")
        except ParameterError as err:
            problems.append((err.field, str(err)[len(err.field) + 2:]))
    return MeshSpec(method=method, parameters=dict(params))


def _parse_model(md, problems) -> ModelSpec:
    from ..core.models import MODELS

    if not isinstance(md, dict):
        problems.append(("model", "expected an object with 'name' and 'parameters'"))
        return ModelSpec()
    name = md.get("name", "d")
    params = md.get("parameters", {}) or {}
    if not isinstance(params, dict):
        problems.append(("model.parameters", "expected an object"))
        params = {}
    for k in md:
        if k not in ("name", "parameters"):
            problems.append((f"model.{k}", "unknown field; known: name, parameters"))
    if name not in MODELS:
        problems.append(("model.name", f"unknown model {name!r}; known: {', '.join(MODELS)}"))
        return ModelSpec(name=str(name), parameters=dict(params))
    for err in MODELS[name].problems(params, "model.parameters"):
        problems.append((err.field, str(err)[len(err.field) + 2:]))
    return ModelSpec(name=name, parameters=dict(params))


def _parse_env(ed, problems) -> EnvironmentSpec:
    if isinstance(ed, str):
        ed = {"name": ed}
    if not isinstance(ed, dict):
        problems.append(("environment", "expected an object with 'name'"))
        return EnvironmentSpec()
    name = ed.get("name", "inprocess")
    if not isinstance(name, str) or not name:
        problems.append(("environment.name", "expected a name: inprocess, local, or a site"))
        name = "inprocess"
    opts = ed.get("options", {}) or {}
    if not isinstance(opts, dict):
        problems.append(("environment.options", "expected an object"))
        opts = {}
    return EnvironmentSpec(name=name, options=dict(opts))


def _parse_time(td, problems) -> TimeWindowSpec | None:
    if td is None:
        return None
    if not isinstance(td, dict):
        problems.append(("time_windows", "expected an object with 'duration' (and optional 'shift', 'frames')"))
        return None
    for k in td:
        if k not in ("duration", "shift", "frames"):
            problems.append((f"time_windows.{k}", "unknown field; known: duration, shift, frames"))
    dur = _positive(td.get("duration"), "time_windows.duration", problems, allow_none=False)
    shift = _positive(td.get("shift"), "time_windows.shift", problems)
    frames = td.get("frames", False)
    if not isinstance(frames, bool):
        problems.append(("time_windows.frames", f"expected true or false, got {frames!r}"))
        frames = False
    if dur is None:
        return None
    return TimeWindowSpec(duration=dur, shift=shift, frames=frames)


def validate_parameters(entry, values, where) -> dict:
    """Validate ``values`` against a registry entry; raise :class:`SpecError` with every problem."""
    errs: list[ParameterError] = entry.problems(values, where)
    if errs:
        raise SpecError([(e.field, str(e)[len(e.field) + 2:]) for e in errs])
    return entry.validate(values)
