"""The probability that a step is kept by the static-step filter, and its derivatives.

With the filter on (:func:`napari_tramway.core.trajectories.discard_static`), only steps with
‖Δr‖² > u₀ reach the models. A step of the models' likelihood is Gaussian with mean μ = cΔt and
per-axis variance 2s, so ‖Δr‖²/(2s) is non-central χ² with 2 degrees of freedom and
non-centrality ‖μ‖²/(2s). The likelihood of a kept step is the Gaussian density divided by

    P(ν, x) = P(‖Δr‖² > u₀) = Marcum Q₁(√(2ν), √(2x)),   ν = ‖μ‖²/(4s),  x = u₀/(4s)

(dimensionless). Without drift, P = e^(−x) (‖Δr‖² is exponential with mean 4s, memoryless), so
conditioning subtracts u₀ from every kept squared step length. :func:`log_tail` returns ln P and
its first and second derivatives in (ν, x), computed in the log domain from the Poisson mixture

    P = e^(−ν−x) Σ_j ν^j/j! · Σ_{k≤j} x^k/k!      (x > ν + 1)
    1 − P = Σ_j e^(−ν) ν^j/j! · γ(j+1, x)/j!       (x ≤ ν + 1)

and the derivatives from the closed forms ∂P/∂x = −e^(−ν−x) I₀(z), ∂P/∂ν = x e^(−ν−x) g₁(z),
∂²P/∂x² = e^(−ν−x)(I₀ − ν g₁), ∂²P/∂ν∂x = e^(−ν−x)(I₀ − x g₁), ∂²P/∂ν² = x e^(−ν−x)(x g₂ − g₁),
with z = 2√(νx), g₁ = 2I₁(z)/z, g₂ = 4I₂(z)/z² (modified Bessel functions, exponentially scaled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

#: Largest number of series terms (enough for ν·x up to ~10⁵; beyond, steps are far longer than u₀).
MAX_TERMS = 400


@dataclass
class Tail:
    """ln P and its derivatives (arrays of the shape of ν and x)."""

    log_p: np.ndarray
    d_nu: np.ndarray
    d_x: np.ndarray
    d_nunu: np.ndarray | None = None
    d_nux: np.ndarray | None = None
    d_xx: np.ndarray | None = None


def _terms(nu, x) -> int:
    zz = float(np.max(np.sqrt(nu * x))) if nu.size else 0.0
    return int(min(MAX_TERMS, np.ceil(zz + 12.0 * np.sqrt(zz) + 40.0)))


def log_probability(nu, x) -> np.ndarray:
    """ln P(‖Δr‖² > u₀) for arrays ν ≥ 0 and x ≥ 0 (see the module docstring)."""
    nu = np.asarray(nu, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    nu, x = np.broadcast_arrays(nu, x)
    out = np.empty(nu.shape)
    if out.size == 0:
        return out
    j = np.arange(_terms(nu, x), dtype=np.float64)[:, None]
    lnu = np.log(np.maximum(nu.ravel(), 1e-300))[None, :]
    xs = x.ravel()
    lower = xs <= nu.ravel() + 1.0
    res = np.empty(xs.size)
    if lower.any():   # 1 − P as a Poisson mixture of regularised lower incomplete gammas
        lo = lower
        with np.errstate(divide="ignore"):
            lg = np.log(special.gammainc(j + 1.0, xs[lo][None, :]))
        terms = -nu.ravel()[lo][None, :] + j * lnu[:, lo] - special.gammaln(j + 1.0) + lg
        log_f = special.logsumexp(terms, axis=0)
        res[lo] = np.log1p(-np.exp(np.minimum(log_f, 0.0)))
    up = ~lower
    if up.any():      # P itself, the inner partial sums of e^x kept in the log domain
        xu = xs[up][None, :]
        with np.errstate(divide="ignore"):
            lx = np.log(xu)
        log_s = np.logaddexp.accumulate(j * lx - special.gammaln(j + 1.0), axis=0)
        terms = j * lnu[:, up] - special.gammaln(j + 1.0) + log_s
        res[up] = -(nu.ravel()[up] + xs[up]) + special.logsumexp(terms, axis=0)
    out[...] = res.reshape(out.shape)
    return out


def _g1(z, scale):
    """scale · 2 I₁(z)/z, with ``scale`` = e^(−z)·(the common factor); series below 1e-4."""
    small = z < 1e-4
    zs = np.where(small, 1.0, z)
    return np.where(small, (1.0 + z * z / 8.0) * np.exp(-z), 2.0 * special.ive(1, zs) / zs) * scale


def _g2(z, scale):
    small = z < 1e-3
    zs = np.where(small, 1.0, z)
    return np.where(small, (0.5 + z * z / 24.0) * np.exp(-z), 4.0 * special.ive(2, zs) / (zs * zs)) * scale


def log_tail(nu, x, order: int = 1) -> Tail:
    """ln P(ν, x) and its derivatives (order 1: first; order 2: first and second)."""
    nu = np.asarray(nu, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    log_p = log_probability(nu, x)
    z = 2.0 * np.sqrt(nu * x)
    # e^(−ν−x)·I_k(z)/P = exp(−(√ν − √x)² − ln P) · ive(k, z)
    common = np.exp(-(np.sqrt(nu) - np.sqrt(x)) ** 2 - log_p)
    i0 = special.ive(0, z) * common
    g1 = _g1(z, common)
    out = Tail(log_p, x * g1, -i0)
    if order >= 2:
        g2 = _g2(z, common)
        l_nu, l_x = out.d_nu, out.d_x
        out.d_xx = (i0 - nu * g1) - l_x * l_x
        out.d_nux = (i0 - x * g1) - l_nu * l_x
        out.d_nunu = x * (x * g2 - g1) - l_nu * l_nu
    return out
