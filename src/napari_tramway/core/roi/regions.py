"""Support regions (the processing regions): single ROIs or groups of overlapping ones, the whole
field of view, and cropping trajectories to a region.

A step belongs to a region when its **origin** is inside (boundary included); trajectories are
split where they leave the region (reference §1.4). Overlapping ROIs are grouped into one
support region (§2.4); its label joins its members' indices: ``roi000-002-003``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .points import as_xy
from .polygons import meeting_pairs, polygon_area
from .shapes import Roi, times_meet

if TYPE_CHECKING:
    import pandas as pd


def roi_label(index: int, collection: str | None = None, digits: int = 3) -> str:
    """``roi000`` for index 0, or ``'<collection> 000'`` in a named collection (reference §2.3)."""
    num = f"{index:0{digits}d}"
    return f"{collection} {num}" if collection else f"roi{num}"


@dataclass
class SupportRegion:
    """A processing region: one ROI, or several overlapping ROIs grouped together.

    ``contains`` is the exact union of the members; ``polygon()`` is the convex hull of the
    members' polygons when there are several (used only to clip mesh cells for display).
    """

    rois: list[Roi]
    members: tuple[int, ...]
    label: str

    def contains(self, points) -> np.ndarray:
        xy = as_xy(points)
        mask = np.zeros(len(xy), dtype=bool)
        for r in self.rois:
            mask |= r.contains(xy)
        return mask

    def contains_locations(self, locations: pd.DataFrame) -> np.ndarray:
        mask = np.zeros(len(locations), dtype=bool)
        for r in self.rois:
            mask |= r.contains_locations(locations)
        return mask

    @property
    def bounds(self):
        b = np.array([r.bounds for r in self.rois])
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))

    def polygon(self) -> np.ndarray:
        if len(self.rois) == 1:
            return self.rois[0].polygon()
        from scipy.spatial import ConvexHull

        pts = np.concatenate([r.polygon() for r in self.rois])
        hull = ConvexHull(pts)
        return pts[hull.vertices]

    @property
    def area(self) -> float:
        if len(self.rois) == 1:
            return self.rois[0].area
        return abs(polygon_area(self.polygon()))

    def crop(self, locations: pd.DataFrame) -> pd.DataFrame:
        """Steps whose origin lies in this region (see :func:`crop`)."""
        return crop(locations, self)


class FullRegion:
    """The whole field of view (no ROI): every location is inside; label ``all``."""

    label = "all"
    members: tuple[int, ...] = ()

    def __init__(self, bounds=None):
        self._bounds = None if bounds is None else tuple(float(b) for b in bounds)

    def contains(self, points) -> np.ndarray:
        return np.ones(len(as_xy(points)), dtype=bool)

    def contains_locations(self, locations) -> np.ndarray:
        return np.ones(len(locations), dtype=bool)

    @property
    def bounds(self):
        if self._bounds is None:
            raise ValueError("the full region's bounds are those of the data: use FullRegion.of(locations)")
        return self._bounds

    def polygon(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bounds
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bounds
        return (x1 - x0) * (y1 - y0)

    @classmethod
    def of(cls, locations: pd.DataFrame) -> FullRegion:
        x, y = locations["x"].to_numpy(), locations["y"].to_numpy()
        if len(x) == 0:
            return cls((0.0, 0.0, 1.0, 1.0))
        return cls((float(x.min()), float(y.min()), float(x.max()), float(y.max())))

    def crop(self, locations: pd.DataFrame) -> pd.DataFrame:
        """Every step of ``locations`` (see :func:`crop`)."""
        return crop(locations, self)


def crop(locations: pd.DataFrame, region) -> pd.DataFrame:
    """Steps of ``locations`` whose origin lies in ``region`` (reference §1.4, origin rule).

    Deltas come from the uncropped trajectories (a step may end outside the region); each stay
    of a trajectory inside the region becomes its own trajectory, renumbered 1, 2, 3...
    ``region`` is a :class:`Roi`, a :class:`SupportRegion` or a :class:`FullRegion`.
    """
    from ..trajectories import translocations

    if isinstance(region, FullRegion):
        return translocations(locations)
    inside = region.contains_locations(locations)
    return translocations(locations, inside=inside)


def group_overlapping(rois: Sequence[Roi], group: bool = True, collection: str | None = None) -> list[SupportRegion]:
    """Support regions of ``rois``: one per ROI, or the connected groups of overlapping ROIs.

    Labels are ``roi000`` for single ROIs and ``roi000-002-003`` for groups (members sorted);
    regions are ordered by their smallest member.
    """
    rois = list(rois)
    n = len(rois)
    component = np.arange(n)
    if group and n > 1:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        pairs = [(i, j) for i, j in meeting_pairs([r.outline for r in rois]) if times_meet(rois[i], rois[j])]
        if pairs:
            i, j = np.array(pairs).T
            graph = coo_matrix((np.ones(len(i), bool), (i, j)), shape=(n, n))
            component = connected_components(graph, directed=False)[1]
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(component):
        groups.setdefault(int(c), []).append(i)
    regions = []
    for members in sorted(groups.values(), key=min):
        label = roi_label(members[0], collection) + "".join(f"-{m:03d}" for m in members[1:])
        regions.append(SupportRegion(rois=[rois[m] for m in members], members=tuple(members), label=label))
    return regions
