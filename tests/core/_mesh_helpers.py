"""Small meshes for the model tests (independent of ``core.meshes`` builders).

``square_mesh`` (8-neighbour adjacency like TRamWAy's grid) and ``hexagon_mesh`` (6 neighbours,
centre distance = resolution), nearest-centre assignment, and ``real_hexagons`` that uses the
project's ``core.meshes`` when it exists.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from napari_tramway.core.meshes.base import Assignment, Mesh


def _adjacency(centres, radius):
    tree = cKDTree(centres)
    pairs = tree.query_pairs(radius, output_type="ndarray")
    k = len(centres)
    a = sp.coo_matrix((np.ones(len(pairs) * 2, bool), (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])),
                      shape=(k, k))
    return sp.csr_matrix(a)


def square_mesh(nx=4, ny=3, step=1.0, origin=(0.0, 0.0)):
    """nx × ny squares of side ``step``; cell id = iy·nx + ix; 8-neighbour adjacency."""
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    centres = np.column_stack([origin[0] + (ix.ravel() + 0.5) * step, origin[1] + (iy.ravel() + 0.5) * step])
    adj = _adjacency(centres, step * np.sqrt(2) * 1.01)
    h = step / 2
    polys = [np.array([[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h]]) for x, y in centres]
    return Mesh("grid", {"step": step}, centres, adj, polys, np.full(len(centres), step * step),
                np.array([origin[0], origin[1], origin[0] + nx * step, origin[1] + ny * step]))


def hexagon_mesh(bounds=(0.0, 0.0, 10.0, 10.0), resolution=1.0):
    """Hexagons with centre-to-centre distance ``resolution`` covering ``bounds`` (rows along x)."""
    x0, y0, x1, y1 = bounds
    dy = resolution * np.sqrt(3) / 2
    rows = int(np.ceil((y1 - y0) / dy)) + 1
    cols = int(np.ceil((x1 - x0) / resolution)) + 1
    cs = []
    for r in range(rows):
        shift = 0.5 * resolution if r % 2 else 0.0
        for c in range(cols):
            cs.append((x0 + c * resolution + shift, y0 + r * dy))
    centres = np.array(cs)
    adj = _adjacency(centres, resolution * 1.01)
    side = resolution / np.sqrt(3)
    ang = np.pi / 6 + np.arange(6) * np.pi / 3
    polys = [np.column_stack([x + side * np.cos(ang), y + side * np.sin(ang)]) for x, y in centres]
    area = np.sqrt(3) / 2 * resolution**2
    return Mesh("hexagon", {"resolution": resolution}, centres, adj, polys, np.full(len(centres), area),
                np.array(bounds, float))


def nearest_assignment(mesh: Mesh, xy: np.ndarray) -> Assignment:
    _, idx = cKDTree(mesh.centres).query(np.asarray(xy, float))
    return Assignment.from_cell_index(idx, mesh.n_cells)


def real_hexagons(steps, resolution=1.0, bounds=(0.0, 0.0, 10.0, 10.0)):
    """(mesh, assignment) from ``core.meshes`` when available, else from :func:`hexagon_mesh`."""
    xy = steps[["x", "y"]].to_numpy()
    try:
        from napari_tramway.core.meshes import assign, build_mesh
    except ImportError:
        mesh = hexagon_mesh(bounds, resolution)
        return mesh, nearest_assignment(mesh, xy)
    mesh = build_mesh("hexagon", xy, resolution=resolution)
    return mesh, assign(mesh, xy)
