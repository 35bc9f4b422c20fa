"""Hexagonal grid (reference §3.3 'Hexagons'), with tilt, sized by resolution or by count.

Pointy-top hexagons of inscribed radius ``r``: centre-to-centre distance ``2r`` along the lattice
rows, rows ``√3·r`` apart, odd rows shifted by ``r``. ``r = avg_distance/2`` (= resolution/2), or
in count mode ``r = sqrt(region area / (2√3 · n_cells))`` floored at ``min_distance/2`` (TRamWAy
minimises a count error over the bounding box; we use the region's area directly). The lattice
is rotated by ``tilt·30°`` about the centre of the region's bounds (TRamWAy: about the data
mean; quirk §9.8 fixed). Cells entirely outside the region are dropped, boundary cells clipped.
Assignment is arithmetic (axial coordinates + cube rounding = the nearest lattice centre).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .base import Mesh
from .geometry import clip_cells, count_meeting, polygon_area, symmetric_adjacency
from .grid import MAX_CELLS
from .locate import Locator
from .sizing import calibrate

SQRT3 = float(np.sqrt(3.0))
HEX_NEIGHBOURS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]


def hexagon_radius(region, sizing, theta: float = 0.0) -> float:
    """Inscribed radius (µm) of the hexagons.

    In count mode, ``r`` is calibrated so that the number of hexagons meeting the region (partial
    ones included, as TRamWAy counts them) is close to ``N / avg_location_count``.
    """
    if sizing.mode == "resolution":
        return float(sizing.avg_distance) / 2
    target = sizing.n_cells_target
    area = abs(polygon_area(region.polygon()))
    r = float(np.sqrt(area / (2 * SQRT3 * target)))
    r = calibrate(r, lambda rr: _lattice(region, rr, theta, count_only=True), target)
    return max(r, sizing.min_distance / 2)


def _lattice(region, r, theta, count_only=False):
    """Lattice hexagons meeting the bounding box of the region's polygon (rotated frame)."""
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    c, s = np.cos(theta), np.sin(theta)
    poly = np.asarray(region.polygon(), float)
    d = poly - centre
    u, v = c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]
    du, dv = 2 * r, SQRT3 * r
    rmin, rmax = int(np.floor(v.min() / dv)) - 1, int(np.ceil(v.max() / dv)) + 1
    qmin = int(np.floor(u.min() / du - rmax / 2)) - 1
    qmax = int(np.ceil(u.max() / du - rmin / 2)) + 1
    n_est = (qmax - qmin + 1) * (rmax - rmin + 1)
    if n_est > 2 * MAX_CELLS:
        if count_only:
            return n_est // 2
        return None
    q, ra = np.meshgrid(np.arange(qmin, qmax + 1), np.arange(rmin, rmax + 1), indexing="ij")
    q, ra = q.ravel(), ra.ravel()
    cu, cv = du * (q + ra / 2), dv * ra
    near = (cu >= u.min() - du) & (cu <= u.max() + du)
    q, ra, cu, cv = q[near], ra[near], cu[near], cv[near]
    centres = centre + np.column_stack([c * cu - s * cv, s * cu + c * cv])
    if count_only:
        return count_meeting(poly, centres, 2 * r / SQRT3)
    return centre, q, ra, centres


def build_hexagon(xy: np.ndarray, region, params: dict, sizing) -> Mesh:
    theta = float(params.get("tilt") or 0.0) * np.pi / 6
    r = hexagon_radius(region, sizing, theta)
    if not r > 0:
        raise ParameterError("resolution", "the hexagon size must be positive")
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    poly = np.asarray(region.polygon(), float)
    lat = _lattice(region, r, theta)
    if lat is None:
        raise ParameterError("resolution" if sizing.mode == "resolution" else "avg_location_count",
                             "too many hexagons for this region: choose larger cells")
    centre, q, ra, centres = lat
    side = 2 * r / SQRT3
    ang = theta + np.pi / 6 + np.arange(6) * (np.pi / 3)
    offs = side * np.column_stack([np.cos(ang), np.sin(ang)])
    hexes = centres[:, None, :] + offs[None, :, :]
    polygons, areas = clip_cells(list(hexes), centres, np.full(len(centres), side), poly)
    keep = np.flatnonzero(areas > 1e-12 * r * r)
    lattice = np.column_stack([q, ra])[keep].astype(np.int64)
    centres = centres[keep]
    polygons = [polygons[i] for i in keep]
    areas = areas[keep]
    k = len(keep)
    loc = HexagonLocator(centre, theta, r, lattice)
    rows, cols = [], []
    for dq, dr in HEX_NEIGHBOURS:
        nb = loc._lookup(lattice[:, 0] + dq, lattice[:, 1] + dr)
        ok = nb >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(nb[ok])
    adj = symmetric_adjacency(np.concatenate(rows), np.concatenate(cols), k)
    extra = {"hex_centre": centre, "hex_angle": np.array(theta), "hex_radius": np.array(r),
             "lattice_index": lattice}
    return Mesh(method="hexagon", parameters={}, centres=centres, adjacency=adj, polygons=polygons,
                areas=np.asarray(areas, float), bounds=np.array([x0, y0, x1, y1]), extra=extra)


