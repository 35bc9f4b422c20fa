"""Content digests of data files: a unit is keyed by the SHA-256 of its data file, so that a file
replaced under the same name is never mixed with results computed from the old one.

Hashing stays cheap: a file is hashed once and its digest kept, keyed by its path, size and
modification time (ns); when the size or the modification time changes, the whole file is hashed
again. Planning a run therefore hashes each data file at most once per process while it is
unchanged (a 1 GB file takes about a second).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

_CACHE: dict[str, tuple[int, int, str]] = {}
_LOCK = threading.Lock()
#: how many times a file was hashed in full (for tests and benchmarks)
HASHED = {"files": 0, "bytes": 0}


def file_digest(path) -> str:
    """The SHA-256 (hex) of a data file's content, recomputed only when its size or mtime changed."""
    path = Path(path)
    st = os.stat(path)
    key = str(path.resolve())
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
        return cached[2]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _CACHE[key] = (st.st_size, st.st_mtime_ns, digest)
        HASHED["files"] += 1
        HASHED["bytes"] += st.st_size
    return digest


def file_state(path) -> tuple[str, int, int] | None:
    """``(resolved path, size, mtime ns)`` of a file, or None if it cannot be read: what decides
    whether planned units are still valid (a cheap ``stat``, no hashing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns


__all__ = ["HASHED", "file_digest", "file_state"]
