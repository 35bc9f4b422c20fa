"""Per-cell D, DD, DF: closed forms and the vectorised 1-D solve against a generic optimizer."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from napari_tramway.core.meshes.base import Assignment
from napari_tramway.core.models import step_statistics
from napari_tramway.core.models.likelihood import CellLikelihood
from napari_tramway.core.models.percell import credible_interval, fit_per_cell, solve_diffusivity

SIGMA = 0.03
LOWER = 1e-8


def _cells(dts=(0.02,), n_cells=6, seed=0, drift=(0.4, -0.3)):
    """Steps of ``n_cells`` cells with D from 0.02 to 0.8 µm²/s, Δt drawn from ``dts``."""
    rng = np.random.default_rng(seed)
    frames = []
    for c, d in enumerate(np.geomspace(0.02, 0.8, n_cells)):
        n = int(rng.integers(15, 200))
        dt = rng.choice(dts, n)
        sd = np.sqrt(2 * (d * dt + SIGMA**2))
        frames.append(pd.DataFrame({"dx": drift[0] * dt + sd * rng.normal(size=n),
                                    "dy": drift[1] * dt + sd * rng.normal(size=n), "dt": dt, "cell": c}))
    steps = pd.concat(frames, ignore_index=True)
    a = Assignment(np.arange(len(steps)), steps.cell.to_numpy(np.int64), n_cells)
    stats = step_statistics(a, steps, min(dts))
    return steps, CellLikelihood(stats, np.arange(n_cells), SIGMA)


def _objective(steps, kind, jeffreys, params):
    """Reference per-cell objective (§4.4–4.6, §4.10) from raw steps."""
    dx, dy, dt = steps if isinstance(steps, tuple) else (steps.dx.to_numpy(), steps.dy.to_numpy(), steps.dt.to_numpy())
    d = params[0]
    if kind == "d":
        c = np.zeros(2)
    elif kind == "dd":
        c = np.asarray(params[1:3])
    else:
        c = d * np.asarray(params[1:3])
    s = d * dt + SIGMA**2
    ex, ey = dx - c[0] * dt, dy - c[1] * dt
    f = np.sum(np.log(np.pi) + np.log(4 * s) + (ex**2 + ey**2) / (4 * s))
    if jeffreys:
        f += 2 * np.log(d * dt.mean() + SIGMA**2)
        if kind == "df":
            f -= 2 * np.log(d)
    return f


def _numeric_optimum(steps, kind, jeffreys, start):
    steps = (steps.dx.to_numpy(), steps.dy.to_numpy(), steps.dt.to_numpy())
    if kind == "d":
        res = optimize.minimize_scalar(lambda d: _objective(steps, kind, jeffreys, [d]), bounds=(LOWER, 10),
                                       method="bounded", options={"xatol": 1e-12})
        return np.array([res.x])
    res = optimize.minimize(lambda p: _objective(steps, kind, jeffreys, p), start, method="L-BFGS-B",
                            bounds=[(LOWER, None), (None, None), (None, None)],
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000})
    # polish: the force of a weakly drifting cell is a flat direction for L-BFGS-B's stopping rule
    res = optimize.minimize(lambda p: _objective(steps, kind, jeffreys, p), res.x, method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000, "maxfev": 40000})
    return res.x


@pytest.mark.parametrize("dts", [(0.02,), (0.02, 0.04, 0.1)], ids=["constant-dt", "varying-dt"])
@pytest.mark.parametrize("kind", ["d", "dd", "df"])
@pytest.mark.parametrize("jeffreys", [False, True])
def test_per_cell_optimum_matches_numerical_optimizer(kind, jeffreys, dts):
    steps, lik = _cells(dts, seed=3)
    out = fit_per_cell(kind, lik, LOWER, jeffreys)
    cols = {"d": ["diffusivity"], "dd": ["diffusivity", "drift x", "drift y"],
            "df": ["diffusivity", "force x", "force y"]}[kind]
    for c in range(lik.k):
        cell = steps[steps.cell == c]
        ours = np.array([out[name][c] for name in cols])
        ref = _numeric_optimum(cell, kind, jeffreys, ours * (1 + 0.05 * np.r_[1, -1, 1][: len(ours)]))
        assert ours == pytest.approx(ref, rel=1e-4, abs=1e-6)
        # ours is at least as good as the generic optimizer's
        assert _objective(cell, kind, jeffreys, ours) <= _objective(cell, kind, jeffreys, ref) + 1e-9


def test_closed_forms_of_reference():
    steps, lik = _cells((0.02,), seed=5)
    for c in range(lik.k):
        cell = steps[steps.cell == c]
        n, q, dt = len(cell), np.sum(cell.dx**2 + cell.dy**2), 0.02
        d = solve_diffusivity(lik, "d", LOWER, False)[c]
        assert d == pytest.approx(max(q / (4 * n * dt) - SIGMA**2 / dt, LOWER), rel=1e-12)
        dj = solve_diffusivity(lik, "d", LOWER, True)[c]
        assert dj == pytest.approx(max(q / (4 * (n + 2) * dt) - SIGMA**2 / dt, LOWER), rel=1e-12)


def test_lower_bound_never_gives_nan():
    # steps far below the noise floor: the unbounded optimum is D < 0; the bound holds, no NaN
    rng = np.random.default_rng(0)
    steps = pd.DataFrame({"dx": 0.001 * rng.normal(size=50), "dy": 0.001 * rng.normal(size=50), "dt": 0.02})
    stats = step_statistics(Assignment(np.arange(50), np.zeros(50, np.int64), 1), steps, 0.02)
    lik = CellLikelihood(stats, np.array([0]), SIGMA)
    for kind in ("d", "dd", "df"):
        for jeffreys in (False, True):
            out = fit_per_cell(kind, lik, 1e-4, jeffreys)
            assert out["diffusivity"][0] >= 1e-4
            values = np.array([v for k, v in out.items() if k != "objective"], dtype=float)
            assert not np.isnan(values).any()


def test_df_is_dd_reparametrised_without_jeffreys():
    _, lik = _cells((0.02, 0.04), seed=8)
    dd = fit_per_cell("dd", lik, LOWER, False)
    df = fit_per_cell("df", lik, LOWER, False)
    assert np.allclose(dd["diffusivity"], df["diffusivity"], rtol=1e-10)
    assert np.allclose(dd["drift x"], df["diffusivity"] * df["force x"], rtol=1e-8)


@pytest.mark.parametrize("kind", ["d", "dd", "df"])
def test_laplace_sd_is_inverse_curvature(kind):
    steps, lik = _cells((0.02,), seed=9, n_cells=3)
    out = fit_per_cell(kind, lik, LOWER, True)
    cols = {"d": ["diffusivity"], "dd": ["diffusivity", "drift x", "drift y"],
            "df": ["diffusivity", "force x", "force y"]}[kind]
    for c in range(lik.k):
        cell = steps[steps.cell == c]
        p = np.array([out[name][c] for name in cols])
        m = len(p)
        h = np.empty((m, m))
        eps = 1e-4 * np.maximum(np.abs(p), 1e-2)
        for i in range(m):
            for j in range(m):
                ei, ej = np.eye(m)[i] * eps[i], np.eye(m)[j] * eps[j]
                h[i, j] = (_objective(cell, kind, True, p + ei + ej) - _objective(cell, kind, True, p + ei - ej)
                           - _objective(cell, kind, True, p - ei + ej) + _objective(cell, kind, True, p - ei - ej)) / (
                    4 * eps[i] * eps[j])
        sd = np.sqrt(np.diag(np.linalg.inv(h)))
        assert np.array([out[name + " sd"][c] for name in cols]) == pytest.approx(sd, rel=1e-3)


@pytest.mark.parametrize("jeffreys", [False, True])
def test_credible_interval_exact_and_numeric_agree(jeffreys):
    steps, lik = _cells((0.02,), seed=11)
    d = solve_diffusivity(lik, "d", LOWER, jeffreys)
    lo, hi = credible_interval(lik, d, LOWER, jeffreys)
    lo_n, hi_n = credible_interval(lik, d, LOWER, jeffreys, force_numeric=True)
    assert np.all(lo < d) and np.all(d < hi)
    assert lo_n == pytest.approx(lo, rel=2e-4)
    assert hi_n == pytest.approx(hi, rel=2e-4)
    # the closed form against direct quadrature for one cell: the posterior exp(−objective) on
    # D ≥ D_min with the Jeffreys prior; without it, exp(−objective)/s (reference prior) on s > 0
    cell = steps[steps.cell == 2]
    f_hat = _objective(cell, "d", jeffreys, [d[2]])
    dt = 0.02
    start = LOWER if jeffreys else -SIGMA**2 / dt * (1 - 1e-12)

    def density(x):
        weight = 1.0 if jeffreys else 1.0 / (x * dt + SIGMA**2)
        return np.exp(-(_objective(cell, "d", jeffreys, [x]) - f_hat)) * weight

    total = integrate.quad(density, start, 20 * hi[2], limit=200, points=[d[2]])[0]
    assert integrate.quad(density, start, lo[2], limit=200)[0] / total == pytest.approx(0.025, abs=2e-4)
    assert integrate.quad(density, hi[2], 20 * hi[2], limit=200)[0] / total == pytest.approx(0.025, abs=2e-4)


def test_confidence_interval_is_exact():
    """Without the Jeffreys prior the interval is a confidence interval: it covers the truth in 95 % of
    repeated experiments, for any number of steps and localization error (pivot Q/(4s) ~ Gamma(n))."""
    rng = np.random.default_rng(5)
    dt, d_true = 0.02, 0.05
    for n, sigma in ((5, 0.0), (20, 0.03), (200, 0.045)):
        s = d_true * dt + sigma**2
        cells = 4000
        dr = rng.normal(0, np.sqrt(2 * s), (cells * n, 2))
        steps = pd.DataFrame({"dx": dr[:, 0], "dy": dr[:, 1], "dt": dt})
        a = Assignment(np.arange(cells * n), np.repeat(np.arange(cells), n), cells)
        lik = CellLikelihood(step_statistics(a, steps, dt), np.arange(cells), sigma)
        d = solve_diffusivity(lik, "d", LOWER, False)
        lo, hi = credible_interval(lik, d, LOWER, False)
        covered = np.mean((lo <= d_true) & (d_true <= hi))
        assert abs(covered - 0.95) < 0.012, (n, sigma, covered)


def test_credible_interval_varying_dt_is_numeric_and_sane():
    _, lik = _cells((0.02, 0.06), seed=12)
    d = solve_diffusivity(lik, "d", LOWER, False)
    lo, hi = credible_interval(lik, d, LOWER, False)
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))
    assert np.all(lo < d) and np.all(d < hi)


def test_single_step_cell_has_a_finite_interval():
    steps = pd.DataFrame({"dx": [0.1], "dy": [0.05], "dt": [0.02]})
    stats = step_statistics(Assignment(np.array([0]), np.array([0]), 1), steps, 0.02)
    lik = CellLikelihood(stats, np.array([0]), SIGMA)
    for jeffreys in (False, True):      # Q/(4s) ~ Gamma(1): an exact interval even from one step
        out = fit_per_cell("d", lik, LOWER, jeffreys)
        assert LOWER <= out["diffusivity ci low"][0] < out["diffusivity"][0] < out["diffusivity ci high"][0] < np.inf