class HexagonLocator(Locator):
    """Nearest hexagon centre by arithmetic (no tree)."""

    def __init__(self, centre, theta, r, lattice):
        self.cx, self.cy = (float(v) for v in centre)
        self.theta = float(theta)
        self.c, self.s = float(np.cos(self.theta)), float(np.sin(self.theta))
        self.r = float(r)
        self.du, self.dv = 2 * self.r, SQRT3 * self.r
        lattice = np.asarray(lattice, np.int64).reshape(-1, 2)
        if len(lattice):
            self.qmin, self.rmin = lattice.min(axis=0)
            qmax, rmax = lattice.max(axis=0)
        else:
            self.qmin = self.rmin = 0
            qmax = rmax = -1
        self.lut = np.full((qmax - self.qmin + 1, rmax - self.rmin + 1), -1, np.int64)
        if len(lattice):
            self.lut[lattice[:, 0] - self.qmin, lattice[:, 1] - self.rmin] = np.arange(len(lattice))
        self.cell_size = 2 * self.r
        self.scale = abs(self.cx) + abs(self.cy) + 1.0

    @classmethod
    def from_mesh(cls, mesh):
        e = mesh.extra
        return cls(e["hex_centre"], float(e["hex_angle"]), float(e["hex_radius"]), e["lattice_index"])

    def _lookup(self, q, ra):
        i, j = q - self.qmin, ra - self.rmin
        ok = (i >= 0) & (i < self.lut.shape[0]) & (j >= 0) & (j < self.lut.shape[1])
        out = np.full(q.shape, -1, np.int64)
        out[ok] = self.lut[i[ok], j[ok]]
        return out

    def _axial(self, x, y):
        """Lattice frame coordinates and the nearest lattice point (q, r) of points."""
        dx, dy = x - self.cx, y - self.cy
        u = self.c * dx + self.s * dy
        v = -self.s * dx + self.c * dy
        rf = v / self.dv
        qf = u / self.du - rf / 2
        yf = -qf - rf
        rq, rr, ry = np.round(qf), np.round(rf), np.round(yf)
        eq, er, ey = np.abs(rq - qf), np.abs(rr - rf), np.abs(ry - yf)
        fix_q = (eq > er) & (eq > ey)
        fix_r = ~fix_q & (er > ey)
        rq = np.where(fix_q, -ry - rr, rq)
        rr = np.where(fix_r, -rq - ry, rr)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(rq) & np.isfinite(rr)
            qi = np.where(ok, rq, 0).astype(np.int64)
            ri = np.where(ok, rr, 0).astype(np.int64)
        return u, v, qi, ri, ok

    def cells(self, xy):
        xy = np.asarray(xy, float)
        _, _, q, ra, ok = self._axial(xy[:, 0], xy[:, 1])
        out = self._lookup(q, ra)
        out[~ok] = -1
        return out

    def blocks(self, bx0, bx1, by0, by1):
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        h = 0.5 * np.hypot(bx1 - bx0, by1 - by0)
        u, v, q, ra, ok = self._axial(cx, cy)
        ou = u - self.du * (q + ra / 2)
        ov = v - self.dv * ra
        hexnorm = np.maximum(np.abs(ou), np.maximum(np.abs(0.5 * ou + 0.5 * SQRT3 * ov),
                                                    np.abs(-0.5 * ou + 0.5 * SQRT3 * ov)))
        eps = 1e-9 * (self.scale + np.abs(cx) + np.abs(cy))
        cell = self._lookup(q, ra)
        return cell, ok & (self.r - hexnorm > h + eps)
