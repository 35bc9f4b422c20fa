"""Simulated single-particle-tracking data with known ground truth.

Overdamped Langevin walks in 2D (kT = 1): each step is
``Δr = D(r) F(r) Δt + sqrt(2 D(r) Δt) ξ`` with ``F = -∇V``, reflected at the field's box,
observed with Gaussian localization noise σ. Units: µm, s, µm²/s, kT, kT/µm.

The same fields feed napari's sample data (with a synthetic wide-field image of the cells),
the tests and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .acquisition import Acquisition
from .defaults import LOCALIZATION_PRECISION

Array = np.ndarray

#: Version of :func:`sample_field` / :func:`sample_dataset`: cached sample files carry it in their
#: name, so that a changed sample is never read from an old cache.
SAMPLE_VERSION = 2
#: :func:`simulate_walks`' frame interval (s) and σ (µm) unless given.
WALK_ACQUISITION = Acquisition(frame_interval=0.02, localization_precision=0.02)
#: The frame interval (s) and σ (µm) of napari's sample (:func:`sample_dataset`).
SAMPLE_ACQUISITION = Acquisition(frame_interval=0.02, localization_precision=LOCALIZATION_PRECISION)


@dataclass
class Field:
    """A diffusivity field D(x, y) (µm²/s) and a potential V(x, y) (kT) on a box (µm).

    ``diffusivity``, ``potential`` and ``force`` take arrays x, y (µm) and return arrays.
    ``force`` is −∇V (kT/µm) as an (..., 2) array.
    """

    box: tuple[float, float, float, float]
    diffusivity: Callable[[Array, Array], Array]
    potential: Callable[[Array, Array], Array] = field(default=lambda x, y: np.zeros_like(np.asarray(x, float)))
    force: Callable[[Array, Array], Array] = field(
        default=lambda x, y: np.zeros(np.broadcast(np.asarray(x), np.asarray(y)).shape + (2,))
    )
    cells: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    """Ellipses (cx, cy, semi-axis a, semi-axis b, angle in degrees), µm, where walks start."""

    def drift(self, x, y):
        """D·F (µm/s) as an (..., 2) array."""
        return self.diffusivity(x, y)[..., None] * self.force(x, y)


def gaussian_well(depth: float, centre: tuple[float, float], width: float):
    """V(r) = −depth·exp(−|r − c|²/(2 width²)) (kT) and its force −∇V (kT/µm)."""
    cx, cy = centre

    def potential(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        return -depth * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))

    def force(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
        # V = -depth g ; ∇V = depth g (r - c)/w² ; F = -∇V
        fx = -depth * g * (x - cx) / width**2
        fy = -depth * g * (y - cy) / width**2
        return np.stack([fx, fy], axis=-1)

    return potential, force


def standard_field() -> Field:
    """The reference scenario of the performance figures: a 10×10 µm field, D = 0.1 µm²/s for
    x < 5 µm and 0.5 µm²/s beyond, and an 8 kT Gaussian well (width 1 µm) centred at (6.5, 5) µm.
    """
    potential, force = gaussian_well(8.0, (6.5, 5.0), 1.0)

    def diffusivity(x, y):
        x = np.asarray(x, float)
        return np.where(x < 5.0, 0.1, 0.5) + 0.0 * np.asarray(y, float)

    return Field(box=(0.0, 0.0, 10.0, 10.0), diffusivity=diffusivity, potential=potential, force=force)


def sample_field() -> Field:
    """A 25.6×25.6 µm field with three elliptical cells, used by napari's sample data.

    Cell 1 (left): D 0.2 µm²/s with an 8 kT Gaussian well (width 1.5 µm) at (7.5, 13) µm;
    cell 2 (top right): 0.4 µm²/s; cell 3 (bottom right): a D gradient from 0.05 to 0.3 µm²/s
    along x. 0.02 µm²/s outside. No force outside cell 1: a correct potential map is flat in
    cells 2 and 3. (The well carries ~40 nats of evidence in the sample's 60k locations — enough
    for DV to resolve it; a weaker one would be indistinguishable from noise.)
    """
    cells = [(7.0, 12.0, 5.0, 7.5, 15.0), (18.5, 18.5, 5.0, 3.8, -20.0), (18.5, 7.0, 5.5, 4.0, 10.0)]
    potential1, force1 = gaussian_well(8.0, (7.5, 13.0), 1.5)

    def inside(x, y, cell):
        cx, cy, a, b, ang = cell
        c, s = np.cos(np.radians(ang)), np.sin(np.radians(ang))
        u = (x - cx) * c + (y - cy) * s
        v = -(x - cx) * s + (y - cy) * c
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0

    def diffusivity(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        d = np.full(np.broadcast(x, y).shape, 0.02)
        d = np.where(inside(x, y, cells[0]), 0.2, d)
        d = np.where(inside(x, y, cells[1]), 0.4, d)
        grad = 0.05 + 0.25 * np.clip((x - 13.0) / 11.0, 0, 1)
        d = np.where(inside(x, y, cells[2]), grad, d)
        return d

    def potential(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        return np.where(inside(x, y, cells[0]), potential1(x, y), 0.0)

    def force(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        f = force1(x, y)
        return np.where(inside(x, y, cells[0])[..., None], f, 0.0)

    return Field(box=(0.0, 0.0, 25.6, 25.6), diffusivity=diffusivity, potential=potential, force=force, cells=cells)


def _trajectory_lengths(rng, n_locations: int, mean_length: float) -> Array:
    """Geometric lengths (≥ 2 locations, mean ``mean_length``) adding up to ``n_locations``."""
    if mean_length < 2:
        raise ValueError(f"mean_length must be ≥ 2 locations, got {mean_length}")
    p = 1.0 / (mean_length - 1.0)
    n_traj = max(1, int(np.ceil(n_locations / mean_length * 1.1)) + 10)
    lengths = 1 + rng.geometric(p, size=n_traj)
    while lengths.sum() < n_locations:
        lengths = np.concatenate([lengths, 1 + rng.geometric(p, size=n_traj)])
    csum = np.cumsum(lengths)
    k = int(np.searchsorted(csum, n_locations))  # first index where csum >= n
    lengths = lengths[: k + 1].copy()
    lengths[-1] -= csum[k] - n_locations
    if lengths[-1] < 2:
        # fold a too-short last trajectory into the previous one
        if len(lengths) > 1:
            lengths[-2] += lengths[-1]
            lengths = lengths[:-1]
        else:
            lengths[-1] = max(lengths[-1], 1)
    return lengths


def _start_points(rng, fld: Field, count: int) -> Array:
    x0, y0, x1, y1 = fld.box
    if not fld.cells:
        return np.column_stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count)])
    # uniform in the union of cells, by rejection in the cells' bounding boxes
    out = np.empty((0, 2))
    areas = np.array([np.pi * a * b for (_, _, a, b, _) in fld.cells])
    while len(out) < count:
        which = rng.choice(len(fld.cells), size=count, p=areas / areas.sum())
        cx, cy, a, b, ang = (np.array(v)[which] for v in zip(*fld.cells))
        r = np.sqrt(rng.uniform(0, 1, count))
        th = rng.uniform(0, 2 * np.pi, count)
        u, v = a * r * np.cos(th), b * r * np.sin(th)
        c, s = np.cos(np.radians(ang)), np.sin(np.radians(ang))
        pts = np.column_stack([cx + u * c - v * s, cy + u * s + v * c])
        ok = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        out = np.concatenate([out, pts[ok]])
    return out[:count]


def _reflect(v: Array, lo: float, hi: float) -> Array:
    span = hi - lo
    v = np.mod(v - lo, 2 * span)
    return lo + np.where(v > span, 2 * span - v, v)


def simulate_walks(
    fld: Field,
    n_locations: int,
    *,
    dt: float = WALK_ACQUISITION.frame_interval,
    sigma: float = WALK_ACQUISITION.localization_precision,
    mean_length: float = 10.0,
    duration: float | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Simulate trajectories in ``fld`` and return a locations table (n, x, y, t; µm, s).

    Parameters
    ----------
    fld : Field
        Diffusivity and potential fields and the box (walls are reflecting).
    n_locations : int
        Total number of locations (rows).
    dt : float
        Frame interval (s).
    sigma : float
        Localization precision σ (µm); observed positions are true positions plus N(0, σ²).
    mean_length : float
        Mean trajectory length, in locations (geometric distribution, at least 2).
    duration : float, optional
        Trajectory start times are uniform frames in [0, duration) s (default: 1000 frames).
    seed : int, optional
        Seed of the random generator; the same seed gives the same table.

    The table's ``attrs`` name its ``source`` (``simulated``), for people to read; what the
    numbers mean is ``Acquisition(dt, sigma)`` (:class:`~napari_tramway.core.acquisition.Acquisition`).
    """
    rng = np.random.default_rng(seed)
    lengths = _trajectory_lengths(rng, int(n_locations), mean_length)
    order = np.argsort(-lengths, kind="stable")
    lengths_sorted = lengths[order]
    n_traj = len(lengths)
    max_len = int(lengths_sorted[0])
    pos = _start_points(rng, fld, n_traj)
    x0, y0, x1, y1 = fld.box
    # positions[k] holds the true positions of the trajectories still active at step k
    xs = np.empty(int(lengths.sum()))
    ys = np.empty_like(xs)
    # offsets of each (sorted) trajectory in the output
    starts_sorted = np.zeros(n_traj, dtype=np.int64)
    starts_sorted[1:] = np.cumsum(lengths_sorted)[:-1]
    active = n_traj
    cur = pos.copy()
    for k in range(max_len):
        while active > 0 and lengths_sorted[active - 1] <= k:
            active -= 1
        if active == 0:
            break
        idx = starts_sorted[:active] + k
        xs[idx] = cur[:active, 0]
        ys[idx] = cur[:active, 1]
        px, py = cur[:active, 0], cur[:active, 1]
        d = fld.diffusivity(px, py)
        f = fld.force(px, py)
        noise = rng.standard_normal((active, 2))
        step = (d * dt)[:, None] * f + np.sqrt(2 * d * dt)[:, None] * noise
        nx = _reflect(px + step[:, 0], x0, x1)
        ny = _reflect(py + step[:, 1], y0, y1)
        cur[:active, 0] = nx
        cur[:active, 1] = ny
    n_frames = 1000 if duration is None else max(1, int(round(duration / dt)))
    start_frame = rng.integers(0, n_frames, size=n_traj)
    # vectorised frame numbers: position within trajectory + start frame
    traj_sorted = np.repeat(np.arange(n_traj), lengths_sorted)
    within = np.arange(len(xs)) - starts_sorted[traj_sorted]
    frames = start_frame[traj_sorted] + within
    if sigma > 0:
        xs = xs + rng.normal(0.0, sigma, xs.shape)
        ys = ys + rng.normal(0.0, sigma, ys.shape)
    df = pd.DataFrame(
        {
            "n": (traj_sorted + 1).astype(np.int64),
            "x": xs,
            "y": ys,
            "t": np.round(frames * dt, 10),
        }
    )
    df.attrs.update(source="simulated", format="simulated")  # for people to read: Acquisition(dt, sigma) says the rest
    return df


