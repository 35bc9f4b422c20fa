"""Per-cell (unsmoothed, TRamWAy's "degraded") D, DD and DF, vectorised over all cells at once.

The drift velocity c of a cell has a closed form for any D (weighted least squares), so each model
reduces to a 1-D problem in D (profile likelihood). With a single Δt per cell and no ``−2 ln D``
term, that problem has a closed form too (reference §4.4): with Q the (drift-centred, for DD/DF)
sum of squared displacements, ``s* = Q/(4(n + 2J))`` and ``D = max(D_min, (s* − σ²)/Δt)``.
Otherwise D is found by bisection on the sign of the derivative, in log D, for all cells at once.

Uncertainty: the Laplace standard deviation of every parameter (inverse of the per-cell Hessian
of the objective at the optimum, in the parameter's own units) and, for D, a 95 % interval
(:func:`credible_interval`: the exact confidence interval from the pivot Q/(4s) ~ Gamma(n), or
the Jeffreys posterior's credible interval), both widened for the correlation of consecutive
steps (:func:`pair_correction`). With the static filter's truncation, Q is the sum of the squared
lengths beyond the threshold (memoryless exponential), and everything above holds unchanged.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import special

from .likelihood import CellLikelihood, df_curvature


def jeffreys_terms(kind: str, d: np.ndarray, dt_mean: np.ndarray, sigma2: float, order: int = 1):
    """Value, first and second derivative in D of the Jeffreys term of model ``kind``.

    D, DD: 2 ln(DΔt̄ + σ²); DF, DV: 2 ln(DΔt̄ + σ²) − 2 ln D (reference §4.10).
    """
    s = d * dt_mean + sigma2
    f = 2.0 * np.log(s)
    g = 2.0 * dt_mean / s
    h = -2.0 * dt_mean * dt_mean / (s * s)
    if kind in ("df", "dv"):
        f = f - 2.0 * np.log(d)
        g = g - 2.0 / d
        h = h + 2.0 / (d * d)
    return f, g, h


def _profile(lik: CellLikelihood, d: np.ndarray, drift: bool):
    """Optimal drift velocity (2, K) at diffusivity ``d`` and the residual sums R per entry."""
    de = d if lik.direct else d[lik.pos]
    s = de * lik.tau + lik.sigma2
    if not drift:
        return None, s, lik.sq_d
    den = lik.cell_sum(lik.ntau2 / s)
    ax = lik.cell_sum(lik.tau * lik.sx / s) / den
    ay = lik.cell_sum(lik.tau * lik.sy / s) / den
    axe = ax if lik.direct else ax[lik.pos]
    aye = ay if lik.direct else ay[lik.pos]
    r = lik.sq - 2 * lik.tau * (axe * lik.sx + aye * lik.sy) + lik.ntau2 * (axe * axe + aye * aye)
    return np.vstack([ax, ay]), s, r


def _derivative(lik, d, drift, kind, jeffreys):
    _, s, r = _profile(lik, d, drift)
    fp = lik.cell_sum(lik.tau * (lik.count - 0.25 * r / s) / s)
    if jeffreys:
        fp = fp + jeffreys_terms(kind, d, lik.dt_mean, lik.sigma2)[1]
    return fp


def solve_diffusivity(lik: CellLikelihood, kind: str, lower: float, jeffreys: bool) -> np.ndarray:
    """Per-cell minimiser D ≥ ``lower`` of the profiled objective of ``kind`` ('d', 'dd', 'df')."""
    drift = kind in ("dd", "df")
    if drift and lik.u0 > 0:
        raise ValueError("per-cell dd/df have no profile form with the static filter's truncation; fit them jointly")
    k = lik.k
    d = np.empty(k)
    single = np.bincount(lik.pos, minlength=k) == 1
    closed = single & (not (jeffreys and kind == "df"))
    if closed.any():
        # single Δt: s* = Q_c / (4 (n + 2J)), Q_c centred on the mean step for DD/DF
        q = lik.cell_sum(lik.sq if drift else lik.sq_d)
        if drift:
            sx, sy = lik.cell_sum(lik.sx), lik.cell_sum(lik.sy)
            q = q - (sx * sx + sy * sy) / lik.n
            q = np.maximum(q, 0.0)
        tau = lik.dt_mean
        s = q / (4.0 * (lik.n + (2.0 if jeffreys else 0.0)))
        d_closed = (s - lik.sigma2) / tau
        d[closed] = np.maximum(d_closed[closed], lower)
    todo = ~closed
    if todo.any():
        d[todo] = _bisect(lik, todo, drift, kind, jeffreys, lower)
    return d


def _bisect(lik, todo, drift, kind, jeffreys, lower):
    """Vectorised bisection on the sign of f'(D), in log D, for the cells in ``todo``."""
    k = lik.k
    d_lo = np.full(k, float(lower))
    fp_lo = _derivative(lik, d_lo, drift, kind, jeffreys)
    at_bound = fp_lo >= 0
    # an upper point where f' > 0: each term's own optimum, times 2, grown until f' > 0
    d_hi = np.full(k, 0.0)
    per_entry = (lik.sq if drift else lik.sq_d) / (4.0 * lik.count * lik.tau)
    np.maximum.at(d_hi, lik.pos, per_entry)
    d_hi = np.maximum(2.0 * d_hi, 4.0 * lower) + lower
    for _ in range(200):
        bad = _derivative(lik, d_hi, drift, kind, jeffreys) <= 0
        if not bad.any():
            break
        d_hi = np.where(bad, d_hi * 4.0, d_hi)
    lo, hi = np.log(d_lo), np.log(d_hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        neg = _derivative(lik, np.exp(mid), drift, kind, jeffreys) < 0
        lo = np.where(neg, mid, lo)
        hi = np.where(neg, hi, mid)
        if np.max((hi - lo)[todo]) < 1e-15:
            break
    d = np.exp(0.5 * (lo + hi))
    d = np.where(at_bound, lower, np.maximum(d, lower))
    return d[todo]


def batched_sd(h: np.ndarray) -> np.ndarray:
    """sqrt(diag(H⁻¹)) for a batch (K, p, p) of symmetric matrices; inf where H is not positive definite."""
    w, u = np.linalg.eigh(h)
    pos = w > 1e-300
    inv_w = np.where(pos, 1.0 / np.where(pos, w, 1.0), 0.0)
    var = np.einsum("kim,km->ki", u * u, inv_w)
    # weight on a non-positive eigenvalue: the variance is unbounded there
    bad = np.einsum("kim,km->ki", u * u, (~pos).astype(float)) > 1e-12
    var = np.where(bad, np.inf, var)
    return np.sqrt(var)


def fit_per_cell(kind: str, lik: CellLikelihood, lower: float, jeffreys: bool) -> dict:
    """Estimates and uncertainties of the per-cell model ``kind`` for every cell of ``lik``.

    Returns a dict of (K_fit,) arrays keyed by output column name, plus ``'objective'`` (float).
    """
    d = solve_diffusivity(lik, kind, lower, jeffreys)
    drift = kind in ("dd", "df")
    out = {"diffusivity": d}
    if drift:
        a, _, _ = _profile(lik, d, True)
        ev = lik.evaluate(d, a[0], a[1], order=2)
    else:
        ev = lik.evaluate(d, order=2)
    objective = ev.f
    jh = 0.0
    if jeffreys:
        jf, _, jh = jeffreys_terms(kind, d, lik.dt_mean, lik.sigma2, order=2)
        objective += float(jf.sum())
    if kind == "d":
        h = ev.h_dd + jh
        kappa = pair_correction(lik, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["diffusivity sd"] = np.where(h > 0, 1.0 / np.sqrt(np.where(h > 0, h * kappa, 1.0)), np.inf)
        low, high = credible_interval(lik, d, lower, jeffreys, kappa=kappa)
        out["diffusivity ci low"] = low
        out["diffusivity ci high"] = high
    elif kind == "dd":
        out["drift x"], out["drift y"] = a[0], a[1]
        h = np.zeros((lik.k, 3, 3))
        h[:, 0, 0] = ev.h_dd + jh
        h[:, 0, 1] = h[:, 1, 0] = ev.h_dc[0]
        h[:, 0, 2] = h[:, 2, 0] = ev.h_dc[1]
        h[:, 1, 1], h[:, 1, 2], h[:, 2, 2] = ev.h_cc
        h[:, 2, 1] = h[:, 1, 2]
        sd = batched_sd(h)
        out["diffusivity sd"], out["drift x sd"], out["drift y sd"] = sd[:, 0], sd[:, 1], sd[:, 2]
    else:  # df: c = D F
        fx, fy = a[0] / d, a[1] / d
        out["force x"], out["force y"] = fx, fy
        hdd, hx, hy, (fxx, fxy, fyy) = df_curvature(ev, d, fx, fy)
        h = np.zeros((lik.k, 3, 3))
        h[:, 0, 0] = hdd + jh
        h[:, 0, 1] = h[:, 1, 0] = hx
        h[:, 0, 2] = h[:, 2, 0] = hy
        h[:, 1, 1], h[:, 2, 2] = fxx, fyy
        h[:, 1, 2] = h[:, 2, 1] = fxy
        sd = batched_sd(h)
        out["diffusivity sd"], out["force x sd"], out["force y sd"] = sd[:, 0], sd[:, 1], sd[:, 2]
    out["objective"] = objective
    return out


# -- interval of D (model D) --------------------------------------------------------------------

def pair_correction(lik: CellLikelihood, d: np.ndarray) -> np.ndarray:
    """κ ≤ 1 per cell: the information of the independent-steps likelihood actually carried by the data.

    Two consecutive steps of a trajectory share a localization error, so their squared lengths
    have covariance 4σ⁴ (two axes × 2σ⁴) while the likelihood treats them as independent. With m
    such pairs among the n steps of a cell, Var(Σ‖Δr‖²) = 16 n s² (1 + m σ⁴/(2 n s²)): the
    standard deviation of D is that of the likelihood divided by √κ, κ = 1/(1 + m σ⁴/(2 n s²))
    (s = D Δt̄ + σ² at the estimate). κ = 1 without localization error or consecutive steps.
    """
    s = np.maximum(d, 0.0) * lik.dt_mean + lik.sigma2
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(s > 0, lik.pairs * lik.sigma2**2 / (2.0 * lik.n * s * s), 0.0)
    return 1.0 / (1.0 + np.nan_to_num(extra))


def credible_interval(lik: CellLikelihood, d_hat: np.ndarray, lower: float, jeffreys: bool,
                      level: float = 0.95, force_numeric: bool = False,
                      kappa: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``level`` interval of D per cell for the D model (µm²/s), clipped at ``lower``.

    Without the Jeffreys prior it is the **exact confidence interval**: with one Δt per cell,
    Q'/(4s) ~ Gamma(n) whatever D and σ (Q' = Σ‖Δr‖² − n u₀, s = DΔt + σ²), so s lies between
    Q'/(4 q₀.₉₇₅) and Q'/(4 q₀.₀₂₅) with probability 95 % — the posterior of s under the reference
    prior 1/s, inverse-gamma(n, Q'/4); D = (s − σ²)/Δt, clipped at ``lower``. With several Δt the
    same posterior is integrated numerically on a grid in ln s̄. With the Jeffreys prior it is the
    Bayesian credible interval of that posterior on D ≥ ``lower`` (inverse-gamma(n + 1, Q'/4),
    truncated). ``kappa`` (:func:`pair_correction`) tempers the likelihood (shape and scale × κ).
    ``force_numeric`` uses the numerical path everywhere (a test hook).
    """
    k = lik.k
    kappa = np.ones(k) if kappa is None else np.asarray(kappa, float)
    p_lo, p_hi = (1 - level) / 2, (1 + level) / 2
    low = np.empty(k)
    high = np.empty(k)
    single = np.bincount(lik.pos, minlength=k) == 1
    closed = single & (not force_numeric)
    if closed.any():
        q = lik.cell_sum(lik.sq_d)[closed]
        n = lik.n[closed]
        tau = lik.dt_mean[closed]
        kc = kappa[closed]
        alpha = kc * (n + (1.0 if jeffreys else 0.0))
        beta = kc * 0.25 * q
        s_min = lower * tau + lik.sigma2
        lo_c = np.full(q.shape, float(lower))
        hi_c = np.full(q.shape, np.inf)
        ok = (alpha > 0) & (beta > 0)
        if ok.any():
            a, b, sm = alpha[ok], beta[ok], s_min[ok]
            # P(s ≥ s_min): the Bayesian posterior is truncated there; the confidence interval is not
            mass = special.gammainc(a, b / sm) if jeffreys else np.ones(a.shape)
            for p, target in ((p_lo, lo_c), (p_hi, hi_c)):
                x = special.gammaincinv(a, (1 - p) * mass)
                with np.errstate(divide="ignore"):
                    s = np.where(x > 0, b / np.where(x > 0, x, 1.0), np.inf)
                target[ok] = np.maximum((s - lik.sigma2) / tau[ok], lower)
        degenerate = (alpha > 0) & (beta == 0)
        if degenerate.any():   # every step exactly at the threshold: density ∝ s^−(α+1)
            a, sm = alpha[degenerate], s_min[degenerate]
            lo_c[degenerate] = (sm * (1 - p_lo) ** (-1 / a) - lik.sigma2) / tau[degenerate]
            hi_c[degenerate] = (sm * (1 - p_hi) ** (-1 / a) - lik.sigma2) / tau[degenerate]
        low[closed], high[closed] = lo_c, hi_c
    todo = ~closed
    if todo.any():
        cells = np.flatnonzero(todo)
        lo_n, hi_n = _numeric_interval(lik, cells, d_hat[todo], lower, jeffreys, p_lo, p_hi, kappa[todo])
        low[todo], high[todo] = lo_n, hi_n
    return low, high


def _numeric_interval(lik, cells, d_hat, lower, jeffreys, p_lo, p_hi, kappa, n_grid=2049, depth=40.0):
    """Quantiles of the 1-D posterior, integrated on a grid in u = ln(DΔt̄ + σ²) per cell."""
    low = np.empty(cells.size)
    high = np.empty(cells.size)
    member = np.isin(lik.pos, cells)
    counts = np.bincount(lik.pos[member], minlength=lik.k)[cells]
    # chunks of cells so that (entries × grid) stays small
    budget = 2_000_000 // n_grid + 1
    start = 0
    while start < cells.size:
        stop = start + 1
        total = counts[start]
        while stop < cells.size and total + counts[stop] <= budget:
            total += counts[stop]
            stop += 1
        sel = slice(start, stop)
        lo_c, hi_c = _numeric_chunk(lik, cells[sel], d_hat[sel], lower, jeffreys, p_lo, p_hi, kappa[sel],
                                    n_grid, depth)
        low[sel], high[sel] = lo_c, hi_c
        start = stop
    return low, high


def _numeric_chunk(lik, cells, d_hat, lower, jeffreys, p_lo, p_hi, kappa, n_grid, depth):
    lookup = np.full(lik.k, -1)
    lookup[cells] = np.arange(cells.size)
    local = lookup[lik.pos]
    e = np.flatnonzero(local >= 0)
    kc = cells.size
    gather = sp.csr_matrix((np.ones(e.size), (local[e], np.arange(e.size))), shape=(kc, e.size))
    tau, cnt, sq = lik.tau[e][:, None], lik.count[e][:, None], lik.sq_d[e][:, None]
    tbar = lik.dt_mean[cells][:, None]
    tau_max = np.zeros(kc)
    np.maximum.at(tau_max, local[e], lik.tau[e])
    s2 = lik.sigma2
    kap = kappa[:, None]

    def log_post(u):  # u: (kc, m) grid values of ln(DΔt̄ + σ²); −ln(posterior density in u) up to a constant
        d = (np.exp(u) - s2) / tbar
        s = np.maximum(d[local[e]] * tau + s2, 1e-300)
        f = kap * (gather @ (cnt * np.log(s) + 0.25 * sq / s))
        if jeffreys:          # prior 1/s̄² on D, Jacobian s̄ of u
            f = f + 2.0 * u - u
        return f              # reference prior 1/s̄ on D: cancels the Jacobian

    if jeffreys:
        u_min = np.log(lower * tbar[:, 0] + s2)
    else:                     # the whole range where every s_j > 0 (clipped at ``lower`` afterwards)
        u_min = np.log(np.maximum(s2 * (1.0 - tbar[:, 0] / tau_max), 0.0) + 1e-300)
    u_hat = np.log(np.maximum(d_hat, lower) * tbar[:, 0] + s2)
    f_hat = log_post(u_hat[:, None])[:, 0]
    # lower end: where f − f̂ reaches ``depth`` (or the bound)
    lo_u = u_min.copy()
    deep = log_post(u_min[:, None])[:, 0] - f_hat > depth
    a, b = u_min.copy(), u_hat.copy()
    for _ in range(80):
        m = 0.5 * (a + b)
        above = log_post(m[:, None])[:, 0] - f_hat > depth
        a = np.where(above, m, a)
        b = np.where(above, b, m)
    lo_u = np.where(deep, a, lo_u)
    step = np.full(kc, 1.0)
    hi_u = u_hat + step
    for _ in range(200):
        short = log_post(hi_u[:, None])[:, 0] - f_hat < depth
        if not short.any():
            break
        step = np.where(short, 2 * step, step)
        hi_u = np.where(short, u_hat + step, hi_u)
    a, b = u_hat.copy(), hi_u.copy()
    for _ in range(60):
        m = 0.5 * (a + b)
        below = log_post(m[:, None])[:, 0] - f_hat < depth
        a = np.where(below, m, a)
        b = np.where(below, b, m)
    hi_u = b
    t = np.linspace(0.0, 1.0, n_grid)
    u = lo_u[:, None] + (hi_u - lo_u)[:, None] * t
    f = log_post(u)
    dens = np.exp(-(f - f.min(axis=1, keepdims=True)))
    du = np.diff(u, axis=1)
    cdf = np.concatenate([np.zeros((kc, 1)), np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * du, axis=1)], axis=1)
    cdf /= cdf[:, -1:]
    out = []
    for p in (p_lo, p_hi):
        idx = np.clip((cdf < p).sum(axis=1), 1, n_grid - 1)
        rows = np.arange(kc)
        c0, c1 = cdf[rows, idx - 1], cdf[rows, idx]
        w = np.where(c1 > c0, (p - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
        uq = u[rows, idx - 1] + w * (u[rows, idx] - u[rows, idx - 1])
        out.append(np.maximum((np.exp(uq) - s2) / tbar[:, 0], lower))
    return out[0], out[1]
