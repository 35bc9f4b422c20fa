"""The simulated data sets of the validation, their meshes and the truth in every cell.

Everything is simulated by the project's own simulator (:mod:`napari_tramway.core.simulate`):

* :func:`issue_case` — the field of issue 11: 10×10 µm, D 0.1 µm²/s (x < 5) and 0.5 µm²/s, an
  8 kT Gaussian well (width 1 µm) at (6.5, 5) µm, σ 0.02 µm, Δt 0.02 s, 100k locations, reflecting
  walls; hexagons, ``min_location_count`` 20 (counting locations, as TRamWAy).
* :func:`grid_case` — homogeneous Brownian motion on 1 µm squares, for the coverage grid.
* :func:`sample_cases` — napari's sample (three elliptical cells, one with an 8 kT well), one
  case per ROI, as the demo analyses it.

The truth of a cell is the mean of the field over the origins of its steps: what a per-cell
estimate targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.meshes import assign, build_mesh
from napari_tramway.core.roi import Ellipse, crop
from napari_tramway.core.simulate import (
    SAMPLE_ACQUISITION,
    WALK_ACQUISITION,
    Field,
    sample_dataset,
    simulate_walks,
    standard_dataset,
)
from napari_tramway.core.trajectories import discard_static, trajectory_ends, translocations

WELL = (6.5, 5.0)
BOX = 10.0


@dataclass
class Case:
    """One data set on one mesh: what every method is run on."""

    name: str
    steps: pd.DataFrame
    mesh: object
    assignment: object
    truth: dict                     # per mesh cell: D, V, fx, fy (NaN without steps)
    zones: dict = field(default_factory=dict)   # zone name → (K,) bool over mesh cells
    acquisition: Acquisition = WALK_ACQUISITION   # Δt s, σ µm, static filter µm²
    locations: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    @property
    def sigma(self) -> float:
        """σ (µm), known: the simulation's."""
        return self.acquisition.localization_precision

    @property
    def n(self) -> np.ndarray:
        return np.bincount(self.assignment.cell, minlength=self.mesh.n_cells)


def cell_truth(fld: Field, steps: pd.DataFrame, assignment, k: int) -> dict:
    """Mean of D, V and F over the origins of each cell's steps (NaN for empty cells)."""
    xy = steps[["x", "y"]].to_numpy()[assignment.point]
    c = assignment.cell
    count = np.bincount(c, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        def mean(values):
            return np.bincount(c, values, minlength=k) / count
        f = fld.force(xy[:, 0], xy[:, 1])
        return {"D": mean(fld.diffusivity(xy[:, 0], xy[:, 1])), "V": mean(fld.potential(xy[:, 0], xy[:, 1])),
                "fx": mean(f[:, 0]), "fy": mean(f[:, 1])}


def _mesh_and_assignment(steps, method, resolution, region=None, min_location_count=0):
    xy = steps[["x", "y"]].to_numpy()
    mesh = build_mesh(method, xy, steps=steps, region=region, resolution=resolution)
    a = assign(mesh, xy, region=region, ends=trajectory_ends(steps), min_location_count=min_location_count)
    return mesh, a


def issue_case(seed: int, resolution: float, *, static_filter: bool = False, n_locations: int = 100_000,
               min_location_count: int = 20, mean_length: float = 10.0) -> Case:
    """The issue's field (see the module docstring) on hexagons of ``resolution`` µm."""
    loc, fld = standard_dataset(n_locations, seed=seed, mean_length=mean_length)
    steps, acquisition = translocations(loc), WALK_ACQUISITION
    if static_filter:
        steps, acquisition = discard_static(steps, acquisition)
    mesh, a = _mesh_and_assignment(steps, "hexagon", resolution, min_location_count=min_location_count)
    truth = cell_truth(fld, steps, a, mesh.n_cells)
    x, y = mesh.centres[:, 0], mesh.centres[:, 1]
    wall = np.minimum(np.minimum(x, BOX - x), np.minimum(y, BOX - y))
    to_well = np.hypot(x - WELL[0], y - WELL[1])
    d_interior = (wall >= 1.0) & (np.abs(x - 5.0) >= max(1.0, resolution)) & (to_well >= 2.5)
    zones = {"interior": wall >= 1.0, "D interior": d_interior, "D 0.1": d_interior & (x < 5),
             "D 0.5": d_interior & (x >= 5), "well": (wall >= 1.0) & (to_well <= 2.0)}
    name = f"issue field, seed {seed}, hexagons {resolution:g} µm" + (", static filter" if static_filter else "")
    return Case(name, steps, mesh, a, truth, zones, acquisition=acquisition, locations=loc,
                meta={"field": fld, "seed": seed, "resolution": resolution})


def grid_case(d: float, ratio: float, n: int, cells: int, seed: int = 0, *, dt: float = 0.02,
              mean_length: float = 10.0, static_filter: bool = False) -> Case:
    """Homogeneous Brownian motion (D µm²/s, σ² = ratio·DΔt) with about ``n`` steps in each of
    ``cells`` 1 µm squares; the outer ring of squares (near the reflecting walls) is left out."""
    side = int(np.ceil(np.sqrt(cells))) + 2
    sigma = float(np.sqrt(ratio * d * dt))
    fld = Field(box=(0.0, 0.0, float(side), float(side)),
                diffusivity=lambda x, y: np.full(np.broadcast(np.asarray(x), np.asarray(y)).shape, d))
    loc = simulate_walks(fld, int(side * side * n * mean_length / (mean_length - 1)), dt=dt, sigma=sigma,
                         mean_length=mean_length, seed=seed)
    steps, acquisition = translocations(loc), Acquisition(dt, sigma)
    if static_filter:
        steps, acquisition = discard_static(steps, acquisition)
    mesh, a = _mesh_and_assignment(steps, "grid", 1.0)
    x, y = mesh.centres[:, 0], mesh.centres[:, 1]
    inner = (x > 1) & (x < side - 1) & (y > 1) & (y < side - 1)
    truth = {"D": np.full(mesh.n_cells, d), "V": np.zeros(mesh.n_cells), "fx": np.zeros(mesh.n_cells),
             "fy": np.zeros(mesh.n_cells)}
    return Case(f"D {d:g}, σ²/(DΔt) {ratio:g}, ~{n} steps", steps, mesh, a, truth, {"inner": inner},
                acquisition=acquisition, meta={"D": d, "ratio": ratio, "n": n})


def sample_rois(fld):
    """The demo's ROIs: the sample's cells enlarged by 5 %."""
    return [Ellipse((cx, cy), (a * 1.05, b * 1.05), ang, name=f"cell {i + 1}")
            for i, (cx, cy, a, b, ang) in enumerate(fld.cells)]


def sample_cases(resolution: float) -> list[Case]:
    """napari's sample, one case per ROI (as the demo runs it), hexagons of ``resolution`` µm."""
    _, _, loc, fld = sample_dataset()
    out = []
    for roi in sample_rois(fld):
        steps = crop(loc, roi)
        mesh, a = _mesh_and_assignment(steps, "hexagon", resolution, region=roi)
        truth = cell_truth(fld, steps, a, mesh.n_cells)
        all_cells = np.ones(mesh.n_cells, bool)
        out.append(Case(f"sample {roi.name}, hexagons {resolution:g} µm", steps, mesh, a, truth, {"all": all_cells},
                        acquisition=SAMPLE_ACQUISITION, locations=loc,
                        meta={"field": fld, "roi": roi, "resolution": resolution}))
    return out
