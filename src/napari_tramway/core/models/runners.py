"""The model runners: from a prepared fit context to per-cell columns, one runner per model.

:func:`napari_tramway.core.models.fit` builds a :class:`Context` (statistics, likelihood, the
fitted cells and their neighbour graph) and calls the registry entry's factory, which calls the
runner of :data:`RUNNERS`. Per-cell fits use :mod:`.percell`; smoothed fits and DV use
:mod:`.joint` (L-BFGS-B and the Laplace covariance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .joint import JointProblem, OptimizationResult, laplace_covariance, minimize
from .likelihood import CellLikelihood
from .operators import GradientOperator, grad1_operator, penalty_matrix
from .percell import batched_sd, fit_per_cell, pair_correction
from .priors import PotentialPrior


@dataclass
class Context:
    """Everything a model runner needs, prepared once by :func:`fit`."""

    model: str
    mesh: object
    params: dict
    lik: CellLikelihood
    cells: np.ndarray          # fitted mesh cells (with ≥ 1 step)
    adjacency: sp.csr_matrix   # neighbour graph restricted to the fitted cells
    isolated: np.ndarray
    areas: np.ndarray
    lower: float
    report: object
    cancel: object
    _gradient: GradientOperator | None = field(default=None, repr=False)
    _penalty: dict = field(default_factory=dict, repr=False)

    def gradient(self) -> GradientOperator:
        """grad1 on the fitted cells (built once per fit)."""
        if self._gradient is None:
            self._gradient = grad1_operator(self.mesh.centres[self.cells], self.adjacency,
                                            self.params["grad_selection_angle"])
        return self._gradient

    def penalty(self, weight, kind: str | None = None):
        """``weight`` × the smoothing matrix of ``kind`` (default ``rgrad``; each built once per fit),
        or None without weight."""
        if not weight:
            return None
        kind = kind or self.params["rgrad"]
        if kind not in self._penalty:
            self._penalty[kind] = penalty_matrix(kind, self.mesh.centres[self.cells], self.adjacency, self.areas,
                                                 gradient=self.gradient() if kind == "grad1" else None)
        return weight * self._penalty[kind]


@dataclass
class Output:
    columns: dict
    status: str = "converged"
    iterations: int = 0
    objective: float = math.nan
    message: str = ""
    info: dict = None
    incomplete: np.ndarray | None = None


# -- runners, one per model ------------------------------------------------------------------

def _per_cell(kind, ctx: Context) -> Output:
    cols = fit_per_cell(kind, ctx.lik, ctx.lower, ctx.params["jeffreys_prior"])
    objective = cols.pop("objective")
    return Output(cols, objective=objective, message="per cell: closed form or vectorised 1-D solve",
                   info={"solver": "per cell (closed form / vectorised bisection)",
                         "uncertainty": "laplace per cell" + (", exact credible interval" if kind == "d" else "")})


def _progress(ctx: Context, start: float = 0.05, span: float = 0.9):
    """An optimizer progress callback reporting a monotone fraction in [start, start + span]."""
    done = [0.0]
    max_iter = ctx.params["max_iter"]

    def progress(iteration, objective, fraction):
        done[0] = max(done[0], fraction)   # monotone for progress bars
        ctx.report("optimize", start + span * done[0], iteration, max_iter, objective)

    return progress


def _joint(kind, ctx: Context, problem: JointProblem, theta0: np.ndarray) -> Output:
    p = ctx.params
    res = minimize(problem, theta0, ctx.lower, max_iter=p["max_iter"], tolerance=p["tolerance"],
                   progress=_progress(ctx), cancel=ctx.cancel)
    return _summarize(kind, ctx, problem, res, solver="L-BFGS-B (scaled variables, analytic gradient)")


def _summarize(kind, ctx: Context, problem: JointProblem, res, solver: str) -> Output:
    """Columns, uncertainties (Laplace, exact Hessian) and flags of a joint fit's result."""
    ctx.report("uncertainty", 0.96, res.iterations, ctx.params["max_iter"], res.objective)
    theta = res.theta
    k = problem.k
    parts = problem.split(theta)
    cols = {}
    names = problem.blocks
    # uncertainties from the exact Hessian (natural variables)
    h = problem.hessian(theta)
    gauges = []
    keep = np.ones(problem.n, bool)
    comps = None
    if kind == "dv":
        v_idx = np.arange(k, 2 * k)
        keep[v_idx[ctx.isolated]] = False
        _, comps = connected_components(ctx.adjacency, directed=False)
        for c in np.unique(comps[~ctx.isolated]):
            members = np.flatnonzero((comps == c) & ~ctx.isolated)
            gauges.append(members + k)
    kept = np.flatnonzero(keep)
    remap = np.full(problem.n, -1)
    remap[kept] = np.arange(kept.size)
    if problem.separable:   # per-cell blocks (dd/df without priors, static filter on): exact and cheap
        m = len(names)
        hb = np.empty((k, m, m))
        for a in range(m):
            for b in range(m):
                hb[:, a, b] = h[a * k:(a + 1) * k, b * k:(b + 1) * k].diagonal()
        sd = batched_sd(hb).T.ravel()
        cov, method = None, "exact (per cell)"
    else:
        var_kept, cov, method = laplace_covariance(h[kept][:, kept], [remap[g] for g in gauges])
        var = np.full(problem.n, np.nan)
        var[kept] = var_kept
        sd = np.sqrt(var)
    for i, name in enumerate(names):
        cols[name] = parts[i].copy()
        cols[name + " sd"] = sd[i * k:(i + 1) * k]
    # consecutive steps share a localization error: D is known less well than independent steps say
    cols["diffusivity sd"] = cols["diffusivity sd"] / np.sqrt(pair_correction(ctx.lik, parts[0]))
    incomplete = None
    if kind == "dv":
        g = problem.gradient
        v = parts[1].copy()
        for c in np.unique(comps[~ctx.isolated]):
            members = (comps == c) & ~ctx.isolated
            v[members] -= v[members].min()
        v[ctx.isolated] = np.nan
        cols["potential"] = v
        cols["potential sd"] = np.where(ctx.isolated, np.nan, cols["potential sd"])
        force = -g.apply(np.where(ctx.isolated, 0.0, v))
        cols["force x"] = np.where(ctx.isolated, np.nan, force[:, 0])
        cols["force y"] = np.where(ctx.isolated, np.nan, force[:, 1])
        if cov is not None:
            vv = remap[np.arange(k, 2 * k)]
            ok = vv >= 0
            cov_v = np.zeros((k, k))
            cov_v[np.ix_(ok, ok)] = cov[np.ix_(vv[ok], vv[ok])]
            for axis, gm in (("x", g.gx), ("y", g.gy)):
                fvar = np.asarray(gm.multiply(gm @ cov_v).sum(axis=1)).ravel()
                cols[f"force {axis} sd"] = np.where(ctx.isolated, np.nan, np.sqrt(np.maximum(fvar, 0.0)))
        incomplete = g.missing.any(axis=1) & ~ctx.isolated
    elif ctx.params["rgrad"] == "grad1" and problem.p_d is not None:
        incomplete = ctx.gradient().missing.any(axis=1) & ~ctx.isolated
    info = {"solver": solver, "uncertainty": f"laplace {method}",
            "evaluations": res.evaluations, "gradient_norm": res.gradient_norm,
            "optimizer_runtime": res.runtime}
    return Output(cols, status=res.status, iterations=res.iterations, objective=res.objective,
                   message=res.message, info=info, incomplete=incomplete)


