"""The mesh registry: every method with its parameters, described once, and :func:`build_mesh`."""

from __future__ import annotations

import math
from importlib import import_module
from typing import TYPE_CHECKING

from ..errors import ParameterError
from ..parameters import Parameter, Registry, RegistryEntry, Settings

if TYPE_CHECKING:
    from .base import Mesh

# -- parameters (each described once) ----------------------------------------------------------

RESOLUTION = Parameter(
    "resolution", "float", None,
    "Cell size: grid step, hexagon centre-to-centre distance, smallest quadtree box; sets "
    "ref_distance = resolution/2. Unset: cells sized by avg_location_count.",
    unit="µm", minimum=0.0, exclusive_minimum=True)
REF_DISTANCE = Parameter(
    "ref_distance", "float", None,
    "Reference length: resolution/2 when resolution is set, else the mean step length; "
    "avg_distance = 2×, min_distance = 0.8× (smallest cell side in count sizing).",
    unit="µm", minimum=0.0, exclusive_minimum=True, advanced=True)
AVG_LOCATION_COUNT = Parameter(
    "avg_location_count", "int", None,
    "Target number of steps per cell when sizing by count (no resolution); default "
    "4 × min_location_count, or 80.", minimum=1)
MIN_LOCATION_COUNT = Parameter(
    "min_location_count", "int", 0,
    "Cells with fewer locations (step origins and trajectory ends, as TRamWAy counts) than this are "
    "left out of the assignment (0: keep every cell).",
    minimum=0)
KNN = Parameter(
    "knn", "int_pair", None,
    "(min, max) steps per cell: a non-empty cell with fewer than min also takes the nearest steps "
    "(a step may then be in several cells); a cell with more than max keeps the nearest max. "
    "One number means min.", minimum=1)
RADIUS = Parameter(
    "radius", "float", None,
    "Assign by balls instead of nearest centre: each cell takes every step within this distance "
    "of its centre (a step may be in several cells, or none).",
    unit="µm", minimum=0.0, exclusive_minimum=True, advanced=True)
TILT = Parameter(
    "tilt", "float", 0.0, "Rotation of the hexagon lattice in units of 30° (0: rows along x).",
    unit="×30°", minimum=-2.0, maximum=2.0)
PRUNE = Parameter(
    "prune", "float", None,
    "Remove neighbour links longer than this factor × the median link length (TRamWAy's "
    "prune=True is 2.5); unset: keep every Delaunay link.", minimum=0.0, exclusive_minimum=True,
    advanced=True)
SEED = Parameter(
    "seed", "int", 0, "Seed of the random generator: the same seed gives the same mesh.", minimum=0)
TOL = Parameter(
    "tol", "float", 1e-7,
    "Stop k-means when the RMS distance of the points to their centre improves by less than this.",
    unit="µm", minimum=0.0, advanced=True)
MAX_ITER = Parameter("max_iter", "int", 300, "Maximum number of k-means iterations.", minimum=1,
                     advanced=True)
INITIAL = Parameter(
    "initial", "str", "grid",
    "Initial k-means centres: a grid of the same sizing, or as many uniform random points in the "
    "region (uses seed).", choices=("grid", "random"), advanced=True)
MAX_DISTANCE = Parameter(
    "max_distance", "float", None,
    "Upper clip of the GWR insertion diameter when sized by count; default 4 × avg_distance.",
    unit="µm", minimum=0.0, exclusive_minimum=True, advanced=True)
PASS_COUNT = Parameter(
    "pass_count", "int", None,
    "Passes of the GWR over the data; default automatic (3 to 6 passes, until the gas stops growing).",
    minimum=1, advanced=True)
MIN_COUNT = Parameter(
    "min_count", "int", None,
    "A quadtree box holding more steps than this is split; default min_location_count, or 20.",
    minimum=1)
MAX_COUNT = Parameter(
    "max_count", "int", None,
    "A quadtree split is kept when one child holds more steps than this; default 10 × min_count.",
    minimum=1, advanced=True)
