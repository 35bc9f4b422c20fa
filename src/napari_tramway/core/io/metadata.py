"""The metadata file written next to a trajectory file: ``<file>.meta.json``.

``write_trajectories_text`` writes the table as TRamWAy text, which TRamWAy itself reads (its
``load_xyt`` takes the first line as the header, so the data file cannot carry comment lines),
and records beside it what the text cannot say: the units (µm, s), the frame interval (s) and σ
(µm)::

    {"napari_tramway_metadata": 1, "file": "tracks.txt", "size": 1234, "ends_crc32": 305419896,
     "space_unit": "µm", "time_unit": "s", "frame_interval": 0.02, "localization_precision": 0.03}

The reader uses it as the file's own metadata (source ``file``), so a bare re-read does not fall
back to defaults. ``size`` and ``ends_crc32`` (CRC-32 of the first and last 64 KiB) tie it to
one version of the data file: a metadata file left beside a file rewritten by another program
is ignored with a warning, as is one that cannot be read.
"""

from __future__ import annotations

import json
import os
import zlib

from napari_tramway.core.archive import write_json_atomic

from .settings import FileSettings

SUFFIX = ".meta.json"
VERSION = 1
#: The settings a metadata file may record (a subset of FILE_SETTINGS).
KEYS = ("space_unit", "time_unit", "frame_interval", "localization_precision", "pixel_size")
_ENDS = 1 << 16


def metadata_path(path) -> str:
    """The metadata file of the data file ``path``."""
    return os.fspath(path) + SUFFIX


def write_metadata(path, values: dict) -> str:
    """Write the metadata file of ``path`` (already written) with ``values`` (names of
    :data:`KEYS`, ``None`` values left out); returns its path."""
    record = {"napari_tramway_metadata": VERSION, "file": os.path.basename(os.fspath(path)), **_stamp(path)}
    record.update({k: v for k, v in values.items() if k in KEYS and v is not None})
    out = metadata_path(path)
    write_json_atomic(out, record)
    return out


def read_metadata(path) -> tuple[dict, str | None, str | None]:
    """``(values, metadata file or None, warning or None)`` for the data file ``path``.

    ``values`` holds the valid settings recorded (names of :data:`KEYS`); it is empty when there
    is no metadata file, or when it is unreadable or belongs to another version of the data file
    (then ``warning`` says why).
    """
    meta = metadata_path(path)
    if not os.path.isfile(meta):
        return {}, None, None
    try:
        with open(meta, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError) as exc:
        return {}, None, f"{meta}: cannot be read ({exc}); the metadata file is ignored"
    if not isinstance(record, dict) or record.get("napari_tramway_metadata") != VERSION:
        return {}, None, f"{meta}: not a napari-tramway metadata file (version {VERSION}); ignored"
    if record.get("size") != os.path.getsize(path) or record.get("ends_crc32") != _stamp(path)["ends_crc32"]:
        return {}, None, (f"{meta} describes another version of {os.path.basename(os.fspath(path))} (the data "
                          "file changed since it was written); its units, frame interval and σ are ignored")
    values = {k: record[k] for k in KEYS if record.get(k) is not None}
    problems = FileSettings.validate(values, where=os.path.basename(meta))
    if problems:
        return {}, None, f"{meta}: invalid value(s), ignored: " + "; ".join(map(str, problems))
    return FileSettings.from_dict(values).to_dict(), meta, None


def _stamp(path) -> dict:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        crc = zlib.crc32(fh.read(_ENDS))
        if size > _ENDS:
            fh.seek(max(_ENDS, size - _ENDS))
            crc = zlib.crc32(fh.read(_ENDS), crc)
    return {"size": size, "ends_crc32": crc}
