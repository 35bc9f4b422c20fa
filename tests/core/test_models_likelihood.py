"""Sufficient statistics, the common likelihood, and every joint objective's exact derivatives."""

import numpy as np
import pandas as pd
import pytest
from _mesh_helpers import hexagon_mesh, nearest_assignment

from napari_tramway.core.meshes.base import Assignment
from napari_tramway.core.models import grad1_operator, penalty_matrix, step_statistics
from napari_tramway.core.models.joint import JointProblem
from napari_tramway.core.models.likelihood import CellLikelihood


def _steps(n=400, seed=0, dts=(0.02, 0.04, 0.06)):
    rng = np.random.default_rng(seed)
    dt = rng.choice(dts, n) * (1 + rng.normal(0, 1e-9, n))   # float noise in Δt merges into groups
    df = pd.DataFrame({"x": rng.uniform(0, 4, n), "y": rng.uniform(0, 3, n),
                       "dx": rng.normal(0.01, 0.08, n), "dy": rng.normal(-0.02, 0.08, n), "dt": dt})
    return df


def _reference_nll(steps, assignment, d, c, sigma):
    """NLL summed over assigned steps, straight from reference §4.3 (no sufficient statistics)."""
    total = 0.0
    for p, cell in zip(assignment.point, assignment.cell):
        dt = steps.dt.iloc[p]
        s = d[cell] * dt + sigma**2
        e = np.array([steps.dx.iloc[p], steps.dy.iloc[p]]) - c[cell] * dt
        total += np.log(np.pi) + np.log(4 * s) + e @ e / (4 * s)
    return total


