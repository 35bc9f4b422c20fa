"""What the models and the assignment count: locations for min_location_count (as TRamWAy), steps that
the fit uses, consecutive step pairs, cells with few steps, and the DV solvers' agreement."""

import numpy as np
import pandas as pd
import pytest
from _mesh_helpers import hexagon_mesh, nearest_assignment, square_mesh

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.meshes import assign, build_mesh
from napari_tramway.core.models import fit, step_statistics
from napari_tramway.core.models.joint import JointProblem, minimize
from napari_tramway.core.models.likelihood import CellLikelihood
from napari_tramway.core.models.newton import newton
from napari_tramway.core.models.operators import grad1_operator, penalty_matrix
from napari_tramway.core.roi import Rectangle
from napari_tramway.core.simulate import WALK_ACQUISITION as ACQ
from napari_tramway.core.simulate import standard_dataset
from napari_tramway.core.trajectories import trajectory_ends, translocations
from napari_tramway.pipeline.data import fit_step_count


def _two_trajectories():
    # trajectory 1: 3 locations in the left square; trajectory 2: 2 locations, the end in the right one
    loc = pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [0.2, 0.3, 0.4, 0.5, 1.5], "y": 0.5, "t": [0, 1, 2, 0, 1.0]})
    return translocations(loc)


def test_min_location_count_counts_trajectory_ends_like_tramway():
    steps = _two_trajectories()
    xy = steps[["x", "y"]].to_numpy()
    mesh = build_mesh("grid", xy, region=Rectangle(0, 0, 2, 1), resolution=1.0)
    assert mesh.n_cells == 2 and mesh.centres[0, 0] < mesh.centres[1, 0]
    ends = trajectory_ends(steps)
    assert np.allclose(ends, [[0.4, 0.5], [1.5, 0.5]])
    # left square: 3 step origins + 1 end = 4 locations (TRamWAy's count); 3 steps
    assert np.unique(assign(mesh, xy, min_location_count=4, ends=ends).cell).tolist() == [0]
    assert assign(mesh, xy, min_location_count=4).point.size == 0          # steps alone: 3 < 4
    # the end points are counted, never assigned
    a = assign(mesh, xy, min_location_count=1, ends=ends)
    assert a.point.tolist() == [0, 1, 2] and a.cell.tolist() == [0, 0, 0]


def test_fit_step_count_is_what_the_fit_uses():
    loc = pd.DataFrame({"n": 1, "x": [0.1, 0.1005, 0.6, 0.9], "y": 0.5, "t": [0, 1, 2, 3.0]})
    acquisition = Acquisition(frame_interval=1.0, localization_precision=0.01)
    region = Rectangle(0, 0, 1, 1)
    assert fit_step_count(loc, region, acquisition) == 3
    assert fit_step_count(loc, region, acquisition, discard_static=True) == 2      # the 0.5 nm step is static


def test_consecutive_pairs_in_a_cell():
    steps = _two_trajectories()
    mesh = square_mesh(2, 1, 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    stats = step_statistics(a, steps, 1.0)
    assert stats.pairs.tolist() == [1, 0]       # steps 0→1 of trajectory 1 chain in the left square


def test_cells_with_few_steps_are_flagged_not_dropped():
    loc, _ = standard_dataset(3000, seed=2)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    m = fit("d", mesh, a, steps, ACQ)
    few = m.table["few steps"].to_numpy()
    n = m.table["n"].to_numpy()
    assert few.any() and np.array_equal(few, (n > 0) & (n < 20))
    assert np.isfinite(m["diffusivity"][few]).all()                   # estimated all the same
    assert not fit("d", mesh, a, steps, ACQ, min_steps=1).table["few steps"].any()


@pytest.mark.parametrize("u0", [0.0, 0.002])
def test_newton_and_lbfgs_reach_the_same_dv_optimum(u0):
    loc, _ = standard_dataset(20_000, seed=4)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 1.5)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    stats = step_statistics(a, steps, ACQ.frame_interval)
    cells = np.flatnonzero(stats.n > 0)
    lik = CellLikelihood(stats, cells, 0.02, u0)
    adj = mesh.adjacency[cells][:, cells]
    g = grad1_operator(mesh.centres[cells], adj)
    p = penalty_matrix("delta0", mesh.centres[cells], adj, mesh.areas[cells])
    prob = JointProblem("dv", lik, p_v=0.3 * p, gradient=g)
    k = cells.size
    theta0 = np.concatenate([lik.initial_diffusivity(), np.zeros(k)])
    fixed = np.zeros(2 * k, bool)
    fixed[k] = True
    nt = newton(prob, theta0, 1e-8, fixed=fixed, tolerance=1e-9)
    lb = minimize(prob, theta0, 1e-8, tolerance=1e-9, max_iter=20000)
    assert nt.status == "converged" and nt.iterations < 20
    assert nt.objective <= lb.objective + 1e-7
    v_nt, v_lb = nt.theta[k:] - nt.theta[k], lb.theta[k:] - lb.theta[k]
    assert np.allclose(nt.theta[:k], lb.theta[:k], rtol=1e-5) and np.allclose(v_nt, v_lb, atol=1e-4)


def test_chosen_potential_prior_maximises_the_evidence(monkeypatch):
    from napari_tramway.core.models import priors

    loc, _ = standard_dataset(30_000, seed=6)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    seen = []
    original = priors.PotentialPrior._evaluate

    def record(self, lam, ell, cancel):
        value = original(self, lam, ell, cancel)
        seen.append((lam, ell, value))
        return value

    monkeypatch.setattr(priors.PotentialPrior, "_evaluate", record)
    m = fit("dv", mesh, a, steps, ACQ)
    lam, ell = m.parameters["potential_prior"], m.parameters["smoothing_length"]
    assert m.info["priors"]["fits"] == len(seen) >= 5
    best = max(v for _, _, v in seen)
    assert m.info["priors"]["log_evidence"] == best
    assert (lam, ell, best) in seen
    # along λ at the chosen ℓ the evidence falls on both sides of the choice
    same = sorted((lam_, v) for lam_, ell_, v in seen if ell_ == ell)
    assert any(l_ < lam for l_, _ in same) and any(l_ > lam for l_, _ in same)
    assert m.status == "converged" and "1/kT²" in str(priors.__doc__ + "1/kT²")


def test_cancel_during_the_prior_search_returns_an_interrupted_fit():
    loc, _ = standard_dataset(20_000, seed=8)
    steps = translocations(loc)
    mesh = hexagon_mesh((0, 0, 10, 10), 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    stages = []

    def cancel():      # after two fits of the search
        return stages.count("priors") >= 2

    m = fit("dv", mesh, a, steps, ACQ, cancel=cancel, progress=lambda p: stages.append(p.stage))
    assert m.status == "interrupted" and "priors" in stages
    assert np.isfinite(m["diffusivity"][m.fitted]).all()
