"""ROI shapes (µm): rectangles, polygons and ellipses, as napari's Shapes layer draws them.

A shape contains a point when the point is inside or on its boundary (reference §1.4: bounds
inclusive); ``time`` optionally restricts a ROI to [t0, t1] (s). Two shapes overlap when they
share a point (touching counts, §2.4). Polygon tests come from :mod:`.polygons` (shapely),
imported when a shape first measures or tests (a spec holds shapes without shapely).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ..errors import RoiFormatError
from .points import as_xy

if TYPE_CHECKING:  # annotations only: the meshes import the shapes without pandas
    import pandas as pd

    from .polygons import ClosedPolygon


@dataclass
class Roi:
    """Base class of the ROI shapes; ``time`` optionally restricts the ROI to [t0, t1] (s).

    ``labels`` (``{"compartment": "nucleus"}``) say what the ROI is, for a run's summary; they do
    not change what is computed."""

    time: tuple[float, float] | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)
    labels: dict[str, str] | None = field(default=None, kw_only=True)

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
        from .polygons import polygon_area

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
        if self.labels:
            d["labels"] = dict(self.labels)
        return d

    def overlaps(self, other: Roi) -> bool:
        """Whether the two shapes share at least one point (touching counts; an ellipse is its
        :attr:`Ellipse.n_vertices`-gon here) during a common time, if both have a time range."""
        a, b = self.bounds, other.bounds
        if a[0] > b[2] or b[0] > a[2] or a[1] > b[3] or b[1] > a[3]:
            return False
        return times_meet(self, other) and self.outline.meets(other.outline)

    @cached_property
    def outline(self) -> ClosedPolygon:
        """The shape's polygon, ready for point and overlap tests (computed once)."""
        from .polygons import ClosedPolygon

        return ClosedPolygon(self.polygon())


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
        xy = as_xy(points)
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
        from .polygons import polygon_area

        a = polygon_area(v)
        if abs(a) <= 0:
            raise ValueError("polygon has zero area")
        self.vertices = v if a > 0 else v[::-1].copy()

    def contains(self, points) -> np.ndarray:
        return self.outline.contains(as_xy(points))

    @property
    def bounds(self):
        return self.outline.bounds

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
        u, v = self._uv(as_xy(points))
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
    if d.get("labels"):
        labels = d["labels"]
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise RoiFormatError(f"{where}.labels: expected an object of KEY: \"value\" strings")
        kw["labels"] = dict(labels)
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


def times_meet(a, b) -> bool:
    """Whether two ROIs share a time: true unless both have time ranges that do not meet."""
    if a.time is None or b.time is None:
        return True
    return not (a.time[0] > b.time[1] or b.time[0] > a.time[1])
