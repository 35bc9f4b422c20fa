"""The analysis spec: everything needed to re-run an analysis, as one serialisable object.

A spec holds the data files with the settings that describe them (the data-file settings of
:data:`~napari_tramway.core.io.FILE_SETTINGS`: format, column mapping, space unit and pixel size
µm, time unit and frame interval s, localization precision σ µm), the ROIs (per file or shared), whether overlapping ROIs are
grouped, the mesh and its parameters, optional time windows, the model and its parameters, the
stage, and the environment. It is saved as JSON (``napari-tramway/spec``, versioned) and loaded
from JSON or TOML.

Each section is described once, field by field (:mod:`.schema`): its default, its type, unit and
range, or the registry its parameters come from (``mesh.parameters`` from
:data:`~napari_tramway.core.meshes.MESHES`, ``model.parameters`` from
:data:`~napari_tramway.core.models.MODELS`). Checking, reading and writing are generated from
these descriptions. A section is checked once, when it is made (in Python or from a file), and
reports **every** problem with its field path (e.g. ``files[1].frame_interval``,
``mesh.parameters.resolution``); what it holds afterwards is typed and trusted downstream.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.io.settings import FileSettings
from ..core.parameters import Settings
from .labels import labelled_roi_list, labels_field
from .schema import (
    REQUIRED,
    SpecError,
    build,
    check_fields,
    flattened_options,
    grouped_setting,
    options,
    registry_name,
    registry_settings,
    section_dict,
    section_settings,
    setting,
    spec_section,
    subsection,
    subsections,
)

if TYPE_CHECKING:  # annotations: a spec holds ROIs without importing numpy or shapely
    from ..core.roi import Roi

SPEC_FORMAT = "napari-tramway/spec"
SPEC_VERSION = 1
STAGES = ("tessellate_and_infer", "tessellate", "infer", "tessellate_then_infer")


def _meshes():
    from ..core.meshes import MESHES

    return MESHES


def _models():
    from ..core.models import MODELS

    return MODELS


def _file_setting(name: str):
    return grouped_setting(FileSettings, name)


@spec_section("file", shorthand="path")
class DataFile:
    """One trajectory file and how to read it.

    ``path`` may be relative to the spec file. The settings of
    :data:`~napari_tramway.core.io.FILE_SETTINGS` (one field each, same names and defaults:
    ``frame_interval`` s, ``localization_precision`` σ µm, ``format``, ``columns``,
    ``space_unit``, ``pixel_size`` µm, ``time_unit``, ``space_scale``, ``time_scale``) are
    checked together, once, when the file is made; :attr:`settings` gives them as the
    :class:`~napari_tramway.core.io.FileSettings` the reader takes. ``rois`` = None means "use the
    spec's shared ROIs".

    ``reader`` is the older layout (a spec file's ``"reader": {"columns": ..., "space_unit": ...}``,
    or ``DataFile(..., reader={...})``): its keys are merged into the fields above and it is
    never written; afterwards it shows the settings given other than the frame interval and σ.
    ``labels`` (``{"condition": "treated"}``, :mod:`.labels`) are in no fingerprint.
    """

    path: str = setting("str", REQUIRED, "Trajectory file; relative to the spec file's folder")
    frame_interval: float | None = _file_setting("frame_interval")
    localization_precision: float | None = _file_setting("localization_precision")
    format: str | None = _file_setting("format")
    columns: dict | None = _file_setting("columns")
    space_unit: str | None = _file_setting("space_unit")
    pixel_size: float | None = _file_setting("pixel_size")
    time_unit: str | None = _file_setting("time_unit")
    space_scale: float | None = _file_setting("space_scale")
    time_scale: float | None = _file_setting("time_scale")
    rois: list[Roi] | None = labelled_roi_list(optional=True)
    label: str | None = setting("str", None, "Label of the file in unit labels (default: its name)")
    remote_path: str | None = setting("str", None, "The file's path on a cluster, when it is already there")
    labels: dict[str, str] = labels_field()
    reader: dict | None = flattened_options(FileSettings, exclude=("frame_interval", "localization_precision"))

    @property
    def settings(self) -> FileSettings:
        """The data-file settings, as the reader takes them (checked when the file was made)."""
        return section_settings(self, FileSettings)

    def read_options(self) -> dict:
        """The settings given, as keywords of :func:`napari_tramway.read_trajectories`."""
        return self.settings.to_dict()


@spec_section("mesh", frozen=True)
class MeshSpec:
    """Mesh method (a name of :data:`napari_tramway.core.meshes.MESHES`) and its parameters,
    validated into :class:`~napari_tramway.core.parameters.Settings` (what ``build_mesh`` takes)."""

    method: str = registry_name(_meshes, "hexagon")
    # a new spec starts at 1 µm cells; a spec file without 'parameters' means the registry defaults
    parameters: Settings = registry_settings(_meshes, "method", default=lambda: {"resolution": 1.0}, absent=dict)


@spec_section("time_windows", frozen=True)
class TimeWindowSpec:
    """Sliding time windows: ``duration`` and ``shift`` (s, or frames when ``frames``)."""

    duration: float = setting("float", REQUIRED, "Window length (s, or frames)", unit="s", minimum=0.0,
                              exclusive_minimum=True)
    shift: float | None = setting("float", None, "Shift between windows (default: the duration)", unit="s",
                                  minimum=0.0, exclusive_minimum=True)
    frames: bool = setting("bool", False, "duration and shift count frames instead of seconds")


@spec_section("model", frozen=True)
class ModelSpec:
    """Model name (``d``, ``dd``, ``df``, ``dv``) and its parameters (validated ``Settings``)."""

    name: str = registry_name(_models, "d")
    parameters: Settings = registry_settings(_models, "name")


@spec_section("environment", shorthand="name", frozen=True)
class EnvironmentSpec:
    """Where units run: ``inprocess`` (default), ``local`` (process pool) or a site name."""

    name: str = setting("str", "inprocess", "inprocess, local, or a site")
    options: dict = options("environment options")


@spec_section("")
class AnalysisSpec:
    """One analysis: data files × support regions × time windows, a mesh, a model, an environment."""

    files: list[DataFile] = subsections(lambda: DataFile, "data files")
    rois: list[Roi] = labelled_roi_list()
    group_overlapping_rois: bool = setting("bool", False, "Merge overlapping ROIs into one support region")
    mesh: MeshSpec = subsection(lambda: MeshSpec)
    time_windows: TimeWindowSpec | None = subsection(lambda: TimeWindowSpec, optional=True)
    model: ModelSpec = subsection(lambda: ModelSpec)
    environment: EnvironmentSpec = subsection(lambda: EnvironmentSpec)
    stage: str = setting("str", "tessellate_and_infer", "What each unit does", choices=STAGES)
    discard_static: bool = setting("bool", False, "Remove static steps (mean squared step per axis below σ²); the models then condition their likelihood on the filter")
    name: str | None = setting("str", None, "Name of the analysis")
    base_dir: str | None = field(default=None, compare=False)
    """Directory that relative file paths are relative to (the spec file's directory); not saved."""

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": SPEC_FORMAT, "version": SPEC_VERSION, **section_dict(self)}

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
        if not isinstance(d, dict):
            raise SpecError([("", f"expected a JSON/TOML object, got {type(d).__name__}")], source)
        d = dict(d)
        problems = _document_problems(d)
        spec = build(cls, d, "", problems)
        if problems:
            raise SpecError(problems, source)
        spec.base_dir = base_dir
        return spec

    def check(self, source: str | None = None) -> AnalysisSpec:
        """Check a spec assembled field by field (``spec.mesh = MeshSpec(...)``...), as loading
        would, and return it; raise :class:`SpecError` listing every problem.

        Sections assigned as objects were checked when made and are taken as they are; the
        spec's own fields are checked (and converted) again, and at least one file is required.
        """
        problems = [("files", "at least one data file is required")] if not self.files else []
        problems += check_fields(self)
        if problems:
            raise SpecError(problems, source)
        return self

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
        return cls.from_dict(d, str(path), str(path.parent.resolve()))

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
        """What determines one unit's result: :meth:`fingerprint` plus its file's settings (every
        data-file setting given: units, pixel size, frame interval, σ, columns...), the shapes of
        its region's ROIs and the content of its data file (``unit.data_digest``, see
        :mod:`.digests`).

        Editing an ROI, or a setting of a file, or replacing the file's content, makes that file's
        affected units stale and no other; the data path and labels are left out (the same file may
        live elsewhere on a cluster). The record keeps the layout of earlier versions (frame
        interval, σ, then the other settings under ``reader``), so results computed before this
        layout stay valid; a unit's content digest is added under ``data`` (results written before
        units carried one are computed again once).
        """
        f = self.files[unit.file_index]
        rois = self.rois_for(unit.file_index)
        members = region_members(unit.region_label)
        given = f.settings.to_dict()
        keep = {
            "analysis": self.fingerprint(part),
            "file": {"frame_interval": given.pop("frame_interval", None),
                     "localization_precision": given.pop("localization_precision", None), "reader": given},
            "rois": [{k: v for k, v in rois[m].to_dict().items() if k != "labels"} for m in members if m < len(rois)],
        }
        if getattr(unit, "data_digest", None):
            keep["data"] = unit.data_digest
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


def _document_problems(d: dict) -> list[tuple[str, str]]:
    """What only a spec document has: its format and version (removed from ``d``), at least one file."""
    problems = []
    fmt = d.pop("format", SPEC_FORMAT)
    if fmt != SPEC_FORMAT:
        problems.append(("format", f"expected {SPEC_FORMAT!r}, got {fmt!r}"))
    version = d.pop("version", SPEC_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(("version", f"expected a positive integer, got {version!r}"))
    elif version > SPEC_VERSION:
        problems.append(("version", f"spec version {version} is newer than this napari-tramway supports ({SPEC_VERSION})"))
    if isinstance(d.get("files", []), list) and not d.get("files"):
        problems.append(("files", "at least one data file is required"))
    return problems