def test_statistics_group_dt_and_sum():
    steps = _steps()
    mesh = hexagon_mesh((0, 0, 4, 3), 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    s = step_statistics(a, steps, 0.02)
    assert s.n.sum() == len(steps)
    assert np.array_equal(s.n, a.counts())
    assert set(np.round(s.tau, 6)) <= {0.02, 0.04, 0.06}
    assert s.groups_per_cell.max() == 3
    # sums per (cell, Δt) agree with a groupby
    cells = a.cell
    rows = steps.iloc[a.point].assign(cell=cells, g=np.round(steps.dt.iloc[a.point].to_numpy(), 6))
    grouped = rows.groupby(["cell", "g"]).agg(n=("dx", "size"), sx=("dx", "sum"), sy=("dy", "sum"))
    assert np.allclose(grouped["n"].to_numpy(), s.count)
    assert np.allclose(grouped["sx"].to_numpy(), s.sum_dr[:, 0])
    assert np.allclose(grouped["sy"].to_numpy(), s.sum_dr[:, 1])


def test_statistics_drop_nonfinite_and_flip_negative_dt():
    steps = pd.DataFrame({"dx": [0.1, np.nan, 0.2, -0.1], "dy": [0.0, 0.1, 0.1, 0.3], "dt": [0.02, 0.02, 0.0, -0.02]})
    a = Assignment(np.arange(4), np.zeros(4, np.int64), 1)
    with pytest.warns(RuntimeWarning):
        s = step_statistics(a, steps, 0.02)
    assert s.n_dropped == 2 and s.n_flipped == 1 and s.n[0] == 2
    assert np.allclose(s.sum_dr[0], [0.1 + 0.1, 0.0 - 0.3])
    with pytest.raises(ValueError, match="dt"):
        step_statistics(a, steps.drop(columns="dt"), 0.02)


def test_likelihood_equals_reference_formula_with_overlapping_assignment():
    steps = _steps(150, seed=1)
    mesh = hexagon_mesh((0, 0, 4, 3), 1.0)
    base = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    # knn-like overlap: every 5th step also counts in cell 0
    extra = np.arange(0, len(steps), 5)
    a = Assignment(np.r_[base.point, extra], np.r_[base.cell, np.zeros(extra.size, np.int64)], mesh.n_cells)
    s = step_statistics(a, steps, 0.02)
    cells = np.flatnonzero(s.n > 0)
    lik = CellLikelihood(s, cells, 0.03)
    rng = np.random.default_rng(2)
    d = rng.uniform(0.05, 0.5, cells.size)
    c = rng.normal(0, 0.5, (cells.size, 2))
    full_d = np.zeros(mesh.n_cells)
    full_c = np.zeros((mesh.n_cells, 2))
    full_d[cells], full_c[cells] = d, c
    expected = _reference_nll(steps, a, full_d, full_c, 0.03)
    # rel 1e-9: the Δt of a group is the mean of members that differ by ~1e-9 (float noise)
    assert lik.evaluate(d, c[:, 0], c[:, 1], order=0).f == pytest.approx(expected, rel=1e-9)
    expected0 = _reference_nll(steps, a, full_d, 0 * full_c, 0.03)
    assert lik.evaluate(d, order=0).f == pytest.approx(expected0, rel=1e-9)


def _problem(kind, rgrad, jeffreys, seed=0, u0=0.0):
    steps = _steps(600, seed=seed)
    mesh = hexagon_mesh((0, 0, 4, 3), 1.0)
    a = nearest_assignment(mesh, steps[["x", "y"]].to_numpy())
    s = step_statistics(a, steps, 0.02)
    cells = np.flatnonzero(s.n > 0)
    lik = CellLikelihood(s, cells, 0.02, u0)
    adj = mesh.adjacency[cells][:, cells]
    g = grad1_operator(mesh.centres[cells], adj)
    p = penalty_matrix(rgrad, mesh.centres[cells], adj, mesh.areas[cells], gradient=g if rgrad == "grad1" else None)
    k = cells.size
    prob = JointProblem(kind, lik, p_d=0.7 * p, p_v=1.3 * p if kind == "dv" else None,
                        ridge=0.4 * mesh.areas[cells] if kind in ("dd", "df") else None,
                        gradient=g if kind == "dv" else None, jeffreys=jeffreys)
    rng = np.random.default_rng(seed + 10)
    theta = np.concatenate([rng.uniform(0.05, 0.6, k)] + [rng.normal(0, 2, k) for _ in prob.blocks[1:]])
    return prob, theta


CASES = [(kind, rgrad, jeff, 0.0) for kind in ("d", "dd", "df", "dv") for rgrad in ("grad1", "delta0")
         for jeff in (False, True)]
# with the static filter's truncation (u₀ = 0.004 µm²: a few steps' worth of the threshold)
TRUNCATED = [(kind, "grad1", False, 0.004) for kind in ("d", "dd", "df", "dv")] + [("dv", "delta0", True, 0.004)]


@pytest.mark.parametrize("kind,rgrad,jeffreys,u0", CASES + TRUNCATED)
def test_joint_gradient_matches_finite_differences(kind, rgrad, jeffreys, u0):
    prob, theta = _problem(kind, rgrad, jeffreys, u0=u0)
    f, g = prob.value_grad(theta)
    assert f == pytest.approx(prob.value(theta), rel=1e-14)
    num = np.empty_like(g)
    for i in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = h
        num[i] = (prob.value(theta + e) - prob.value(theta - e)) / (2 * h)
    assert np.max(np.abs(num - g)) <= 1e-7 * np.max(np.abs(g))


@pytest.mark.parametrize("kind,rgrad,jeffreys,u0", [c for c in CASES if c[1] == "grad1"]
                         + [("dv", "delta0", True, 0.0)] + TRUNCATED)
def test_joint_hessian_matches_finite_differences_of_gradient(kind, rgrad, jeffreys, u0):
    prob, theta = _problem(kind, rgrad, jeffreys, seed=4, u0=u0)
    h = prob.hessian(theta).toarray()
    assert np.allclose(h, h.T, rtol=0, atol=1e-12 * np.abs(h).max())
    num = np.empty_like(h)
    for i in range(theta.size):
        step = 1e-6 * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = step
        num[:, i] = (prob.value_grad(theta + e)[1] - prob.value_grad(theta - e)[1]) / (2 * step)
    assert np.max(np.abs(num - h)) <= 1e-6 * np.max(np.abs(h))


def test_dv_objective_matches_reference_composition():
    """DV's value = NLL with drift −D∇V + λ Σ A‖∇V‖² + μ Σ A‖∇D‖² + Jeffreys, term by term."""
    prob, theta = _problem("dv", "grad1", True, seed=7)
    k = prob.k
    d, v = theta[:k], theta[k:]
    grad_v = prob.gradient.apply(v)
    grad_d = prob.gradient.apply(d)
    lik = prob.lik
    nll = lik.evaluate(d, -d * grad_v[:, 0], -d * grad_v[:, 1], order=0).f
    areas = hexagon_mesh((0, 0, 4, 3), 1.0).areas[lik.cells]
    priors = 0.7 * np.sum(areas * (grad_d**2).sum(1)) + 1.3 * np.sum(areas * (grad_v**2).sum(1))
    jeff = 2 * np.sum(np.log(d * lik.dt_mean + lik.sigma2) - np.log(d))
    assert prob.value(theta) == pytest.approx(nll + priors + jeff, rel=1e-12)


def test_laplace_covariance_pseudo_inverse_and_conditional():
    import scipy.sparse as sp

    from napari_tramway.core.models.joint import laplace_covariance

    rng = np.random.default_rng(5)
    n = 12
    b = rng.normal(size=(n, n))
    h = b @ b.T + n * np.eye(n)
    group = np.arange(4, 12)                       # the objective is invariant to shifting these together
    z = np.zeros(n)
    z[group] = 1 / np.sqrt(group.size)
    proj = np.eye(n) - np.outer(z, z)
    h = proj @ h @ proj
    var, cov, method = laplace_covariance(sp.csr_matrix(h), [group])
    assert method == "exact"
    assert np.allclose(cov, np.linalg.pinv(h), atol=1e-10)
    assert np.allclose(var, np.diag(np.linalg.pinv(h)), atol=1e-10)
    var_c, cov_c, method_c = laplace_covariance(sp.csr_matrix(h), [group], dense_limit=5)
    assert method_c == "conditional" and cov_c is None
    assert np.allclose(var_c, 1 / np.diag(h))
    # a direction of zero curvature that is not a declared gauge: infinite variance there, no NaN
    h2 = h.copy()
    h2[0, :] = h2[:, 0] = 0
    var2, _, _ = laplace_covariance(sp.csr_matrix(h2), [group])
    assert np.isinf(var2[0]) and np.all(np.isfinite(var2[1:])) and not np.isnan(var2).any()
