"""Accuracy on simulated data with known truth (the issue's scenario).

10×10 µm field, D = 0.1 µm²/s for x < 5 and 0.5 beyond, an 8 kT Gaussian well (width 1 µm) at
(6.5, 5), σ = 0.02 µm, Δt = 0.02 s, 100k locations, hexagons of 1 µm; several seeds, so that the
*distribution* of the errors is tested, not one draw.
"""

import numpy as np
import pytest
from _mesh_helpers import real_hexagons

from napari_tramway.core.models import fit
from napari_tramway.core.simulate import WALK_ACQUISITION as ACQ
from napari_tramway.core.simulate import standard_dataset
from napari_tramway.core.trajectories import translocations

SEEDS = range(4)


@pytest.fixture(scope="module")
def runs():
    out = []
    for seed in SEEDS:
        loc, fld = standard_dataset(100_000, seed=seed)
        steps = translocations(loc)
        mesh, a = real_hexagons(steps, 1.0)
        out.append((fld, {
            "d": fit("d", mesh, a, steps, ACQ),
            "dj": fit("d", mesh, a, steps, ACQ, jeffreys_prior=True),
            "df": fit("df", mesh, a, steps, ACQ),
            "dv": fit("dv", mesh, a, steps, ACQ, potential_prior=1.0, diffusivity_prior=1.0),
        }))
    return out


def _clean(t):
    """Cells where the D-only model is exact: away from the D step (x = 5), the walls and the well."""
    x, y = t.x.to_numpy(), t.y.to_numpy()
    wall = np.minimum(np.minimum(x, 10 - x), np.minimum(y, 10 - y))
    return (np.abs(x - 5) > 1.0) & (wall > 1.0) & (np.hypot(x - 6.5, y - 5) > 2.5)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["d", "dj"])
def test_diffusivity_errors_match_their_statistical_limit(runs, key):
    z, rel, limit, covered = [], [], [], []
    for fld, maps in runs:
        m = maps[key]
        t = m.table[m.fitted]
        keep = _clean(t)
        truth = fld.diffusivity(t.x.to_numpy(), t.y.to_numpy())[keep]
        d, sd, n = t.diffusivity.to_numpy()[keep], t["diffusivity sd"].to_numpy()[keep], t.n.to_numpy()[keep]
        z.append((d - truth) / sd)
        rel.append(d / truth - 1)
        limit.append(1 / np.sqrt(n))
        covered.append((t["diffusivity ci low"].to_numpy()[keep] <= truth) & (truth <= t["diffusivity ci high"].to_numpy()[keep]))
    z, rel, limit, covered = map(np.concatenate, (z, rel, limit, covered))
    assert z.size > 100
    # z-scores ~ N(0, 1): the reported sd is the actual error scale, and D is unbiased
    assert abs(z.mean()) < 0.25
    assert 0.8 < z.std() < 1.2
    # relative errors ~ 1/√n (times 1 + σ²/(DΔt), at most 1.2 here)
    ratio = np.sqrt(np.mean(rel**2)) / np.sqrt(np.mean(limit**2))
    assert 0.8 < ratio < 1.4
    # the exact 95 % credible interval covers the truth about 95 % of the time
    assert 0.9 < covered.mean() <= 0.995


@pytest.mark.slow
@pytest.mark.parametrize("key", ["df", "dv"])
def test_force_direction_where_force_is_strong(runs, key):
    angles = []
    for fld, maps in runs:
        m = maps[key]
        t = m.table[m.fitted]
        truth = fld.force(t.x.to_numpy(), t.y.to_numpy())
        est = t[["force x", "force y"]].to_numpy()
        strong = np.linalg.norm(truth, axis=1) > 2.0      # kT/µm; the well's maximum is 4.9
        cos = (truth * est).sum(1) / np.linalg.norm(truth, axis=1) / np.linalg.norm(est, axis=1)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1)))[strong])
    angles = np.concatenate(angles)
    assert angles.size >= 40
    assert np.median(angles) < 10
    assert np.percentile(angles, 95) < 30


@pytest.mark.slow
def test_potential_correlates_with_truth(runs):
    for fld, maps in runs:
        m = maps["dv"]
        assert m.status == "converged"
        t = m.table[m.fitted]
        x, y = t.x.to_numpy(), t.y.to_numpy()
        truth = fld.potential(x, y)
        v = t.potential.to_numpy()
        # the walls reflect the walkers: an honest effective potential rises there, the truth does not
        inner = np.minimum(np.minimum(x, 10 - x), np.minimum(y, 10 - y)) > 1.0
        assert np.corrcoef(truth[inner], v[inner])[0, 1] > 0.85
        assert np.corrcoef(truth, v)[0, 1] > 0.7
        # depth of the well: the truth is 8 kT deep (minus the walls' contribution)
        assert 5 < np.median(v[inner & (np.hypot(x - 6.5, y - 5) > 3)]) - v[inner].min() < 11
        d = t.diffusivity.to_numpy()
        assert np.median(np.abs(d / fld.diffusivity(x, y) - 1)[np.abs(x - 5) > 1]) < 0.1
