"""Regions of interest (µm): rectangles, polygons and ellipses, grouping, cropping, ROI files.

The shapes are those napari's Shapes layer draws, in data coordinates (µm). A step belongs to a
region when its **origin** is inside (boundary included); trajectories are split where they leave
the region (reference §1.4). Overlapping ROIs can be grouped into *support regions* by
union-find; a support region's label joins its members' indices: ``roi000-002-003``.

Files: TRamWAy's tab-separated ROI files (bounds form ``x min  y min  x max  y max`` and centres
form ``x  y`` with a size, §2.2) and our own JSON file (``napari-tramway/rois``, version 1), which
also holds polygons, ellipses and labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .archive import atomic_write, write_json_atomic
from .errors import RoiFormatError

if TYPE_CHECKING:  # annotations only: the meshes import the polygon helpers below without pandas
    import pandas as pd

ROI_FORMAT = "napari-tramway/rois"
ROI_FORMAT_VERSION = 1


def _as_xy(points) -> np.ndarray:
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"expected an (N, 2) array of x, y coordinates (µm), got shape {xy.shape}")
    return xy[:, :2]


#: Polygons with more vertices than this are tested on points sorted by y (see polygon_contains).
SORT_ABOVE_VERTICES = 16


def polygon_area(poly) -> float:
    """Signed area (µm²; positive when counter-clockwise) of a simple polygon (0 below 3 vertices)."""
    poly = np.asarray(poly, dtype=float).reshape(-1, 2)
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon_contains(poly, xy, tol: float | None = None) -> np.ndarray:
    """Even-odd point-in-polygon test; points within ``tol`` of an edge (vertices included) are inside.

    ``tol`` defaults to 1e-12 × the polygon's largest coordinate (at least 1e-12 µm). Only the
    points in the polygon's bounding box are tested. Each edge is tested on every one of them
    when the polygon has few vertices; beyond :data:`SORT_ABOVE_VERTICES` the points are sorted
    by y once and each edge only looks at those in its y-range, so that a many-sided polygon
    stays cheap on millions of points. A point's result does not depend on the other points.
    """
    poly = np.asarray(poly, dtype=float).reshape(-1, 2)
    xy = np.asarray(xy, dtype=float)
    out = np.zeros(len(xy), dtype=bool)
    if len(xy) == 0 or len(poly) < 3:
        return out
    if tol is None:
        tol = 1e-12 * max(1.0, float(np.abs(poly).max()))
    (xmin, ymin), (xmax, ymax) = poly.min(axis=0), poly.max(axis=0)
    x, y = xy[:, 0], xy[:, 1]
    sel = np.flatnonzero((x >= xmin - tol) & (x <= xmax + tol) & (y >= ymin - tol) & (y <= ymax + tol))
    if sel.size == 0:
        return out
    by_y = len(poly) > SORT_ABOVE_VERTICES
    if by_y:
        sel = sel[np.argsort(y[sel], kind="stable")]
    xs, ys = x[sel], y[sel]
    inside = np.zeros(sel.size, dtype=bool)
    on = np.zeros(sel.size, dtype=bool)
    i0, i1 = 0, sel.size
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        lo, hi = (y1, y2) if y1 <= y2 else (y2, y1)
        if by_y:
            i0 = int(np.searchsorted(ys, lo - tol, side="left"))
            i1 = int(np.searchsorted(ys, hi + tol, side="right"))
            if i1 <= i0:
                continue
        yy, xx = ys[i0:i1], xs[i0:i1]
        if y1 != y2:  # crossing test, half-open in y so that a vertex is not counted twice
            xc = x1 + (yy - y1) * (x2 - x1) / (y2 - y1)
            inside[i0:i1] ^= (lo <= yy) & (yy < hi) & (xx < xc)
        ex, ey = x2 - x1, y2 - y1
        ll = ex * ex + ey * ey
        px, py = xx - x1, yy - y1
        t = np.clip((px * ex + py * ey) / ll, 0.0, 1.0) if ll > 0 else 0.0
        dx, dy = px - t * ex, py - t * ey
        on[i0:i1] |= dx * dx + dy * dy <= tol * tol
    out[sel] = inside | on
    return out


def _edges_meet(pa: np.ndarray, pb: np.ndarray) -> bool:
    """Whether an edge of closed polygon ``pa`` meets an edge of ``pb`` (crossing or touching).

    Orientation tests on every pair of edges at once (blocks of ``pa``'s edges bound memory).
    """
    a1, a2 = pa, np.roll(pa, -1, axis=0)
    b1, b2 = pb[None], np.roll(pb, -1, axis=0)[None]

    def orient(p, q, r):
        v = (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        return np.where(np.abs(v) < 1e-15, 0.0, np.sign(v))

    def on_segment(p, q, r):  # q (collinear with p, r) lies within the box of p, r
        return ((np.minimum(p[..., 0], r[..., 0]) <= q[..., 0]) & (q[..., 0] <= np.maximum(p[..., 0], r[..., 0]))
                & (np.minimum(p[..., 1], r[..., 1]) <= q[..., 1]) & (q[..., 1] <= np.maximum(p[..., 1], r[..., 1])))

    step = max(1, (1 << 18) // max(len(pb), 1))
    for i in range(0, len(pa), step):
        p1, p2 = a1[i : i + step, None], a2[i : i + step, None]
        o1, o2 = orient(p1, p2, b1), orient(p1, p2, b2)
        o3, o4 = orient(b1, b2, p1), orient(b1, b2, p2)
        meet = (o1 != o2) & (o3 != o4)
        meet |= (o1 == 0) & on_segment(p1, b1, p2)
        meet |= (o2 == 0) & on_segment(p1, b2, p2)
        meet |= (o3 == 0) & on_segment(b1, p1, b2)
        meet |= (o4 == 0) & on_segment(b1, p2, b2)
        if meet.any():
            return True
    return False


@dataclass
class Roi:
    """Base class of the ROI shapes; ``time`` optionally restricts the ROI to [t0, t1] (s)."""

    time: tuple[float, float] | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)

    kind = "roi"

    # to be provided by subclasses -------------------------------------------------------
    def contains(self, points) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def bounds(self) -> tuple[float, float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def polygon(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shape_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    # shared ---------------------------------------------------------------------------------
    @property
    def area(self) -> float:
        """Area (µm²)."""
        return abs(polygon_area(self.polygon()))

    def contains_locations(self, locations: pd.DataFrame) -> np.ndarray:
        """Whether each location (row with x, y, t) is inside, time range included."""
        mask = self.contains(locations[["x", "y"]].to_numpy())
        if self.time is not None:
            t = locations["t"].to_numpy()
            mask &= (t >= self.time[0]) & (t <= self.time[1])
        return mask

    def to_dict(self) -> dict:
        d = {"kind": self.kind, **self._shape_dict()}
        if self.time is not None:
            d["time"] = [float(self.time[0]), float(self.time[1])]
        if self.name:
            d["name"] = self.name
        return d

    def overlaps(self, other: Roi) -> bool:
        """Whether the two shapes share at least one point (touching counts)."""
        a, b = self.bounds, other.bounds
        if a[0] > b[2] or b[0] > a[2] or a[1] > b[3] or b[1] > a[3]:
            return False
        if self.time is not None and other.time is not None:
            if self.time[0] > other.time[1] or other.time[0] > self.time[1]:
                return False
        pa, pb = self.polygon(), other.polygon()
        if self.contains(pb[:1]).any() or other.contains(pa[:1]).any():
            return True
        return _edges_meet(pa, pb)


@dataclass
class Rectangle(Roi):
    """Axis-aligned rectangle [xmin, xmax] × [ymin, ymax] (µm), bounds inclusive."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    kind = "rectangle"

    def __post_init__(self):
        for k in ("xmin", "ymin", "xmax", "ymax"):
            v = float(getattr(self, k))
            if not math.isfinite(v):
                raise ValueError(f"rectangle {k} must be finite, got {v!r}")
            setattr(self, k, v)
        if not (self.xmax > self.xmin and self.ymax > self.ymin):
            raise ValueError(
                f"rectangle needs xmin < xmax and ymin < ymax (µm), got x [{self.xmin}, {self.xmax}], "
                f"y [{self.ymin}, {self.ymax}]"
            )

    def contains(self, points) -> np.ndarray:
        xy = _as_xy(points)
        return (xy[:, 0] >= self.xmin) & (xy[:, 0] <= self.xmax) & (xy[:, 1] >= self.ymin) & (xy[:, 1] <= self.ymax)

    @property
    def bounds(self):
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    def polygon(self) -> np.ndarray:
        return np.array([[self.xmin, self.ymin], [self.xmax, self.ymin], [self.xmax, self.ymax], [self.xmin, self.ymax]])

    @property
    def area(self) -> float:
        return (self.xmax - self.xmin) * (self.ymax - self.ymin)

    def _shape_dict(self):
        return {"bounds": [self.xmin, self.ymin, self.xmax, self.ymax]}


@dataclass
class Polygon(Roi):
    """Simple polygon given by its vertices (µm), in any orientation; stored counter-clockwise."""

    vertices: np.ndarray
    kind = "polygon"

    def __post_init__(self):
        v = np.asarray(self.vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 vertices (x, y in µm), got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("polygon vertices must be finite numbers")
        if len(v) > 3 and np.allclose(v[0], v[-1]):
            v = v[:-1]
        a = polygon_area(v)
        if abs(a) <= 0:
            raise ValueError("polygon has zero area")
        self.vertices = v if a > 0 else v[::-1].copy()

    def contains(self, points) -> np.ndarray:
        return polygon_contains(self.vertices, _as_xy(points))

    @property
    def bounds(self):
        v = self.vertices
        return (float(v[:, 0].min()), float(v[:, 1].min()), float(v[:, 0].max()), float(v[:, 1].max()))

    def polygon(self) -> np.ndarray:
        return self.vertices.copy()

    def _shape_dict(self):
        return {"vertices": self.vertices.tolist()}


@dataclass
class Ellipse(Roi):
    """Ellipse with centre (µm), semi-axes ``radii`` = (a, b) (µm) and rotation ``angle`` (degrees,
    counter-clockwise from the x axis to the ``a`` axis)."""

    centre: tuple[float, float]
    radii: tuple[float, float]
    angle: float = 0.0
    kind = "ellipse"
    n_vertices = 128

    def __post_init__(self):
        self.centre = tuple(float(c) for c in self.centre)
        self.radii = tuple(float(r) for r in self.radii)
        self.angle = float(self.angle)
        if len(self.centre) != 2 or len(self.radii) != 2:
            raise ValueError("an ellipse needs a centre (x, y) and two semi-axes (µm)")
        if not all(r > 0 and math.isfinite(r) for r in self.radii):
            raise ValueError(f"ellipse semi-axes must be positive (µm), got {self.radii}")

    @classmethod
    def from_corners(cls, corners, **kwargs) -> Ellipse:
        """From the 4 corners of its bounding rectangle, as napari's Shapes layer stores ellipses."""
        c = np.asarray(corners, dtype=float)[:, :2]
        if c.shape != (4, 2):
            raise ValueError(f"an ellipse is given by 4 corners, got shape {c.shape}")
        centre = c.mean(axis=0)
        u = c[1] - c[0]
        v = c[3] - c[0]
        a, b = np.linalg.norm(u) / 2, np.linalg.norm(v) / 2
        angle = math.degrees(math.atan2(u[1], u[0]))
        return cls(centre=tuple(centre), radii=(a, b), angle=angle, **kwargs)

    def _uv(self, xy):
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        dx, dy = xy[:, 0] - self.centre[0], xy[:, 1] - self.centre[1]
        return (dx * c + dy * s) / self.radii[0], (-dx * s + dy * c) / self.radii[1]

    def contains(self, points) -> np.ndarray:
        u, v = self._uv(_as_xy(points))
        return u * u + v * v <= 1.0 + 1e-12

    @property
    def bounds(self):
        a, b = self.radii
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        hx = math.sqrt((a * c) ** 2 + (b * s) ** 2)
        hy = math.sqrt((a * s) ** 2 + (b * c) ** 2)
        return (self.centre[0] - hx, self.centre[1] - hy, self.centre[0] + hx, self.centre[1] + hy)

    def polygon(self) -> np.ndarray:
        th = np.linspace(0, 2 * np.pi, self.n_vertices, endpoint=False)
        a, b = self.radii
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        u, v = a * np.cos(th), b * np.sin(th)
        return np.column_stack([self.centre[0] + u * c - v * s, self.centre[1] + u * s + v * c])

    @property
    def area(self) -> float:
        return math.pi * self.radii[0] * self.radii[1]

    def _shape_dict(self):
        return {"centre": list(self.centre), "radii": list(self.radii), "angle": self.angle}


def roi_from_dict(d: dict, where: str = "roi") -> Roi:
    """Build a ROI from its :meth:`Roi.to_dict` form; errors name the field ``where``."""
    if not isinstance(d, dict):
        raise RoiFormatError(f"{where}: expected an object, got {type(d).__name__}")
    kind = d.get("kind")
    kw = {}
    if d.get("time") is not None:
        t = d["time"]
        if not (isinstance(t, (list, tuple)) and len(t) == 2):
            raise RoiFormatError(f"{where}.time: expected [t0, t1] (s)")
        kw["time"] = (float(t[0]), float(t[1]))
    if d.get("name"):
        kw["name"] = str(d["name"])
    try:
        if kind == "rectangle":
            b = d["bounds"]
            return Rectangle(*map(float, b), **kw)
        if kind == "polygon":
            return Polygon(np.asarray(d["vertices"], dtype=float), **kw)
        if kind == "ellipse":
            return Ellipse(tuple(d["centre"]), tuple(d["radii"]), float(d.get("angle", 0.0)), **kw)
    except KeyError as exc:
        raise RoiFormatError(f"{where}: missing field {exc.args[0]!r} for a {kind}") from None
    except (TypeError, ValueError) as exc:
        raise RoiFormatError(f"{where}: {exc}") from None
    raise RoiFormatError(f"{where}.kind: expected 'rectangle', 'polygon' or 'ellipse', got {kind!r}")


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
        xy = _as_xy(points)
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
        return np.ones(len(_as_xy(points)), dtype=bool)

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
    from .trajectories import translocations

    if isinstance(region, FullRegion):
        return translocations(locations)
    inside = region.contains_locations(locations)
    return translocations(locations, inside=inside)


def group_overlapping(rois: Sequence[Roi], group: bool = True, collection: str | None = None) -> list[SupportRegion]:
    """Support regions of ``rois``: one per ROI, or unions of overlapping ROIs (union-find).

    Labels are ``roi000`` for single ROIs and ``roi000-002-003`` for groups (members sorted);
    regions are ordered by their smallest member.
    """
    rois = list(rois)
    parent = list(range(len(rois)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if group:
        for i in range(len(rois)):
            for j in range(i + 1, len(rois)):
                if find(i) != find(j) and rois[i].overlaps(rois[j]):
                    parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(rois)):
        groups.setdefault(find(i), []).append(i)
    regions = []
    for members in sorted(groups.values(), key=lambda m: min(m)):
        members = sorted(members)
        if len(members) == 1:
            label = roi_label(members[0], collection)
        else:
            label = roi_label(members[0], collection) + "".join(f"-{m:03d}" for m in members[1:])
        regions.append(SupportRegion(rois=[rois[m] for m in members], members=tuple(members), label=label))
    return regions


# -- files -------------------------------------------------------------------------------------

def write_rois(path, rois: Iterable[Roi], group_overlapping_rois: bool | None = None) -> Path:
    """Write ROIs to ``path``: our JSON file (``.json``) or, for ``.txt``/``.tsv``/``.roi``,
    TRamWAy's tab-separated bounds form (rectangles only; other shapes are refused, not boxed).
    The file is replaced atomically."""
    path = Path(path)
    rois = list(rois)
    if path.suffix.lower() == ".json":
        doc = {"format": ROI_FORMAT, "version": ROI_FORMAT_VERSION, "units": {"space": "µm", "time": "s"},
               "rois": [r.to_dict() for r in rois]}
        if group_overlapping_rois is not None:
            doc["group_overlapping"] = bool(group_overlapping_rois)
        write_json_atomic(path, doc)
        return path
    bad = [i for i, r in enumerate(rois) if not isinstance(r, Rectangle)]
    if bad:
        raise RoiFormatError(
            f"{path}: TRamWAy ROI text files hold rectangles only; ROI(s) {bad} are "
            f"{', '.join(sorted({rois[i].kind for i in bad}))} — save them as .json instead"
        )
    has_time = any(r.time is not None for r in rois)
    if has_time and not all(r.time is not None for r in rois):
        raise RoiFormatError(f"{path}: either every ROI has a time range or none has, in a TRamWAy ROI file")
    cols = ["x min", "y min"] + (["t min"] if has_time else []) + ["x max", "y max"] + (["t max"] if has_time else [])
    lines = ["\t".join(cols)]
    for r in rois:
        vals = [r.xmin, r.ymin] + ([r.time[0]] if has_time else []) + [r.xmax, r.ymax] + ([r.time[1]] if has_time else [])
        lines.append("\t".join(f"{v:.4f}" for v in vals))
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def read_rois(path, size: float | None = None) -> list[Roi]:
    """Read ROIs from our JSON file or a TRamWAy tab-separated ROI file.

    ``size`` (µm) is the side of the square ROIs of a centres-form TRamWAy file (``x  y``
    columns). ``~`` is expanded. Errors (:class:`RoiFormatError`) name the file, and the line or
    field.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RoiFormatError(f"{path}: no such ROI file") from None
    except OSError as exc:
        raise RoiFormatError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RoiFormatError(f"{path}: not a text file (binary content)") from None
    if not text.strip():
        raise RoiFormatError(f"{path}: empty ROI file")
    if text.lstrip().startswith("{"):
        return _read_json_rois(path, text)
    return _read_tramway_rois(path, text, size)


def _read_json_rois(path, text) -> list[Roi]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoiFormatError(f"{path}, line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if doc.get("format") != ROI_FORMAT:
        raise RoiFormatError(f"{path}: 'format' is {doc.get('format')!r}, expected {ROI_FORMAT!r}")
    if int(doc.get("version", 0)) > ROI_FORMAT_VERSION:
        raise RoiFormatError(f"{path}: ROI file version {doc.get('version')} is newer than supported ({ROI_FORMAT_VERSION})")
    items = doc.get("rois")
    if not isinstance(items, list):
        raise RoiFormatError(f"{path}: field 'rois' must be a list")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(roi_from_dict(item, where=f"rois[{i}]"))
        except RoiFormatError as exc:
            raise RoiFormatError(f"{path}: {exc}") from None
    return out


def _read_tramway_rois(path, text, size) -> list[Roi]:
    lines = [ln for ln in text.splitlines()]
    header = [h.strip() for h in lines[0].split("\t")]
    if len(header) == 1:  # tolerate other whitespace between two-word names
        header = [h for h in lines[0].replace("min", "min\t").replace("max", "max\t").split("\t") if h.strip()]
        header = [" ".join(h.split()) for h in header]
    cols = {h: i for i, h in enumerate(header)}
    if any(c in ("z", "z min", "z max") for c in cols):
        raise RoiFormatError(f"{path}, line 1: 3D ROIs (z columns) are not supported; napari-tramway works in 2D")
    bounds_form = all(c in cols for c in ("x min", "x max", "y min", "y max"))
    centre_form = "x" in cols and "y" in cols
    if not bounds_form and not centre_form:
        if ("x" in cols) != ("y" in cols) or ("x min" in cols) != ("y min" in cols):
            raise RoiFormatError(f"{path}, line 1: x without y (or y without x) in the header {header}")
        raise RoiFormatError(
            f"{path}, line 1: header {header} has neither the bounds columns "
            f"'x min, y min, x max, y max' nor the centre columns 'x, y'"
        )
    if "t" in cols:
        raise RoiFormatError(f"{path}, line 1: a 't' centre column is not allowed; use 't min' and 't max'")
    if centre_form and not bounds_form and size is None:
        raise RoiFormatError(f"{path}: this ROI file gives centres (x, y); pass the ROI size (side, µm)")
    out = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != len(header):
            raise RoiFormatError(f"{path}, line {lineno}: {len(fields)} values for {len(header)} columns")
        vals = {}
        for name, i in cols.items():
            try:
                vals[name] = float(fields[i])
            except ValueError:
                raise RoiFormatError(f"{path}, line {lineno}, column {name!r}: {fields[i]!r} is not a number") from None
        time = (vals["t min"], vals["t max"]) if "t min" in vals and "t max" in vals else None
        try:
            if bounds_form:
                out.append(Rectangle(vals["x min"], vals["y min"], vals["x max"], vals["y max"], time=time))
            else:
                h = float(size) / 2
                out.append(Rectangle(vals["x"] - h, vals["y"] - h, vals["x"] + h, vals["y"] + h, time=time))
        except ValueError as exc:
            raise RoiFormatError(f"{path}, line {lineno}: {exc}") from None
    if not out:
        raise RoiFormatError(f"{path}: no ROI in the file (header only)")
    return out