def _run_d(ctx: Context) -> Output:
    mu = ctx.params["diffusivity_prior"]
    if not mu:
        return _per_cell("d", ctx)
    problem = JointProblem("d", ctx.lik, p_d=ctx.penalty(mu), jeffreys=ctx.params["jeffreys_prior"])
    return _joint("d", ctx, problem, ctx.lik.initial_diffusivity())


def _run_drift(kind, prior_name, ctx: Context) -> Output:
    mu = ctx.params["diffusivity_prior"]
    lam = ctx.params[prior_name]
    if not mu and not lam and ctx.lik.u0 == 0:
        return _per_cell(kind, ctx)   # closed forms; with the static filter's truncation: a separable joint fit
    problem = JointProblem(kind, ctx.lik, p_d=ctx.penalty(mu), ridge=(lam * ctx.areas) if lam else None,
                           jeffreys=ctx.params["jeffreys_prior"])
    k = ctx.lik.k
    theta0 = np.concatenate([ctx.lik.initial_diffusivity(), np.zeros(2 * k)])
    return _joint(kind, ctx, problem, theta0)


def _run_dd(ctx):
    return _run_drift("dd", "drift_prior", ctx)


def _run_df(ctx):
    return _run_drift("df", "force_prior", ctx)


def _gauge(ctx: Context) -> np.ndarray:
    """(2K,) mask of the potentials held fixed: one per connected group of fitted cells."""
    k = ctx.lik.k
    _, comps = connected_components(ctx.adjacency, directed=False)
    first = np.unique(comps, return_index=True)[1]
    fixed = np.zeros(2 * k, bool)
    fixed[k + first] = True
    return fixed


def _run_dv(ctx: Context) -> Output:
    p = ctx.params
    g = ctx.gradient()
    lam, ell = p["potential_prior"], p["smoothing_length"]
    p_d = ctx.penalty(p["diffusivity_prior"])

    def make_problem(p_v):
        return JointProblem("dv", ctx.lik, p_d=p_d, p_v=p_v, gradient=g, jeffreys=p["jeffreys_prior"])

    # V⁰_i = ln(max ρ) − ln ρ_i, ρ = n/A (reference §4.7)
    rho = ctx.lik.n / ctx.areas
    v0 = np.log(rho.max()) - np.log(rho)
    theta0 = np.concatenate([ctx.lik.initial_diffusivity(), v0])
    prior = PotentialPrior(ctx, _gauge(ctx), theta0, make_problem)
    choice = None
    if lam is None:   # the default: λ (and ℓ unless given) by marginal likelihood
        try:
            lam, ell, choice = prior.search(ell=ell, cancel=ctx.cancel,
                                            report=lambda f: ctx.report("priors", 0.05 + 0.6 * f))
        except KeyboardInterrupt:
            problem = make_problem(None)
            res = OptimizationResult(prior.theta, "interrupted", 0, problem.value(prior.theta),
                                     "cancelled while choosing the priors", problem.evaluations, math.nan, 0.0)
            return _summarize("dv", ctx, problem, res, solver="Newton (exact sparse Hessian)")
    elif ell is None:
        ell = 0.0         # an explicit potential_prior alone: TRamWAy's prior
    p["potential_prior"], p["smoothing_length"] = float(lam), float(ell)
    problem, res = prior.fit(lam, ell, p["tolerance"], p["max_iter"], progress=_progress(ctx, 0.65, 0.3),
                             cancel=ctx.cancel)
    out = _summarize("dv", ctx, problem, res, solver="Newton (exact sparse Hessian)")
    out.info["priors"] = choice or {"method": "given", "potential_prior": float(lam), "smoothing_length": float(ell)}
    return out


RUNNERS = {"d": _run_d, "dd": _run_dd, "df": _run_df, "dv": _run_dv}
