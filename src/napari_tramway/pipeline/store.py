"""The result store of one analysis: a directory, documented in ``docs/results.md``.

Layout::

    <store>/store.json                          format, version, the spec, software version
    <store>/units/<file>/<region>[/<segment>].ntw        one unit's result (mesh + maps + metadata)
    <store>/units/<file>/<region>[/<segment>].done.json  done-marker: sha256 and size of the .ntw
    <store>/units/<file>/<region>[/<segment>].failed.json  the last failure (error, traceback, where)
    <store>/tessellations/<file>/<region>.ntw   (+ .done.json) meshes of the ``tessellate`` stage

A result file is written to a temporary name, fsync'ed and renamed; its done-marker is written
(atomically too) only afterwards, so a crash never leaves a unit that looks complete. A unit is
*done* when its marker exists and the result's size and SHA-256 match it; otherwise it is
*missing*, *failed* or *corrupt*, and a new run computes it again. A done unit whose settings
or data file changed since (its marker keeps the settings' fingerprint and the SHA-256 of the
data file it was computed from) is *stale*, and is computed again too.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..core.archive import read_archive, sha256_file, write_archive, write_json_atomic
from ..core.errors import ArchiveError
from .spec import AnalysisSpec

if TYPE_CHECKING:
    from .units import Unit

STORE_FORMAT = "napari-tramway/store"
STORE_VERSION = 1
UNIT_FORMAT = "napari-tramway/unit-result"
UNIT_VERSION = 1
TESSELLATION_FORMAT = "napari-tramway/tessellation"


@dataclass
class UnitStatus:
    """What the store holds for one unit: ``done``, ``failed``, ``corrupt``, ``stale`` or ``missing``."""

    label: str
    state: str
    detail: str = ""
    meta: dict | None = None


class ResultStore:
    """One analysis' results on disk (see the module docstring for the layout)."""

    def __init__(self, root):
        self.root = Path(root)

    # -- store-level ------------------------------------------------------------------------
    @property
    def info_path(self) -> Path:
        return self.root / "store.json"

    def exists(self) -> bool:
        return self.info_path.exists()

    def initialise(self, spec: AnalysisSpec) -> None:
        """Create the store (or update its spec) — the spec travels with the results."""
        self.root.mkdir(parents=True, exist_ok=True)
        info = {"format": STORE_FORMAT, "version": STORE_VERSION, "software": f"napari-tramway {__version__}",
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "spec": spec.to_dict(),
                "spec_base_dir": spec.base_dir}
        if self.exists():
            try:
                old = json.loads(self.info_path.read_text())
                info["created"] = old.get("created", info["updated"])
            except (OSError, ValueError):
                info["created"] = info["updated"]
        else:
            info["created"] = info["updated"]
        write_json_atomic(self.info_path, info)

    def info(self) -> dict:
        try:
            info = json.loads(self.info_path.read_text())
        except FileNotFoundError:
            raise ArchiveError(f"{self.root}: not a napari-tramway result store (no store.json)") from None
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{self.info_path}: unreadable ({exc})") from None
        if info.get("format") != STORE_FORMAT:
            raise ArchiveError(f"{self.info_path}: not a napari-tramway result store")
        if int(info.get("version", 0)) > STORE_VERSION:
            raise ArchiveError(f"{self.info_path}: store version {info['version']} is newer than supported")
        return info

    def spec(self) -> AnalysisSpec:
        info = self.info()
        return AnalysisSpec.from_dict(info["spec"], source=str(self.info_path), base_dir=info.get("spec_base_dir"))

    # -- paths ------------------------------------------------------------------------------
    def unit_path(self, unit: Unit | str) -> Path:
        label = unit if isinstance(unit, str) else unit.label
        return self.root / "units" / (label + ".ntw")

    @staticmethod
    def marker_path(result: Path) -> Path:
        return result.with_name(result.name[: -len(".ntw")] + ".done.json")

    @staticmethod
    def failure_path(result: Path) -> Path:
        return result.with_name(result.name[: -len(".ntw")] + ".failed.json")

    def tessellation_path(self, unit: Unit) -> Path:
        return self.root / "tessellations" / (unit.region_key + ".ntw")

    # -- writing ----------------------------------------------------------------------------
    def write_result(self, path: Path, fmt: str, arrays: dict, meta: dict) -> dict:
        """Write a result archive then its done-marker; return the marker."""
        meta = dict(meta)
        meta.setdefault("software", f"napari-tramway {__version__}")
        meta.setdefault("host", socket.gethostname())
        meta.setdefault("pid", os.getpid())
        write_archive(path, fmt, UNIT_VERSION, arrays, meta)
        label = meta.get("unit", {}).get("label") if isinstance(meta.get("unit"), dict) else None
        return self.write_marker(path, fmt, label, meta.get("fingerprint"), meta.get("data_sha256"))

    def write_marker(self, path: Path, fmt: str = "", label: str | None = None,
                     fingerprint: str | None = None, data_sha256: str | None = None) -> dict:
        """Write the done-marker of an already written result file (checksum, size, settings'
        fingerprint, and the SHA-256 of the data file it was computed from)."""
        marker = {"sha256": sha256_file(path), "size": path.stat().st_size, "format": fmt, "label": label,
                  "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if fingerprint is not None:
            marker["fingerprint"] = fingerprint
        if data_sha256 is not None:
            marker["data_sha256"] = data_sha256
        write_json_atomic(self.marker_path(path), marker)
        fail = self.failure_path(path)
        if fail.exists():
            fail.unlink()
        return marker

    def write_failure(self, unit: Unit, error: str, traceback_text: str = "", where: str = "", **extra) -> None:
        path = self.unit_path(unit)
        record = {"unit": unit.label, "error": error, "traceback": traceback_text, "where": where or
                  f"{socket.gethostname()}:{os.getpid()}", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
        write_json_atomic(self.failure_path(path), record)

    def clear(self, unit: Unit) -> None:
        """Remove a unit's result, marker and failure record (for ``overwrite``)."""
        path = self.unit_path(unit)
        for p in (self.marker_path(path), path, self.failure_path(path)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    # -- reading ----------------------------------------------------------------------------
    def check(self, path: Path, verify: bool = True) -> tuple[str, str]:
        """``('done', '')`` or ``(state, why)`` for a result path (see :class:`UnitStatus`)."""
        marker_p = self.marker_path(path)
        if not marker_p.exists():
            if self.failure_path(path).exists():
                try:
                    rec = json.loads(self.failure_path(path).read_text())
                    return "failed", str(rec.get("error", ""))
                except (OSError, ValueError):
                    return "failed", "unreadable failure record"
            if path.exists():
                return "corrupt", "result file without done-marker (interrupted while writing)"
            return "missing", ""
        try:
            marker = json.loads(marker_p.read_text())
        except (OSError, ValueError):
            return "corrupt", "unreadable done-marker"
        if not path.exists():
            return "corrupt", "done-marker without result file"
        size = path.stat().st_size
        if size != marker.get("size"):
            return "corrupt", f"size {size} B differs from the marker's {marker.get('size')} B"
        if verify and sha256_file(path) != marker.get("sha256"):
            return "corrupt", "SHA-256 differs from the done-marker (file modified or damaged)"
        return "done", ""

    def result_fingerprint(self, path: Path) -> str | None:
        """The settings' fingerprint a done result was computed with (its marker, else its header)."""
        fp = self.marker(path).get("fingerprint")
        if fp is None:
            _, meta, _ = read_archive(path, arrays=False)
            fp = meta.get("fingerprint")
        return fp

    def marker(self, path: Path) -> dict:
        """The done-marker of a result path ({} when absent or unreadable)."""
        try:
            marker = json.loads(self.marker_path(path).read_text())
        except (OSError, ValueError):
            return {}
        return marker if isinstance(marker, dict) else {}

    def status(self, unit: Unit, fingerprint: str | None = None, verify: bool = True, path: Path | None = None) -> UnitStatus:
        """The unit's state; with ``fingerprint`` (:meth:`AnalysisSpec.unit_fingerprint`), a done
        result computed with other settings, or from another content of its data file, is
        ``stale`` (``detail`` says which, ``meta`` is its done-marker). ``path`` defaults to the
        unit's result."""
        path = path or self.unit_path(unit)
        state, why = self.check(path, verify=verify)
        if state == "done" and fingerprint is not None:
            try:
                done_with = self.result_fingerprint(path)
            except ArchiveError as exc:
                return UnitStatus(unit.label, "corrupt", str(exc))
            if done_with != fingerprint:
                marker = self.marker(path)
                was = marker.get("data_sha256")
                if was and unit.data_digest and was != unit.data_digest:
                    return UnitStatus(unit.label, "stale", f"input changed since the run of {marker.get('written', '?')}",
                                      marker)
                return UnitStatus(unit.label, "stale", "computed with other settings (mesh, model, ROI or file metadata)",
                                  marker)
        return UnitStatus(unit.label, state, why)

    def load_unit(self, unit: Unit | str):
        """``(maps, meta)`` of a done unit; raises :class:`ArchiveError` if it is not valid."""
        from ..core.maps import Maps

        path = self.unit_path(unit)
        state, why = self.check(path, verify=True)
        if state != "done":
            raise ArchiveError(f"{path}: unit is {state}" + (f" ({why})" if why else ""))
        arrays, meta, _ = read_archive(path, UNIT_FORMAT, max_version=UNIT_VERSION)
        maps = Maps.from_arrays(arrays, meta["maps"])
        return maps, meta

    def unit_labels(self) -> list[str]:
        """Labels of every unit with a result or failure record on disk, sorted."""
        base = self.root / "units"
        if not base.exists():
            return []
        out = set()
        for p in base.rglob("*.done.json"):
            out.add(str(p.relative_to(base))[: -len(".done.json")])
        for p in base.rglob("*.failed.json"):
            out.add(str(p.relative_to(base))[: -len(".failed.json")])
        for p in base.rglob("*.ntw"):
            out.add(str(p.relative_to(base))[: -len(".ntw")])
        return sorted(out)

    def summary(self, verify: bool = True) -> list[UnitStatus]:
        """The state of every unit found on disk (no data files needed)."""
        out = []
        for label in self.unit_labels():
            path = self.root / "units" / (label + ".ntw")
            state, why = self.check(path, verify=verify)
            meta = None
            if state == "done":
                try:
                    _, meta, _ = read_archive(path, UNIT_FORMAT, arrays=False)
                except ArchiveError as exc:
                    state, why = "corrupt", str(exc)
            elif state == "failed":
                try:
                    meta = json.loads(self.failure_path(path).read_text())
                except (OSError, ValueError):
                    meta = None
            out.append(UnitStatus(label, state, why, meta))
        return out

    def clean_partial_files(self) -> int:
        """Remove temporary ``*.part`` files left by interrupted writers; return how many."""
        n = 0
        for p in self.root.rglob(".*.part"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n
