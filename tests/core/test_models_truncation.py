"""The static filter's truncation: P(‖Δr‖² > u₀) and the conditioned likelihood, against brute force."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.meshes.base import Assignment
from napari_tramway.core.models import fit, step_statistics
from napari_tramway.core.models.likelihood import CellLikelihood
from napari_tramway.core.models.truncation import log_probability, log_tail
from napari_tramway.core.trajectories import discard_static


def _keep_probability(mean, s, u0):
    """P(‖Δr‖² > u₀) for Δr ~ N(mean, 2s I), by 2-D quadrature of the Gaussian over the disc ‖r‖² ≤ u₀."""
    mx, my = mean

    def density(r, th):
        x, y = r * np.cos(th), r * np.sin(th)
        return r * np.exp(-((x - mx) ** 2 + (y - my) ** 2) / (4 * s)) / (4 * np.pi * s)

    inside, _ = integrate.dblquad(density, 0, 2 * np.pi, 0, np.sqrt(u0), epsabs=1e-14, epsrel=1e-12)
    return 1.0 - inside


@pytest.mark.parametrize("mean,s,u0", [((0.0, 0.0), 0.003, 0.002), ((0.03, -0.01), 0.002, 0.0018),
                                       ((0.1, 0.05), 0.001, 0.004), ((0.0, 0.02), 0.0005, 0.01),
                                       ((0.2, 0.0), 0.004, 0.0008)])
def test_keep_probability_equals_the_integral(mean, s, u0):
    nu = (mean[0] ** 2 + mean[1] ** 2) / (4 * s)
    x = u0 / (4 * s)
    assert np.exp(log_probability(np.array([nu]), np.array([x]))[0]) == pytest.approx(
        _keep_probability(mean, s, u0), rel=1e-9, abs=1e-14)


def test_no_drift_is_memoryless():
    x = np.linspace(0, 3, 7)
    t = log_tail(np.zeros_like(x), x, order=2)
    assert np.allclose(t.log_p, -x) and np.allclose(t.d_x, -1) and np.allclose(t.d_xx, 0, atol=1e-12)


def test_tail_derivatives_match_finite_differences():
    rng = np.random.default_rng(0)
    nu, x = rng.uniform(0, 6, 40), rng.uniform(0, 4, 40)
    nu[:3] = 0.0
    t = log_tail(nu, x, order=2)
    h = 1e-6
    d_nu = (log_probability(nu + h, x) - log_probability(np.maximum(nu - h, 0), x)) / (nu + h - np.maximum(nu - h, 0))
    d_x = (log_probability(nu, x + h) - log_probability(nu, x - h)) / (2 * h)
    assert np.allclose(t.d_nu, d_nu, atol=1e-7) and np.allclose(t.d_x, d_x, atol=1e-7)
    h = 1e-5
    up, dn = log_tail(nu + h, x), log_tail(np.maximum(nu - h, 0), x)
    width = nu + h - np.maximum(nu - h, 0)
    tol = np.where(nu > 0, 1e-6, 2e-4)    # one-sided differences at ν = 0: error O(h)
    assert np.all(np.abs(t.d_nunu - (up.d_nu - dn.d_nu) / width) <= tol)
    assert np.all(np.abs(t.d_nux - (up.d_x - dn.d_x) / width) <= tol)
    up, dn = log_tail(nu, x + h), log_tail(nu, x - h)
    assert np.allclose(t.d_xx, (up.d_x - dn.d_x) / (2 * h), atol=1e-6)


def test_conditioned_likelihood_equals_per_step_brute_force():
    rng = np.random.default_rng(3)
    sigma, u0, tau = 0.03, 2 * 0.03**2, 0.02
    dr = rng.normal(0.01, 0.06, (40, 2))
    dr = dr[(dr**2).sum(1) > u0]
    steps = pd.DataFrame({"dx": dr[:, 0], "dy": dr[:, 1], "dt": tau})
    cells = np.arange(len(steps)) % 2
    stats = step_statistics(Assignment(np.arange(len(steps)), cells, 2), steps, tau)
    lik = CellLikelihood(stats, np.array([0, 1]), sigma, u0)
    d = np.array([0.05, 0.2])
    c = np.array([[0.4, -0.2], [1.0, 0.5]])
    total = 0.0
    for (dx, dy), cell in zip(dr, cells):
        s = d[cell] * tau + sigma**2
        mean = c[cell] * tau
        gauss = np.exp(-((dx - mean[0]) ** 2 + (dy - mean[1]) ** 2) / (4 * s)) / (4 * np.pi * s)
        total -= np.log(gauss / _keep_probability(mean, s, u0))
    assert lik.evaluate(d, c[:, 0], c[:, 1], order=0).f == pytest.approx(total, rel=1e-10)
    # without drift: u₀ is subtracted from every squared length (the exponential is memoryless)
    no_drift = -sum(np.log(np.exp(-(dx * dx + dy * dy - u0) / (4 * (d[k] * tau + sigma**2))) / (4 * np.pi * (d[k] * tau + sigma**2)))
                    for (dx, dy), k in zip(dr, cells))
    assert lik.evaluate(d, order=0).f == pytest.approx(no_drift, rel=1e-12)


@pytest.mark.parametrize("model", ["d", "dd", "df"])
def test_filtered_fit_is_unbiased(model):
    """Homogeneous Brownian steps at σ²/(DΔt) = 1 through the static filter: the D of every model is
    unbiased with the conditioned likelihood, +50 % when the model is not told about the filter."""
    rng = np.random.default_rng(7)
    d_true, tau, sigma = 0.05, 0.02, 0.0316
    s = d_true * tau + sigma**2
    cells, n = 100, 400
    dr = rng.normal(0, np.sqrt(2 * s), (cells * n, 2))
    steps = pd.DataFrame({"x": 0.0, "y": 0.0, "dx": dr[:, 0], "dy": dr[:, 1], "dt": tau})
    from _mesh_helpers import square_mesh

    mesh = square_mesh(10, 10, 1.0)
    kept, filtered = discard_static(steps, Acquisition(frame_interval=tau, localization_precision=sigma))
    a = Assignment(np.arange(len(kept)), np.arange(len(kept)) % cells, cells)
    m = fit(model, mesh, a, kept, filtered)
    assert m.info["static_filter"]["min_squared_step"] == pytest.approx(2 * sigma**2)
    assert abs(np.mean(m["diffusivity"]) / d_true - 1) < 0.02
    blind = replace(filtered, min_squared_step=0.0)   # the model not told about the filter
    assert np.mean(fit(model, mesh, a, kept, blind)["diffusivity"]) / d_true - 1 > 0.4