MAX_LEVEL = Parameter(
    "max_level", "int", None,
    "Deepest quadtree level (root = 0); default: down to boxes of side avg_distance (= resolution).",
    minimum=0, maximum=24, advanced=True)

SIZING = (RESOLUTION, AVG_LOCATION_COUNT, REF_DISTANCE)
ASSIGNING = (MIN_LOCATION_COUNT, KNN, RADIUS)
ASSIGNMENT_PARAMETERS = {p.name: p for p in ASSIGNING}


# -- cross-parameter rules (each stated once; checked when the settings are validated) ---------

def knn_order(values) -> list[tuple[str, str]]:
    """``knn`` = (min, max) needs max ≥ min."""
    knn = values.get("knn")
    if knn is not None and knn[0] is not None and knn[1] is not None and knn[1] < knn[0]:
        return [("knn", f"max ({knn[1]}) is smaller than min ({knn[0]})")]
    return []


def one_sizing(values) -> list[tuple[str, str]]:
    """Size by distance (``resolution``) or by count (``avg_location_count``), not both; a
    ``ref_distance`` set with ``resolution`` must equal resolution/2."""
    resolution, ref = values.get("resolution"), values.get("ref_distance")
    out = []
    if resolution is not None and values.get("avg_location_count") is not None:
        out.append(("avg_location_count", "set either resolution (size by distance) or avg_location_count "
                    "(size by count), not both"))
    if resolution is not None and ref is not None and not math.isclose(ref, resolution / 2, rel_tol=1e-12,
                                                                         abs_tol=1e-8):
        out.append(("ref_distance", f"resolution {resolution} µm already sets ref_distance = "
                    f"{resolution / 2} µm; set one of them"))
    return out


def mesh_method(name: str, title: str, help: str, parameters, *, locator: str | None = None,
                module: str | None = None, checks=(one_sizing, knn_order)) -> RegistryEntry:
    """A mesh registry entry. Its code lives in ``module`` (default: the module ``<name>`` of this
    package), imported on first use: ``build_<name>(xy, region, settings, sizing) -> Mesh`` and,
    when ``locator`` names one, a :class:`~.locate.Locator` class with ``from_mesh(mesh)``
    (default: nearest centre)."""
    module = module or f"{__package__}.{name}"
    return RegistryEntry(name, title, help, tuple(parameters), factory=_factory(name),
                         extra={"module": module, "locator": locator}, checks=tuple(checks))


def _factory(name):
    def make(points, *, steps=None, region=None, **parameters):
        return build_mesh(name, points, steps=steps, region=region, **parameters)
    make.__name__ = f"build_{name}"
    make.__doc__ = f"``build_mesh({name!r}, points, steps=..., region=..., **parameters)``."
    return make


MESHES = Registry("mesh")
MESHES.register(mesh_method(
    "grid", "Square grid",
    "Square cells of side resolution over the region's bounding box; 8 neighbours per cell.",
    SIZING + ASSIGNING, locator="GridLocator"))
MESHES.register(mesh_method(
    "hexagon", "Hexagonal grid",
    "Regular hexagons, centres resolution apart, optionally tilted; 6 neighbours per cell.",
    SIZING + (TILT,) + ASSIGNING, locator="HexagonLocator"))
MESHES.register(mesh_method(
    "kmeans", "k-means",
    "Voronoi cells of k-means centres seeded by a grid of the same sizing; follows the data density.",
    SIZING + (TOL, MAX_ITER, INITIAL, SEED, PRUNE) + ASSIGNING))
MESHES.register(mesh_method(
    "gwr", "Growing neural gas (GWR)",
    "Voronoi cells of a growing-when-required gas fitted to the data (stochastic, seeded).",
    SIZING + (MAX_DISTANCE, PASS_COUNT, SEED, PRUNE) + ASSIGNING))
