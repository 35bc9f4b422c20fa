"""``fit``: from a mesh, an assignment and a steps table to :class:`~napari_tramway.core.maps.Maps`."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from napari_tramway.core.errors import ParameterError
from napari_tramway.core.maps import COLUMN_ORDER, Maps

from .joint import JointProblem, laplace_covariance, minimize
from .likelihood import CellLikelihood
from .operators import GradientOperator, grad1_operator, penalty_matrix, safe_areas
from .percell import fit_per_cell
from .statistics import step_statistics

#: σ (µm) used when neither the parameter nor the data give one (TRamWAy's default, reference §4.2).
DEFAULT_SIGMA = 0.03
#: D lower bound (µm²/s) when ``min_diffusivity`` is unset (TRamWAy lets D go negative, §9.2).
DEFAULT_MIN_DIFFUSIVITY = 1e-8


@dataclass(frozen=True)
class Progress:
    """What a ``progress`` callback receives.

    Attributes
    ----------
    model : str
    stage : str
        ``'statistics'`` (start), ``'optimize'`` (after each optimizer iteration),
        ``'uncertainty'``, ``'done'``.
    fraction : float
        Estimated completion in [0, 1] (for iterations: from the decrease of the gradient towards
        the tolerance; monotone enough for a progress bar, 1.0 only at ``'done'``).
    iteration : int
        Optimizer iterations so far (0 for closed forms).
    max_iter : int or None
    objective : float or None
        Current objective value.
    """

    model: str
    stage: str
    fraction: float
    iteration: int = 0
    max_iter: int | None = None
    objective: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Context:
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
    _penalty: sp.csr_matrix | None = field(default=None, repr=False)

    def gradient(self) -> GradientOperator:
        """grad1 on the fitted cells (built once per fit)."""
        if self._gradient is None:
            self._gradient = grad1_operator(self.mesh.centres[self.cells], self.adjacency,
                                            self.params["grad_selection_angle"])
        return self._gradient

    def penalty(self, weight):
        """``weight`` × the smoothing matrix of ``rgrad`` (built once per fit), or None without weight."""
        if not weight:
            return None
        if self._penalty is None:
            kind = self.params["rgrad"]
            self._penalty = penalty_matrix(kind, self.mesh.centres[self.cells], self.adjacency, self.areas,
                                           gradient=self.gradient() if kind == "grad1" else None)
        return weight * self._penalty


@dataclass
class _Output:
    columns: dict
    status: str = "converged"
    iterations: int = 0
    objective: float = math.nan
    message: str = ""
    info: dict = None
    incomplete: np.ndarray | None = None


# -- runners, one per model ------------------------------------------------------------------

def _per_cell(kind, ctx: _Context) -> _Output:
    cols = fit_per_cell(kind, ctx.lik, ctx.lower, ctx.params["jeffreys_prior"])
    objective = cols.pop("objective")
    return _Output(cols, objective=objective, message="per cell: closed form or vectorised 1-D solve",
                   info={"solver": "per cell (closed form / vectorised bisection)",
                         "uncertainty": "laplace per cell" + (", exact credible interval" if kind == "d" else "")})


def _joint(kind, ctx: _Context, problem: JointProblem, theta0: np.ndarray) -> _Output:
    p = ctx.params
    max_iter = p["max_iter"]

    done = [0.0]

    def progress(iteration, objective, fraction):
        done[0] = max(done[0], fraction)   # monotone for progress bars
        ctx.report("optimize", 0.05 + 0.9 * done[0], iteration, max_iter, objective)

    res = minimize(problem, theta0, ctx.lower, max_iter=max_iter, tolerance=p["tolerance"],
                   progress=progress, cancel=ctx.cancel)
    ctx.report("uncertainty", 0.96, res.iterations, max_iter, res.objective)
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
    var_kept, cov, method = laplace_covariance(h[kept][:, kept], [remap[g] for g in gauges])
    var = np.full(problem.n, np.nan)
    var[kept] = var_kept
    sd = np.sqrt(var)
    for i, name in enumerate(names):
        cols[name] = parts[i].copy()
        cols[name + " sd"] = sd[i * k:(i + 1) * k]
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
    info = {"solver": "L-BFGS-B (scaled variables, analytic gradient)", "uncertainty": f"laplace {method}",
            "evaluations": res.evaluations, "gradient_norm": res.gradient_norm,
            "optimizer_runtime": res.runtime}
    return _Output(cols, status=res.status, iterations=res.iterations, objective=res.objective,
                   message=res.message, info=info, incomplete=incomplete)


def _run_d(ctx: _Context) -> _Output:
    mu = ctx.params["diffusivity_prior"]
    if not mu:
        return _per_cell("d", ctx)
    problem = JointProblem("d", ctx.lik, p_d=ctx.penalty(mu), jeffreys=ctx.params["jeffreys_prior"])
    return _joint("d", ctx, problem, ctx.lik.initial_diffusivity())


def _run_drift(kind, prior_name, ctx: _Context) -> _Output:
    mu = ctx.params["diffusivity_prior"]
    lam = ctx.params[prior_name]
    if not mu and not lam:
        return _per_cell(kind, ctx)
    problem = JointProblem(kind, ctx.lik, p_d=ctx.penalty(mu), ridge=(lam * ctx.areas) if lam else None,
                           jeffreys=ctx.params["jeffreys_prior"])
    k = ctx.lik.k
    theta0 = np.concatenate([ctx.lik.initial_diffusivity(), np.zeros(2 * k)])
    return _joint(kind, ctx, problem, theta0)


def _run_dd(ctx):
    return _run_drift("dd", "drift_prior", ctx)


def _run_df(ctx):
    return _run_drift("df", "force_prior", ctx)


def _run_dv(ctx: _Context) -> _Output:
    p = ctx.params
    g = ctx.gradient()
    mu, lam = p["diffusivity_prior"], p["potential_prior"]
    problem = JointProblem("dv", ctx.lik, p_d=ctx.penalty(mu), p_v=ctx.penalty(lam), gradient=g,
                           jeffreys=p["jeffreys_prior"])
    # V⁰_i = ln(max ρ) − ln ρ_i, ρ = n/A (reference §4.7)
    rho = ctx.lik.n / ctx.areas
    v0 = np.log(rho.max()) - np.log(rho)
    theta0 = np.concatenate([ctx.lik.initial_diffusivity(), v0])
    return _joint("dv", ctx, problem, theta0)


RUNNERS = {"d": _run_d, "dd": _run_dd, "df": _run_df, "dv": _run_dv}


# -- the entry point ---------------------------------------------------------------------------

def _resolve_sigma(params, steps):
    if params.get("sigma") is not None:
        return float(params["sigma"]), "parameter"
    value = steps.attrs.get("localization_precision") if hasattr(steps, "attrs") else None
    if value is not None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = None
        if value is not None and math.isfinite(value) and value >= 0:
            return value, "data"
    return DEFAULT_SIGMA, "default"


def fit(model: str, mesh, assignment, steps: pd.DataFrame, *, progress=None, cancel=None, **parameters) -> Maps:
    """Fit ``model`` (``'d'``, ``'dd'``, ``'df'`` or ``'dv'``) on the steps of each mesh cell.

    Parameters
    ----------
    model : str
        A name of :data:`MODELS`.
    mesh : Mesh
        Cell centres, neighbour graph and areas.
    assignment : Assignment
        Pairs (row of ``steps`` by position, cell); a step may be in several cells.
    steps : DataFrame
        Translocations with columns ``dx``, ``dy`` (µm) and ``dt`` (s); ``attrs`` may give
        ``localization_precision`` (σ, µm) and ``frame_interval`` (s).
    progress : callable, optional
        ``progress(Progress)``: at the start, after every optimizer iteration, and at the end.
    cancel : callable, optional
        ``cancel() -> bool``, polled once per optimizer iteration; True stops the fit, which
        returns its last iterate with ``status == 'interrupted'``.
    **parameters
        The model's parameters (see ``MODELS[model].parameters``); validated, unknown names refused.

    Returns
    -------
    Maps
    """
    from .registry import MODELS

    t0 = time.perf_counter()
    if model not in MODELS:
        raise ParameterError("model", f"unknown model {model!r}; known: {', '.join(MODELS)}")
    entry = MODELS[model]
    if model == "df" and "potential_prior" in parameters:
        raise ParameterError("potential_prior", "not a df parameter (TRamWAy's alias of force_prior is not "
                                                "accepted, to keep one name per setting): use force_prior")
    params = entry.validate(parameters)
    sigma, sigma_source = _resolve_sigma(params, steps)
    lower = params["min_diffusivity"] if params["min_diffusivity"] is not None else DEFAULT_MIN_DIFFUSIVITY
    params["sigma"] = sigma
    params["min_diffusivity"] = lower
    if int(assignment.n_cells) != mesh.n_cells:
        raise ValueError(f"assignment is for {assignment.n_cells} cells, mesh has {mesh.n_cells}")

    def report(stage, fraction, iteration=0, max_iter=None, objective=None):
        if progress is not None:
            progress(Progress(model, stage, float(fraction), int(iteration), max_iter,
                              None if objective is None else float(objective)))

    report("statistics", 0.0)
    stats = step_statistics(assignment, steps)
    cells = np.flatnonzero(stats.n > 0)
    k_all = mesh.n_cells
    info = {"sigma_source": sigma_source, "frame_interval": stats.frame_interval,
            "dt_groups": int(stats.n_entries), "steps": int(stats.n.sum()), "steps_dropped": stats.n_dropped,
            "steps_reversed": stats.n_flipped, "fitted_cells": int(cells.size)}
    table = pd.DataFrame({"x": mesh.centres[:, 0].astype(float), "y": mesh.centres[:, 1].astype(float),
                          "n": stats.n.astype(np.int64)}, index=pd.Index(np.arange(k_all), name="cell"))
    columns = entry.extra["columns"]

    def finish(out: _Output | None, status, iterations=0, objective=math.nan, message=""):
        full = {name: np.full(k_all, np.nan) for name in columns}
        if out is not None:
            for name, values in out.columns.items():
                arr = np.full(k_all, np.nan)
                arr[cells] = values
                full[name] = arr
        iso = np.zeros(k_all, bool)
        iso[cells] = isolated
        full["isolated"] = iso
        inc = np.zeros(k_all, bool)
        if out is not None and out.incomplete is not None:
            inc[cells] = out.incomplete
        full["incomplete gradient"] = inc
        for name in COLUMN_ORDER:
            if name in full:
                table[name] = full[name]
        for name in full:
            if name not in table.columns:
                table[name] = full[name]
        if out is not None and out.info:
            info.update(out.info)
        report("done", 1.0, iterations, params.get("max_iter"), objective if math.isfinite(objective) else None)
        return Maps(mesh=mesh, table=table, model=model, parameters=params, status=status, iterations=iterations,
                    runtime=time.perf_counter() - t0, objective=objective, message=message, info=info)

    adjacency = sp.csr_matrix(mesh.adjacency)[cells][:, cells]
    adjacency = sp.csr_matrix(adjacency.astype(bool))
    adjacency.setdiag(False)
    adjacency.eliminate_zeros()
    isolated = np.asarray(adjacency.sum(axis=1)).ravel() == 0
    if cells.size == 0:
        return finish(None, "empty", message="no step in any cell")
    if cancel is not None and cancel():
        return finish(None, "interrupted", message="cancelled before start")
    lik = CellLikelihood(stats, cells, sigma)
    ctx = _Context(model, mesh, params, lik, cells, adjacency, isolated, safe_areas(mesh.areas[cells], cells.size),
                   lower, report, cancel)
    out = entry.factory(ctx)
    return finish(out, out.status, out.iterations, out.objective, out.message)
