"""The mesh object shared by every tessellation method, and the assignment of steps to cells.

A :class:`Mesh` is a set of cells in the plane (µm): centres, the neighbour graph the models
use, each cell's polygon (clipped to the region) and area. Methods (grid, hexagon, k-means,
GWR, kd-tree) build one from locations; :func:`napari_tramway.core.meshes.assign` maps step
origins to cells. Saved and loaded through :mod:`napari_tramway.core.archive` arrays (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..archive import _json_default, pack_ragged, unpack_ragged

MESH_LAYOUT_VERSION = 1


@dataclass
class Mesh:
    """Cells of one region.

    Attributes
    ----------
    method : str
        Registry name of the method that built it (``grid``, ``hexagon``, ``kmeans``, ``gwr``, ``kdtree``).
    parameters : dict
        The resolved parameters used to build it (JSON-serialisable; data-derived defaults filled in).
    centres : (K, 2) float array
        Cell centres (µm).
    adjacency : (K, K) scipy.sparse.csr_matrix of bool
        Symmetric neighbour graph used by the models (8-neighbourhood for the square grid, 6 for
        hexagons, Delaunay for centre-based meshes, after optional pruning). No self loops.
    polygons : list of (m_i, 2) float arrays
        Each cell's polygon (µm), counter-clockwise, clipped to the region.
    areas : (K,) float array
        Polygon areas (µm²).
    bounds : (4,) float array
        ``xmin, ymin, xmax, ymax`` of the region the mesh covers (µm).
    extra : dict of arrays
        Method-specific arrays (e.g. grid shape, hexagon lattice indices, 4-neighbour graph).
    """

    method: str
    parameters: dict
    centres: np.ndarray
    adjacency: sp.csr_matrix
    polygons: list
    areas: np.ndarray
    bounds: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return int(self.centres.shape[0])

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of the neighbours of cell ``i`` in :attr:`adjacency`."""
        a = self.adjacency
        return a.indices[a.indptr[i] : a.indptr[i + 1]]

    # -- persistence -------------------------------------------------------------------------
    def to_arrays(self, prefix: str = "mesh/") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata describing this mesh, for :func:`write_archive`."""
        adj = sp.csr_matrix(self.adjacency)
        flat, offsets = pack_ragged(self.polygons)
        arrays = {
            prefix + "centres": np.asarray(self.centres, float),
            prefix + "adjacency_indptr": adj.indptr.astype(np.int64),
            prefix + "adjacency_indices": adj.indices.astype(np.int64),
            prefix + "polygon_vertices": flat,
            prefix + "polygon_offsets": offsets,
            prefix + "areas": np.asarray(self.areas, float),
            prefix + "bounds": np.asarray(self.bounds, float),
        }
        for k, v in self.extra.items():
            arrays[prefix + "extra/" + k] = np.asarray(v)
        meta = {"method": self.method, "parameters": json.loads(json.dumps(self.parameters, default=_json_default)),
                "layout_version": MESH_LAYOUT_VERSION, "class": type(self).__name__}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], prefix: str = "mesh/") -> Mesh:
        centres = arrays[prefix + "centres"]
        k = centres.shape[0]
        indptr = arrays[prefix + "adjacency_indptr"]
        indices = arrays[prefix + "adjacency_indices"]
        adj = sp.csr_matrix((np.ones(indices.shape[0], dtype=bool), indices, indptr), shape=(k, k))
        polys = unpack_ragged(arrays[prefix + "polygon_vertices"], arrays[prefix + "polygon_offsets"])
        extra = {key[len(prefix + "extra/"):]: v for key, v in arrays.items() if key.startswith(prefix + "extra/")}
        return cls(
            method=meta["method"], parameters=dict(meta.get("parameters", {})), centres=centres,
            adjacency=adj, polygons=polys, areas=arrays[prefix + "areas"], bounds=arrays[prefix + "bounds"],
            extra=extra,
        )


@dataclass
class Assignment:
    """Which step (row of a translocations table) belongs to which cell.

    With plain nearest-centre assignment each step has at most one cell; with the ``knn``
    extension a step may belong to several cells, hence the pair-of-arrays form.

    Attributes
    ----------
    point : (M,) int64 array
        Row indices into the translocations table.
    cell : (M,) int64 array
        Cell indices (0 ≤ cell < n_cells), sorted by cell then point.
    n_cells : int
        Number of cells of the mesh.
    """

    point: np.ndarray
    cell: np.ndarray
    n_cells: int

    def counts(self) -> np.ndarray:
        """Number of steps per cell, (K,) int64."""
        return np.bincount(self.cell, minlength=self.n_cells).astype(np.int64)

    def to_arrays(self, prefix: str = "assignment/") -> dict[str, np.ndarray]:
        return {prefix + "point": self.point.astype(np.int64), prefix + "cell": self.cell.astype(np.int64),
                prefix + "n_cells": np.asarray(self.n_cells, dtype=np.int64)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "assignment/") -> Assignment:
        return cls(point=arrays[prefix + "point"], cell=arrays[prefix + "cell"], n_cells=int(arrays[prefix + "n_cells"]))

    @classmethod
    def from_cell_index(cls, cell_index: np.ndarray, n_cells: int) -> Assignment:
        """From a per-point cell array where −1 means unassigned."""
        cell_index = np.asarray(cell_index, dtype=np.int64)
        point = np.flatnonzero(cell_index >= 0)
        cell = cell_index[point]
        order = np.argsort(cell, kind="stable")
        return cls(point=point[order], cell=cell[order], n_cells=int(n_cells))
