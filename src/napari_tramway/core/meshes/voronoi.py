"""Finishing a centre-based mesh (k-means, GWR): Voronoi cells clipped to the region, Delaunay
neighbours, optional pruning of over-long edges."""

from __future__ import annotations

import numpy as np

from .base import Mesh
from .geometry import cell_radii, clip_cells, delaunay_adjacency, prune_long_edges, voronoi_polygons


def voronoi_mesh(method: str, centres: np.ndarray, region, prune: float | None = None,
                 extra: dict | None = None) -> Mesh:
    """A :class:`Mesh` whose cells are the Voronoi cells of ``centres`` within ``region``.

    Duplicate centres are merged; centres whose cell does not meet the region (zero clipped
    area) are dropped — this changes no other cell inside the region, since no point of the
    region is nearest to them. Neighbours: the Delaunay graph of the remaining centres
    (TRamWAy's Voronoi ridges, unbounded ones included), then ``prune``.
    """
    centres = np.unique(np.asarray(centres, float).reshape(-1, 2), axis=0)
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    poly = np.asarray(region.polygon(), float)
    extent = (min(x0, poly[:, 0].min()), min(y0, poly[:, 1].min()), max(x1, poly[:, 0].max()),
              max(y1, poly[:, 1].max()))
    if len(centres) == 0:
        raise ValueError(f"{method}: no cell centre (no points in the region?)")
    cells = voronoi_polygons(centres, extent)
    polygons, areas = clip_cells(cells, centres, cell_radii(cells, centres), poly)
    scale = max(areas.max() if len(areas) else 0.0, 1e-300)
    keep = np.flatnonzero(areas > 1e-12 * scale)
    centres = centres[keep]
    polygons = [polygons[i] for i in keep]
    areas = areas[keep]
    adj = delaunay_adjacency(centres)
    full = adj
    adj = prune_long_edges(adj, centres, prune)
    ex = dict(extra or {})
    if prune is not None:
        ex["unpruned_adjacency_indptr"] = full.indptr.astype(np.int64)
        ex["unpruned_adjacency_indices"] = full.indices.astype(np.int64)
    return Mesh(method=method, parameters={}, centres=centres, adjacency=adj, polygons=polygons,
                areas=np.asarray(areas, float), bounds=np.array([x0, y0, x1, y1]), extra=ex)
