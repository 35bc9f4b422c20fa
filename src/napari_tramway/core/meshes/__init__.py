"""Meshes: partitions of a region's steps into cells on which the models are fitted.

* :data:`MESHES` — the registry (``grid``, ``hexagon``, ``kmeans``, ``gwr``, ``kdtree``), each
  entry with its parameters; :func:`build_mesh` builds one on step origins.
* :func:`assign` — steps to cells (nearest centre / box, then ``min_location_count``, ``knn``,
  ``radius``); :func:`nearest_cells` is the base rule alone.
* :func:`rasterize` — the cell id of every pixel of an image grid (−1 outside).
* :mod:`.time` — sliding windows (:class:`SlidingWindows`, :func:`assign_in_time`).
* :func:`save_mesh` / :func:`load_mesh` — versioned archive, no pickle.

See ``docs/meshes.md`` for the methods, the TRamWAy quirks fixed and the performance.
"""

from ..lazy import lazy_exports
from .registry import ASSIGNMENT_PARAMETERS, MESHES, build_mesh, validate_mesh_parameters

#: Names imported on first use (scipy.spatial, scipy.sparse...: not needed to read the registry).
_LAZY = {
    **dict.fromkeys(("assign", "nearest_cells", "pixel_centres", "rasterize", "refine"), "assignment"),
    **dict.fromkeys(("Assignment", "Mesh"), "base"),
    **dict.fromkeys(("MESH_FORMAT", "MESH_VERSION", "load_mesh", "save_mesh"), "io"),
    **dict.fromkeys(("SlidingWindows", "TimeAssignment", "TimeMesh", "assign_in_time", "segment_label"), "time"),
}

__all__ = [
    "MESHES", "ASSIGNMENT_PARAMETERS", "Mesh", "Assignment", "build_mesh", "validate_mesh_parameters",
    "assign", "nearest_cells", "refine", "rasterize", "pixel_centres", "save_mesh", "load_mesh",
    "MESH_FORMAT", "MESH_VERSION", "SlidingWindows", "TimeAssignment", "TimeMesh", "assign_in_time",
    "segment_label",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