MESHES.register(mesh_method(
    "kdtree", "Quadtree",
    "Square boxes split in four where they hold many steps (TRamWAy's kdtree), down to resolution.",
    (RESOLUTION, REF_DISTANCE, MIN_COUNT, MAX_COUNT, MAX_LEVEL) + ASSIGNING, locator="BoxLocator"))


def method_attribute(entry: RegistryEntry, name: str):
    """Attribute ``name`` of a mesh entry's module, imported on first use (start-up stays light)."""
    return getattr(import_module(entry.extra["module"]), name)


def check_knn(knn, field: str = "knn") -> None:
    """Refuse a validated ``knn`` pair (min, max) whose max is below its min."""
    for _, message in knn_order({"knn": knn}):
        raise ParameterError(field, message)


def mesh_settings(method: str, parameters=None, where: str = "") -> Settings:
    """Validate a mesh method's parameters once (values, then the cross-parameter rules)."""
    if method not in MESHES:
        raise ParameterError(f"{where}.method" if where else "method",
                             f"unknown mesh {method!r}; known: {', '.join(MESHES)}")
    return MESHES[method].settings(parameters, where)


def validate_mesh_parameters(method: str, parameters: dict | None, where: str = "") -> dict:
    """Registry validation plus the cross-parameter rules; returns every parameter, filled."""
    return dict(mesh_settings(method, parameters, where))


def build_mesh(method: str | Settings, points, *, steps=None, region=None, **parameters) -> Mesh:
    """Build a mesh of ``method`` (a name of :data:`MESHES`) on step origins ``points``.

    Parameters
    ----------
    method : str or Settings
        ``grid``, ``hexagon``, ``kmeans``, ``gwr`` or ``kdtree``; or the validated
        :class:`~napari_tramway.core.parameters.Settings` of one (a spec's ``mesh.parameters``),
        used as they are (then no ``parameters``).
    points : (N, 2) array
        Step origins (µm). Points outside ``region`` (and non-finite rows) are ignored.
    steps : DataFrame or (N, 2) array, optional
        The translocations (``dx, dy`` columns) or step vectors; their mean length is the default
        ``ref_distance`` when ``resolution`` is not set.
    region : region object, optional
        Anything with ``contains(xy)``, ``bounds`` and ``polygon()`` (the ROIs of
        :mod:`napari_tramway.core.roi`). Default: the points' bounding box. Grid and hexagon
        bounds come from the region, and every cell is clipped to its polygon.
    **parameters
        The entry's parameters (see ``MESHES[method].parameters``), validated here. Assignment
        parameters (``min_location_count``, ``knn``, ``radius``) are validated and recorded, not
        applied.

    Raises
    ------
    ParameterError
        Naming the offending parameter.
    """
    import numpy as np  # numpy, scipy.spatial: not needed to read the registry (a spec, --help)

    from .geometry import _ccw, resolve_region
    from .sizing import resolve_sizing

    if isinstance(method, Settings):
        if parameters:
            raise TypeError("build_mesh: pass either validated settings or a method name and its parameters")
        params = method
    else:
        params = mesh_settings(method, parameters)
    xy = np.asarray(points, float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"expected an (N, 2) array of x, y coordinates (µm), got shape {xy.shape}")
    xy = xy[:, :2]
    finite = np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])
    if not finite.all():
        xy = xy[finite]
    pad = (params.get("resolution") or 2 * (params.get("ref_distance") or 0.25)) / 2
    reg = resolve_region(region, xy, pad)
    inside = np.asarray(reg.contains(xy), bool) if len(xy) else np.zeros(0, bool)
    xy_in = xy if inside.all() else xy[inside]
    sizing = resolve_sizing(params, len(xy_in), steps)
    entry = params.entry
    mesh = method_attribute(entry, f"build_{entry.name}")(xy_in, reg, params, sizing)
    resolved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    resolved.update(sizing.to_dict())
    resolved.update(mesh.parameters)
    mesh.parameters = resolved
    mesh.extra["region_polygon"] = _ccw(np.asarray(reg.polygon(), float))
    return mesh
