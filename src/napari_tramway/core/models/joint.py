"""Joint (map-wide) objectives of the smoothed D, DD, DF models and of DV, with exact derivatives.

Variables, per fitted cell i (in this order, each block of length K):

* ``d``:  D
* ``dd``: D, a_x, a_y            (drift, µm/s)
* ``df``: D, F_x, F_y            (force, kT/µm)
* ``dv``: D, V                   (potential, kT)

Objective (reference §4.4–4.7, with the fixes of §9.3 and §9.10)::

    Σ_i NLL_i(D_i, c_i) + μ Dᵀ P_D D + [dv] λ Vᵀ P_V V + [dd/df] λ Σ_i A_i ‖a_i or F_i‖² + [J] Jeffreys

with c = 0, a, D F, −D ∇V (∇ = grad1 operator), P the area-weighted smoothing matrices of
:mod:`.operators`. Value, gradient and sparse Hessian are all exact and computed from the
sufficient statistics, so one evaluation is a few vectorised numpy passes over the (cell, Δt)
groups plus a few sparse products.

:func:`minimize` runs L-BFGS-B (scipy) on D ≥ D_min and the other variables free, in scaled
variables: ``x = w·ln D`` for D and ``x = w·θ`` otherwise, with w² the expected information of each
variable at the start (a diagonal preconditioner; the optimum is the same as TRamWAy's objective).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize as _scipy_minimize

from .hessian import DVHessian
from .lapack_nogil import spd_inverse
from .likelihood import CellLikelihood, df_curvature
from .operators import GradientOperator
from .percell import jeffreys_terms

BLOCKS = {"d": ("diffusivity",), "dd": ("diffusivity", "drift x", "drift y"),
          "df": ("diffusivity", "force x", "force y"), "dv": ("diffusivity", "potential")}


class JointProblem:
    """The objective of model ``kind`` over the cells of ``lik``.

    Parameters
    ----------
    kind : {'d', 'dd', 'df', 'dv'}
    lik : CellLikelihood
    p_d : sparse (K, K), optional
        Diffusivity smoothing matrix, already multiplied by ``diffusivity_prior`` μ.
    p_v : sparse (K, K), optional
        Potential smoothing matrix times ``potential_prior`` λ (dv).
    ridge : (K,) array, optional
        λ·A_i of the per-cell drift / force prior (dd, df).
    gradient : GradientOperator, optional
        grad1 of the potential (dv).
    jeffreys : bool
    """

    def __init__(self, kind: str, lik: CellLikelihood, *, p_d=None, p_v=None, ridge=None,
                 gradient: GradientOperator | None = None, jeffreys: bool = False):
        if kind not in BLOCKS:
            raise ValueError(kind)
        if kind == "dv" and gradient is None:
            raise ValueError("dv needs a gradient operator")
        self.kind = kind
        self.lik = lik
        self.k = lik.k
        self.blocks = BLOCKS[kind]
        self.n = self.k * len(self.blocks)
        self.p_d = None if p_d is None or p_d.nnz == 0 else sp.csr_matrix(p_d)
        self.p_v = None if p_v is None or p_v.nnz == 0 else sp.csr_matrix(p_v)
        self.ridge = None if ridge is None or not np.any(ridge) else np.asarray(ridge, float)
        self.gradient = gradient
        if gradient is not None:
            self.gx, self.gy = gradient.gx, gradient.gy
            self.gxt, self.gyt = sp.csr_matrix(gradient.gx.T), sp.csr_matrix(gradient.gy.T)
        self.jeffreys = jeffreys
        self.evaluations = 0
        self._dv_hessian = None
        #: no coupling between cells (no smoothing prior, no gradient operator)
        self.separable = self.p_d is None and self.p_v is None and kind != "dv"

    # -- helpers -------------------------------------------------------------------------
    def split(self, theta):
        k = self.k
        return [theta[i * k:(i + 1) * k] for i in range(len(self.blocks))]

    def _drift(self, parts):
        """Drift velocity per cell (cx, cy) and, for dv, the potential gradient (wx, wy)."""
        if self.kind == "d":
            return None, None, None
        if self.kind == "dd":
            return parts[1], parts[2], None
        d = parts[0]
        if self.kind == "df":
            return d * parts[1], d * parts[2], None
        v = parts[1]
        wx, wy = self.gx @ v, self.gy @ v
        return -d * wx, -d * wy, (wx, wy)

    def _priors(self, parts, with_grad=True):
        d = parts[0]
        f = 0.0
        g = [np.zeros(self.k) for _ in parts] if with_grad else None
        if self.p_d is not None:
            pd_ = self.p_d @ d
            f += float(d @ pd_)
            if with_grad:
                g[0] += 2.0 * pd_
        if self.kind == "dv" and self.p_v is not None:
            pv = self.p_v @ parts[1]
            f += float(parts[1] @ pv)
            if with_grad:
                g[1] += 2.0 * pv
        if self.kind in ("dd", "df") and self.ridge is not None:
            f += float(self.ridge @ (parts[1] ** 2 + parts[2] ** 2))
            if with_grad:
                g[1] += 2.0 * self.ridge * parts[1]
                g[2] += 2.0 * self.ridge * parts[2]
        if self.jeffreys:
            jf, jg, _ = jeffreys_terms(self.kind, d, self.lik.dt_mean, self.lik.sigma2)
            f += float(jf.sum())
            if with_grad:
                g[0] += jg
        return f, g

    # -- objective -----------------------------------------------------------------------
    def value(self, theta) -> float:
        parts = self.split(theta)
        cx, cy, _ = self._drift(parts)
        return self.lik.evaluate(parts[0], cx, cy, order=0).f + self._priors(parts, with_grad=False)[0]

    def value_grad(self, theta):
        """Objective and its gradient with respect to the natural variables."""
        self.evaluations += 1
        parts = self.split(theta)
        d = parts[0]
        cx, cy, w = self._drift(parts)
        ev = self.lik.evaluate(d, cx, cy, order=1)
        fp, g = self._priors(parts)
        f = ev.f + fp
        kind = self.kind
        if kind == "d":
            g[0] += ev.g_d
        elif kind == "dd":
            g[0] += ev.g_d
            g[1] += ev.g_c[0]
            g[2] += ev.g_c[1]
        elif kind == "df":
            g[0] += ev.g_d + ev.g_c[0] * parts[1] + ev.g_c[1] * parts[2]
            g[1] += d * ev.g_c[0]
            g[2] += d * ev.g_c[1]
        else:
            wx, wy = w
            g[0] += ev.g_d - (wx * ev.g_c[0] + wy * ev.g_c[1])
            g[1] -= self.gxt @ (d * ev.g_c[0]) + self.gyt @ (d * ev.g_c[1])
        return f, np.concatenate(g)

    def hessian(self, theta) -> sp.csr_matrix:
        """Exact sparse Hessian in the natural variables."""
        parts = self.split(theta)
        d = parts[0]
        cx, cy, w = self._drift(parts)
        ev = self.lik.evaluate(d, cx, cy, order=2)
        k = self.k
        jh = jeffreys_terms(self.kind, d, self.lik.dt_mean, self.lik.sigma2, order=2)[2] if self.jeffreys else 0.0
        pd2 = 2.0 * self.p_d if self.p_d is not None else sp.csr_matrix((k, k))
        diag = sp.diags
        kind = self.kind
        if kind == "d":
            return sp.csr_matrix(diag(ev.h_dd + jh) + pd2)
        ridge2 = 2.0 * self.ridge if self.ridge is not None else 0.0
        xx, xy, yy = ev.h_cc
        if kind == "dd":
            blocks = [[diag(ev.h_dd + jh) + pd2, diag(ev.h_dc[0]), diag(ev.h_dc[1])],
                      [diag(ev.h_dc[0]), diag(xx + ridge2), diag(xy)],
                      [diag(ev.h_dc[1]), diag(xy), diag(yy + ridge2)]]
        elif kind == "df":
            hdd, hx, hy, (fxx, fxy, fyy) = df_curvature(ev, d, parts[1], parts[2])
            hdd = hdd + jh
            blocks = [[diag(hdd) + pd2, diag(hx), diag(hy)],
                      [diag(hx), diag(fxx + ridge2), diag(fxy)],
                      [diag(hy), diag(fxy), diag(fyy + ridge2)]]
        else:
            wx, wy = w
            hdd = ev.h_dd - 2 * (ev.h_dc[0] * wx + ev.h_dc[1] * wy) + ev.quad_cc(wx, wy, wx, wy) + jh
            kx = -(d * (ev.h_dc[0] - (xx * wx + xy * wy)) + ev.g_c[0])
            ky = -(d * (ev.h_dc[1] - (xy * wx + yy * wy)) + ev.g_c[1])
            if self._dv_hessian is None:
                self._dv_hessian = DVHessian(k, self.gx, self.gy, self.p_d, self.p_v)
            d2 = d * d
            return self._dv_hessian.assemble(hdd, kx, ky, d2 * xx, d2 * xy, d2 * yy)
        return sp.csr_matrix(sp.bmat(blocks, format="csr"))

    def information(self, theta) -> np.ndarray:
        """Diagonal of the expected information (plus the priors' curvature) in the natural variables."""
        parts = self.split(theta)
        d = parts[0]
        lik = self.lik
        info_d = lik.fisher_d(d)
        if self.p_d is not None:
            info_d = info_d + 2.0 * self.p_d.diagonal()
        out = [info_d]
        if self.kind in ("dd", "df"):
            gam = lik.gamma(d)
            if self.kind == "df":
                gam = gam * d * d
            if self.ridge is not None:
                gam = gam + 2.0 * self.ridge
            out += [gam, gam]
        elif self.kind == "dv":
            gd2 = lik.gamma(d) * d * d
            info_v = self.gx.multiply(self.gx).T @ gd2 + self.gy.multiply(self.gy).T @ gd2
            if self.p_v is not None:
                info_v = info_v + 2.0 * self.p_v.diagonal()
            out.append(np.asarray(info_v).ravel())
        return np.concatenate(out)


# -- the optimizer ---------------------------------------------------------------------------

#: Upper bound of D in the joint fits (µm²/s), a numerical safeguard only.
MAX_DIFFUSIVITY = 1e6


class _Cancelled(Exception):
    """Raised inside the optimizer callback when ``cancel()`` returns True."""


@dataclass
class OptimizationResult:
    theta: np.ndarray
    status: str          # converged | max_iter | interrupted | failed
    iterations: int
    objective: float
    message: str
    evaluations: int
    gradient_norm: float  # max |projected gradient| in scaled variables at the end
    runtime: float


def minimize(problem: JointProblem, theta0: np.ndarray, lower: float, *, max_iter: int = 1000,
             tolerance: float = 1e-5, progress=None, cancel=None) -> OptimizationResult:
    """Minimise ``problem`` from ``theta0`` with D ≥ ``lower`` (L-BFGS-B, scaled variables).

    ``tolerance`` is the target max |∂f/∂x| of the scaled variables x (about the distance to the
    optimum in posterior standard deviations). ``progress(iteration, objective, fraction)`` is
    called after every iteration; ``cancel()`` returning True stops at the end of the current
    iteration and the last iterate is returned with status ``'interrupted'``. KeyboardInterrupt
    is handled the same way.
    """
    t_start = time.perf_counter()
    k = problem.k
    theta0 = np.asarray(theta0, dtype=np.float64).copy()
    theta0[:k] = np.maximum(theta0[:k], lower)
    # scaled variables: x = w·ln D (D block), x = w·θ (others)
    info = problem.information(theta0)
    info[:k] *= theta0[:k] ** 2
    for b in range(len(problem.blocks)):   # variables without information: the block's median scale
        block = info[b * k:(b + 1) * k]
        good = np.isfinite(block) & (block > 0)
        typical = float(np.median(block[good])) if good.any() else 1.0
        block[~good | (block < 1e-12 * typical)] = typical
    w = np.sqrt(info)
    log_lower = np.log(lower)

    def to_theta(x):
        theta = x / w
        theta[:k] = np.exp(theta[:k])
        return theta

    x0 = np.empty(problem.n)
    x0[:k] = np.log(theta0[:k]) * w[:k]
    x0[k:] = theta0[k:] * w[k:]
    # D ≤ MAX_DIFFUSIVITY only keeps exp() finite during line searches (no physical D comes near it)
    log_upper = np.log(max(MAX_DIFFUSIVITY, 10 * lower))
    bounds = [(log_lower * w[i], log_upper * w[i]) for i in range(k)] + [(None, None)] * (problem.n - k)
    f0 = problem.value(theta0)
    cache = {"x": None, "g": None, "f": None}

    def fun(x):
        theta = to_theta(x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f, g = problem.value_grad(theta)
        gx = g / w
        gx[:k] *= theta[:k]
        if not np.isfinite(f):
            f = np.inf
        cache["x"], cache["g"], cache["f"] = x.copy(), gx, f
        return f - f0, gx

    lower_x = log_lower * w[:k]

    upper_x = log_upper * w[:k]

    def projected_norm(x, g):
        pg = g.copy()
        at_low = x[:k] <= lower_x + 1e-10 * np.maximum(1.0, np.abs(lower_x))
        at_high = x[:k] >= upper_x - 1e-10 * np.maximum(1.0, np.abs(upper_x))
        pg[:k] = np.where((at_low & (g[:k] > 0)) | (at_high & (g[:k] < 0)), 0.0, g[:k])
        return float(np.max(np.abs(pg))) if pg.size else 0.0

    state = {"x": x0.copy(), "f": f0, "iter": 0, "g0": None}

    def callback(intermediate_result):
        x = np.asarray(intermediate_result.x)
        state["x"] = x.copy()
        state["iter"] += 1
        f = float(intermediate_result.fun) + f0
        state["f"] = f
        if progress is not None:
            g = cache["g"] if cache["x"] is not None and np.array_equal(cache["x"], x) else fun(x)[1]
            pg = projected_norm(x, g)
            if state["g0"] is None:
                state["g0"] = max(pg, tolerance * 10)
            g0 = state["g0"]
            frac = np.log(g0 / max(pg, tolerance)) / np.log(g0 / tolerance) if g0 > tolerance else 1.0
            progress(state["iter"], f, float(np.clip(frac, 0.0, 0.99)))
        if cancel is not None and cancel():
            raise _Cancelled

    status, message = "converged", ""
    options = {"maxiter": int(max_iter), "maxfun": max(15000, 20 * int(max_iter)), "ftol": 1e-13,
               "gtol": float(tolerance), "maxcor": 20, "maxls": 40}
    try:
        res = _scipy_minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                              options=options)
    except (_Cancelled, KeyboardInterrupt) as exc:
        x = state["x"]
        status = "interrupted"
        message = "cancelled" if isinstance(exc, _Cancelled) else "KeyboardInterrupt"
        f, g = fun(x)
        return OptimizationResult(to_theta(x), status, state["iter"], float(f + f0), message,
                                  problem.evaluations, projected_norm(x, g), time.perf_counter() - t_start)
    x = res.x
    f, g = fun(x)
    pg = projected_norm(x, g)
    message = str(res.message)
    if res.status == 0:
        status = "converged"
    elif res.status == 1:
        status = "max_iter"
    elif pg <= max(100 * tolerance, 1e-3):
        # the line search ran out of precision close to the optimum
        status = "converged"
    else:
        status = "failed"
    return OptimizationResult(to_theta(x), status, int(res.nit), float(f + f0), message, problem.evaluations,
                              pg, time.perf_counter() - t_start)


# -- Laplace uncertainties --------------------------------------------------------------------

DENSE_LIMIT = 3000


def laplace_covariance(h: sp.spmatrix, gauges=(), dense_limit: int = DENSE_LIMIT):
    """Marginal variances (and the dense covariance when affordable) from a Hessian.

    ``gauges`` are index arrays of variable groups the objective is invariant to shifting together
    (the potential of each connected component); the covariance is then that of the deviations
    from the group mean (pseudo-inverse restricted to the complement of the constant vector).

    Returns ``(variances, covariance or None, method)`` where ``method`` is ``'exact'`` (dense
    inverse) or ``'conditional'`` (1/diagonal: the variance given all other variables, a lower
    bound used above ``dense_limit`` variables). Directions of zero or negative curvature give an
    infinite variance.
    """
    n = h.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros((0, 0)), "exact"
    if n > dense_limit:
        diag = h.diagonal()
        with np.errstate(divide="ignore"):
            var = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), np.inf)
        return var, None, "conditional"
    a = h.toarray()                     # symmetric by construction
    scale = float(np.mean(np.abs(np.diag(a)))) or 1.0
    gauges = [np.asarray(idx) for idx in gauges if len(idx)]
    for idx in gauges:                  # + scale·z zᵀ, z the normalised indicator of the group
        a[np.ix_(idx, idx)] += scale / idx.size
    try:
        if not np.all(np.isfinite(a)):
            raise ValueError("non-finite Hessian")
        cov = spd_inverse(a)            # without holding the GIL (a GUI in this process keeps running)
        var_inf = np.zeros(n, bool)
    except (np.linalg.LinAlgError, ValueError):
        a = np.nan_to_num(h.toarray(), nan=0.0, posinf=0.0, neginf=0.0)
        for idx in gauges:
            a[np.ix_(idx, idx)] += scale / idx.size
        ev, u = np.linalg.eigh(a)
        keep = ev > 1e-10 * max(float(np.max(np.abs(ev))), 1e-300)
        cov = (u[:, keep] / ev[keep]) @ u[:, keep].T
        var_inf = (u[:, ~keep] ** 2).sum(axis=1) > 1e-8
    for idx in gauges:                  # back to the pseudo-inverse: − z zᵀ/scale
        cov[np.ix_(idx, idx)] -= 1.0 / (scale * idx.size)
    var = np.diag(cov).copy()
    var = np.where(var_inf, np.inf, np.maximum(var, 0.0))
    return var, cov, "exact"
