"""Saving and loading a mesh and its assignment (no pickle).

The file is an archive of :mod:`napari_tramway.core.archive` (a zip of ``.npy`` arrays plus a JSON
header): format ``napari-tramway/mesh``, version 1. Arrays ``mesh/*`` are those of
:meth:`Mesh.to_arrays` (centres, CSR adjacency, packed polygons, areas, bounds, ``extra/*``),
``assignment/*`` those of :meth:`Assignment.to_arrays`; the header's ``meta`` holds ``mesh`` (method,
resolved parameters, layout version), ``has_assignment`` and any caller metadata.
"""

from __future__ import annotations

from pathlib import Path

from ..archive import read_archive, write_archive
from ..errors import ArchiveError
from .base import Assignment, Mesh

MESH_FORMAT = "napari-tramway/mesh"
MESH_VERSION = 1


def save_mesh(path, mesh: Mesh, assignment: Assignment | None = None, *, meta: dict | None = None,
              fmt: str = MESH_FORMAT) -> Path:
    """Write ``mesh`` (and ``assignment``) to ``path`` atomically; return the path.

    ``meta`` is stored as top-level metadata (keys ``mesh`` and ``has_assignment`` are reserved);
    ``fmt`` lets a caller name the content differently (e.g. a pipeline's tessellation files).
    """
    arrays, mesh_meta = mesh.to_arrays()
    if assignment is not None:
        arrays.update(assignment.to_arrays())
    header = dict(meta or {})
    header["mesh"] = mesh_meta
    header["has_assignment"] = assignment is not None
    return write_archive(path, fmt, MESH_VERSION, arrays, header)


def load_mesh(path, fmt: str | None = None) -> tuple[Mesh, Assignment | None]:
    """Read a file written by :func:`save_mesh`: ``(mesh, assignment or None)``.

    ``fmt`` checks the format name (default: any format holding a mesh). Raises
    :class:`~napari_tramway.core.errors.ArchiveError` for missing, corrupt, foreign or newer files.
    """
    arrays, meta, _version = read_archive(path, fmt, max_version=MESH_VERSION)
    if "mesh" not in meta or "mesh/centres" not in arrays:
        raise ArchiveError(f"{path}: holds no mesh")
    try:
        mesh = Mesh.from_arrays(arrays, meta["mesh"])
        assignment = Assignment.from_arrays(arrays) if meta.get("has_assignment") else None
    except KeyError as exc:
        raise ArchiveError(f"{path}: incomplete mesh file (missing {exc.args[0]!r})") from None
    return mesh, assignment
