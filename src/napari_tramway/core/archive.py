"""A small self-describing, versioned container for arrays plus JSON metadata (no pickle).

One archive is a zip file holding ``meta.json`` (the format name, its version, free metadata)
and one ``.npy`` member per array (object arrays are refused). Zip CRCs detect corruption and
a truncated file has no central directory, so half-written files never load as valid. Writes go
to a temporary file in the same directory, are fsync'ed, then renamed over the target.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArchiveError

if TYPE_CHECKING:  # numpy is imported by the functions that read or write arrays (not for JSON files)
    import numpy as np

META_MEMBER = "meta.json"


def _json_default(obj):
    np = sys.modules.get("numpy")  # a numpy value exists only once numpy is imported
    if np is not None:
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in archive metadata")


def dumps_json(meta) -> str:
    return json.dumps(meta, default=_json_default, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)   # elsewhere: read it by setting it, then put it back at once
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None, permissions: int | None = None):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is untouched, so readers never
    see a half-written file. The file gets ``permissions`` (default ``0o666``) minus the user's
    umask, like a file created with :func:`open` (a bare temporary file would be ``0o600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, (0o666 if permissions is None else permissions) & ~current_umask())
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path, data) -> None:
    """Write ``data`` as JSON to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=_json_default_or_str, ensure_ascii=False)


def _json_default_or_str(obj):
    try:
        return _json_default(obj)
    except TypeError:
        return str(obj)


def write_archive(path, fmt: str, version: int, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> Path:
    """Write ``arrays`` and ``meta`` to ``path`` atomically; return the path.

    ``fmt`` names the content (e.g. ``napari-tramway/maps``) and ``version`` its layout version.
    """
    import numpy as np

    path = Path(path)
    header = {"format": fmt, "version": int(version), "arrays": sorted(arrays), "meta": dict(meta or {})}
    with atomic_write(path) as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(META_MEMBER, dumps_json(header))
            for name, arr in arrays.items():
                arr = np.asarray(arr)
                if arr.dtype.hasobject:
                    raise TypeError(f"array {name!r} has dtype object; archives hold plain arrays only")
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)
                zf.writestr(f"{name}.npy", buf.getvalue())
    return path


def read_archive(path, fmt: str | None = None, max_version: int | None = None, arrays: bool = True):
    """Return ``(arrays, meta, version)`` from an archive written by :func:`write_archive`.

    With ``arrays=False`` only the header is read (``arrays`` is then an empty dict): cheap, for
    listing a store. Raises :class:`ArchiveError` (naming the file) when the file is missing,
    truncated, corrupt (every member read is CRC-checked by ``zipfile``), of another format, or of
    a newer version than ``max_version``.
    """
    import numpy as np

    path = Path(path)
    want_arrays = arrays
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                header = json.loads(zf.read(META_MEMBER).decode("utf-8"))
            except KeyError:
                raise ArchiveError(f"{path}: not a napari-tramway archive (no {META_MEMBER})") from None
            if not isinstance(header, dict) or "format" not in header or "version" not in header:
                raise ArchiveError(f"{path}: malformed archive header")
            if fmt is not None and header["format"] != fmt:
                raise ArchiveError(f"{path}: holds {header['format']!r}, expected {fmt!r}")
            if max_version is not None and header["version"] > max_version:
                raise ArchiveError(
                    f"{path}: {header['format']} version {header['version']} is newer than this "
                    f"napari-tramway understands ({max_version}); upgrade napari-tramway"
                )
            arrays = {}
            for name in header.get("arrays", []) if want_arrays else ():
                try:
                    raw = zf.read(f"{name}.npy")
                except KeyError:
                    raise ArchiveError(f"{path}: array {name!r} listed but missing") from None
                arrays[name] = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except ArchiveError:
        raise
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, json.JSONDecodeError, zlib.error) as exc:
        raise ArchiveError(f"{path}: unreadable or incomplete archive ({exc})") from None
    return arrays, header.get("meta", {}), header["version"]


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def pack_ragged(arrays) -> tuple[np.ndarray, np.ndarray]:
    """Pack a list of (m_i, d) arrays into (flat (Σm, d), offsets (k+1,))."""
    import numpy as np

    arrays = [np.asarray(a, dtype=float).reshape(-1, 2) for a in arrays]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    if arrays:
        offsets[1:] = np.cumsum([len(a) for a in arrays])
        flat = np.concatenate(arrays) if offsets[-1] else np.zeros((0, 2))
    else:
        flat = np.zeros((0, 2))
    return flat, offsets


def unpack_ragged(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
