"""What a remote run uploads, packed into ONE compressed tar (sent on the submit command's stdin).

Layout of a run directory (``<scratch>/napari-tramway/<run id>/``)::

    store/store.json            the analysis spec (the unit worker reads it from there)
    store/tessellations/...     meshes already computed locally (``infer`` stage only)
    napari_tramway.zip          the worker code, zipped from the client's installed package
    inputs/f<i>-<region>.ntw    each support region's steps, already cropped (and filtered)
    units-<stage>.json          the array's task list: unit + input, in task-index order
    job-<stage>-<k>.sh          the sbatch script of job k
    SHA256SUMS-<k>              checksums of everything above, verified before sbatch
    logs/, jobs/                Slurm logs per task, submitted job ids

Only each region's cropped steps travel, never the whole data files; data files that live on the
cluster already (``DataFile.remote_path``) are referenced by path and not uploaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

_ZIP_CACHE: dict = {}
#: what the unit worker needs (``napari_tramway.pipeline.worker``): the core, the pipeline, and the
#: package's ``__init__`` and version; not the environments, the façade, the CLI or the napari face
ZIP_PACKAGES = ("core", "pipeline")
ZIP_TOP_FILES = ("__init__.py", "_version.py")
ZIP_SUFFIXES = (".py",)


def package_dir() -> Path:
    """The installed ``napari_tramway`` package (this file is ``<it>/environments/bundle.py``)."""
    return Path(__file__).resolve().parents[1]


def worker_zip() -> bytes:
    """The worker's part of the installed ``napari_tramway`` sources (:data:`ZIP_PACKAGES` and
    :data:`ZIP_TOP_FILES`), as a deterministic zip.

    Importable from ``PYTHONPATH=napari_tramway.zip``: the cluster runs exactly the client's code.
    """
    root = package_dir()
    files = [root / name for name in ZIP_TOP_FILES]
    for package in ZIP_PACKAGES:
        for dirpath, dirnames, filenames in os.walk(root / package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            files += [Path(dirpath) / name for name in sorted(filenames) if name.endswith(ZIP_SUFFIXES)]
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if _ZIP_CACHE.get("key") == key:
        return _ZIP_CACHE["data"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for p in files:
            arc = "napari_tramway/" + p.relative_to(root).as_posix()
            info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, p.read_bytes())
    data = buf.getvalue()
    _ZIP_CACHE.update(key=key, data=data, sha256=hashlib.sha256(data).hexdigest())
    return data


def worker_zip_sha256() -> str:
    return worker_code()[1]


def worker_code() -> tuple[bytes, str]:
    """``(zip bytes, sha256)`` of the worker code, from ONE snapshot of the sources: a submission
    takes both from here, so the checksum it probes the cluster's cache with is the one of the zip
    it would upload, even if the sources change meanwhile (an editable install being edited)."""
    data = worker_zip()
    sha = _ZIP_CACHE["sha256"] if _ZIP_CACHE.get("data") is data else hashlib.sha256(data).hexdigest()
    return data, sha


class BundleWriter:
    """Collects files, then packs them with a SHA256SUMS file into one tar.gz."""

    def __init__(self):
        self._files: dict[str, bytes] = {}
        self._dirs: list[str] = []
        self._expected: dict[str, str] = {}

    def add(self, rel: str, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        rel = rel.lstrip("/")
        if ".." in rel.split("/"):
            raise ValueError(f"bad bundle path {rel!r}")
        self._files[rel] = data

    def add_dir(self, rel: str) -> None:
        self._dirs.append(rel.strip("/"))

    def expect(self, rel: str, sha256: str) -> None:
        """A file put in place on the cluster (not uploaded) whose checksum is verified with the rest."""
        self._expected[rel] = sha256

    def pack(self, checksums_name: str) -> tuple[bytes, dict[str, int]]:
        sums = {rel: hashlib.sha256(d).hexdigest() for rel, d in self._files.items()}
        sums.update(self._expected)
        sums = "".join(f"{h}  {rel}\n" for rel, h in sorted(sums.items()))
        files = dict(self._files)
        files[checksums_name] = sums.encode()
        buf = io.BytesIO()
        mtime = int(time.time())
        with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tf:
            made = set()
            for rel in sorted(set(self._dirs) | {str(Path(r).parent) for r in files if "/" in r}):
                parts = rel.split("/")
                for k in range(1, len(parts) + 1):
                    d = "/".join(parts[:k])
                    if d in made or d in (".", ""):
                        continue
                    made.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = mtime
                    tf.addfile(ti)
            for rel, data in sorted(files.items()):
                ti = tarfile.TarInfo(rel)
                ti.size = len(data)
                ti.mode = 0o755 if rel.endswith(".sh") else 0o644
                ti.mtime = mtime
                tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue(), {rel: len(d) for rel, d in files.items()}


def input_name(unit) -> str:
    from ..pipeline.spec import safe_label

    return f"inputs/f{unit.file_index}-{safe_label(unit.region_label)}.ntw"


def add_inputs(writer: BundleWriter, spec, units) -> tuple[int, int, int, dict]:
    """Write each needed region's cropped steps; return (bytes, source bytes, count, unit→input)."""
    from ..pipeline.data import DEFAULT_CACHE
    from ..pipeline.inputs import UnitInput, write_unit_input

    by_file: dict[int, list] = {}
    for u in units:
        by_file.setdefault(u.file_index, []).append(u)
    total = source = count = 0
    mapping: dict[str, str | None] = {}
    with tempfile.TemporaryDirectory(prefix="ntw-bundle-") as tmp:
        for i, file_units in sorted(by_file.items()):
            f = spec.files[i]
            if f.remote_path:
                for u in file_units:
                    mapping[u.label] = None  # read on the cluster
                continue
            path = spec.resolve_path(f)
            tf = DEFAULT_CACHE.trajectory_file(spec, i)
            source += os.path.getsize(path)
            done: dict[str, str] = {}
            for u in file_units:
                name = input_name(u)
                if u.region_key not in done:
                    region, steps, acquisition = DEFAULT_CACHE.region_data(spec, i, u.region_label)
                    bounds = None if spec.rois_for(i) else tuple(region.bounds)
                    local = Path(tmp) / f"{count}.ntw"
                    write_unit_input(local, UnitInput(steps, tf.provenance, acquisition, bounds))
                    data = local.read_bytes()
                    writer.add(name, data)
                    total += len(data)
                    count += 1
                    done[u.region_key] = name
                mapping[u.label] = done[u.region_key]
    return total, source, count, mapping


def remote_store_info(store, spec, home: str | None) -> dict:
    """The remote ``store.json``: the local one, with files that live on the cluster re-pointed."""
    info = dict(store.info())
    d = json.loads(json.dumps(info.get("spec", spec.to_dict())))
    for fd in d.get("files", []):
        rp = fd.get("remote_path")
        if rp:
            if not rp.startswith("/") and home:
                rp = home.rstrip("/") + "/" + (rp[2:] if rp.startswith("~/") else rp)
            fd["path"] = rp
    info["spec"] = d
    info["spec_base_dir"] = home
    info["remote"] = True
    return info


def tessellation_files(store, units) -> dict[str, bytes]:
    """Local meshes (and done-markers) the ``infer`` stage needs on the cluster."""
    out = {}
    for u in units:
        p = store.tessellation_path(u)
        m = store.marker_path(p)
        if p.exists() and m.exists():
            rel = p.relative_to(store.root).as_posix()
            out["store/" + rel] = p.read_bytes()
            out["store/" + m.relative_to(store.root).as_posix()] = m.read_bytes()
    return out