def uniform_field(diffusivity: float, box=(0.0, 0.0, 10.0, 10.0)) -> Field:
    """A box (µm) of uniform diffusivity D (µm²/s), no force."""
    d = float(diffusivity)
    return Field(box=tuple(box), diffusivity=lambda x, y: np.full(np.broadcast(np.asarray(x), np.asarray(y)).shape, d))


def simulate_conditions(diffusivity: dict[str, float], files_per_condition: int = 6, n_locations: int = 4000, *,
                        file_sd: float = 0.1, seed: int = 0, **kwargs) -> list[dict]:
    """An experiment with several conditions: per condition ``files_per_condition`` cells (files),
    each with its own uniform D drawn log-normally around the condition's D (µm²/s; ``file_sd``:
    the SD of log D between cells, 0.1 ≈ 10 %), then walks in a 10×10 µm box.

    Returns one dict per file, conditions interleaved (control, treated, control...): ``condition``,
    ``replicate`` (0, 1...), ``diffusivity`` (the file's true D), ``locations`` (as
    :func:`simulate_walks`, to which ``kwargs`` go) and their ``acquisition`` (Δt s, σ µm). The
    conditions' true D are the geometric means of the population the files are drawn from: their
    ratio is the ratio of ``diffusivity``."""
    rng = np.random.default_rng(seed)
    acquisition = Acquisition(kwargs.get("dt", WALK_ACQUISITION.frame_interval),
                              kwargs.get("sigma", WALK_ACQUISITION.localization_precision))
    out = []
    for k in range(files_per_condition):
        for condition, d in diffusivity.items():
            d_file = float(d) * float(np.exp(rng.normal(0.0, file_sd)))
            locations = simulate_walks(uniform_field(d_file), n_locations, seed=int(rng.integers(2**31)), **kwargs)
            out.append({"condition": condition, "replicate": k, "diffusivity": d_file, "locations": locations,
                        "acquisition": acquisition})
    return out


