"""The local ledger of remote runs: one JSON file per run, written atomically before waiting.

A run's record says everything needed to find it again after napari was closed, the client
crashed or the laptop slept: the site (and how to re-create it), user, host and port, the remote
run directory, the Slurm job ids, the units with their task indices, the local result store, the
state of every unit, the markers already collected, and timestamps.

Location: ``$NAPARI_TRAMWAY_DATA/runs/`` when set, else ``$XDG_DATA_HOME/napari-tramway/runs/``,
else ``~/.local/share/napari-tramway/runs/``. A run being followed holds an exclusive lock
(``<run id>.lock``, released by the kernel if the process dies), so two clients never collect
the same run at once.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

RUN_FORMAT = "napari-tramway/run"
RUN_VERSION = 1
#: the key of a chain's mesh (first stage) in a record's ``states``: ``mesh:<file>/<region>``
#: (unit labels never contain ':')
MESH = "mesh:"


class LedgerError(RuntimeError):
    pass


class RunBusy(LedgerError):
    """Another process is following this run."""


def data_dir() -> Path:
    env = os.environ.get("NAPARI_TRAMWAY_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "napari-tramway"


def config_dir() -> Path:
    """napari-tramway's settings (site profiles, its own known_hosts): ``$NAPARI_TRAMWAY_CONFIG``,
    else ``~/.config/napari-tramway``."""
    env = os.environ.get("NAPARI_TRAMWAY_CONFIG")
    return Path(env).expanduser() if env else Path.home() / ".config" / "napari-tramway"


def runs_dir() -> Path:
    return data_dir() / "runs"


def new_run_id() -> str:
    """``YYYYMMDD-HHMMSS-xxxxxx`` (sortable, unique, path- and shell-safe)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _check_id(run_id: str) -> str:
    run_id = str(run_id)
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise LedgerError(f"invalid run id {run_id!r}")
    return run_id


def record_path(run_id: str) -> Path:
    return runs_dir() / f"{_check_id(run_id)}.json"


def save(record: dict) -> Path:
    """Write ``record`` atomically (temporary file, fsync, rename); return its path."""
    from ..core.archive import write_json_atomic

    record.setdefault("format", RUN_FORMAT)
    record.setdefault("version", RUN_VERSION)
    record.setdefault("created", now())
    record["updated"] = now()
    path = record_path(record["run_id"])
    write_json_atomic(path, record)
    return path


def load(run_id: str) -> dict:
    """The record of ``run_id`` (a unique prefix is enough)."""
    path = record_path(run_id)
    if not path.exists():
        matches = [p for p in runs_dir().glob(f"{_check_id(run_id)}*.json")] if runs_dir().exists() else []
        if len(matches) == 1:
            path = matches[0]
        elif len(matches) > 1:
            raise LedgerError(f"run id {run_id!r} is ambiguous: {', '.join(sorted(p.stem for p in matches))}")
        else:
            raise LedgerError(f"no run {run_id!r} in the ledger ({runs_dir()})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerError(f"{path}: unreadable run record ({exc})") from None
    if record.get("format") != RUN_FORMAT:
        raise LedgerError(f"{path}: not a napari-tramway run record")
    if int(record.get("version", 0)) > RUN_VERSION:
        raise LedgerError(f"{path}: run record version {record['version']} is newer than supported")
    return record


def list_runs() -> list[dict]:
    """Every run record, oldest first (unreadable files are skipped)."""
    d = runs_dir()
    if not d.exists():
        return []
    out = []
    for p in sorted(d.glob("*.json")):
        try:
            out.append(load(p.stem))
        except LedgerError:
            continue
    return out


def delete(run_id: str) -> None:
    for p in (record_path(run_id), runs_dir() / f"{_check_id(run_id)}.lock"):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def state_counts(record: dict, meshes: bool = False) -> dict[str, int]:
    """How many units (``meshes``: a chain's meshes) are in each state."""
    counts: dict[str, int] = {}
    for key, st in record.get("states", {}).items():
        if key.startswith(MESH) != meshes:
            continue
        kind = st.get("kind", "queued")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def summary_text(record: dict) -> str:
    order = ("done", "failed", "cancelled", "started", "pending", "queued", "skipped")
    counts = state_counts(record)
    text = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k)) or "no unit"
    meshes = state_counts(record, meshes=True)
    if meshes:
        text += "; meshes: " + ", ".join(f"{meshes[k]} {k}" for k in order if meshes.get(k))
    return text


@contextmanager
def lock(run_id: str, what: str = "follow"):
    """Hold the run's exclusive lock; raise :class:`RunBusy` when another process holds it."""
    path = runs_dir() / f"{_check_id(run_id)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: no lock, best effort
            pass
        except OSError:
            try:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            raise RunBusy(f"run {run_id} is being followed by another process ({holder or 'unknown'})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what})".encode(), 0)
        yield
    finally:
        os.close(fd)


def is_locked(run_id: str) -> bool:
    try:
        with lock(run_id, "probe"):
            return False
    except RunBusy:
        return True