def standard_dataset(n_locations: int = 100_000, seed: int = 0, **kwargs) -> tuple[pd.DataFrame, Field]:
    """Locations in :func:`standard_field` (dt 0.02 s, σ 0.02 µm, 10 points per trajectory)."""
    fld = standard_field()
    return simulate_walks(fld, n_locations, seed=seed, **kwargs), fld


def widefield_image(fld: Field, pixel_size: float = 0.1, seed: int | None = 0, locations=None) -> Array:
    """A synthetic wide-field image (float32, arbitrary units) of ``fld``'s cells.

    Each cell is a bright smooth blob with a textured cytoplasm; locations, when given, add a
    faint density. Pixel (i, j) covers y ∈ [y0 + i·p, y0 + (i+1)·p), x ∈ [x0 + j·p, ...) µm.
    """
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = fld.box
    nx = int(round((x1 - x0) / pixel_size))
    ny = int(round((y1 - y0) / pixel_size))
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    X = x0 + (xx + 0.5) * pixel_size
    Y = y0 + (yy + 0.5) * pixel_size
    img = np.full((ny, nx), 100.0)
    for cx, cy, a, b, ang in fld.cells:
        c, s = np.cos(np.radians(ang)), np.sin(np.radians(ang))
        u = (X - cx) * c + (Y - cy) * s
        v = -(X - cx) * s + (Y - cy) * c
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        img += 800.0 / (1.0 + np.exp((r - 1.0) / 0.04))
        img += 500.0 * np.exp(-(r / 0.35) ** 2)  # nucleus-like glow
    if locations is not None and len(locations):
        h, _, _ = np.histogram2d(
            locations["y"].to_numpy(), locations["x"].to_numpy(), bins=(ny, nx), range=((y0, y1), (x0, x1))
        )
        img += 30.0 * h
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(img, 1.0)
    img = rng.poisson(np.clip(img, 0, None)).astype(np.float32)
    return img


def sample_dataset(n_locations: int = 60_000, seed: int = 1) -> tuple[Array, float, pd.DataFrame, Field]:
    """napari's sample: ``(image, pixel_size µm, locations, field)`` for :func:`sample_field`
    (Δt 0.02 s, σ the default localization precision: :data:`SAMPLE_ACQUISITION`; 12 locations
    per trajectory on average)."""
    fld = sample_field()
    locations = simulate_walks(fld, n_locations, dt=SAMPLE_ACQUISITION.frame_interval,
                               sigma=SAMPLE_ACQUISITION.localization_precision, mean_length=12, duration=60.0, seed=seed)
    pixel_size = 0.1
    image = widefield_image(fld, pixel_size=pixel_size, seed=seed)
    return image, pixel_size, locations, fld
