"""A damped Newton method for the joint objectives, on their exact sparse Hessian.

Used for DV, whose potential prior (with a curvature term, :mod:`.priors`) couples each cell to
its second neighbours: a diagonal preconditioner is then far from the Hessian and L-BFGS-B needs
hundreds of iterations, where Newton's method converges in a few (and in one or two from the
previous solution during the search of the priors' weights).

Variables: u = ln D for the D block (D ≥ D_min: a cell at its bound with the gradient pushing
down is held there), the others as they are. Each iteration solves
(H + μ diag|H|) p = −g with a sparse LU factorisation, then backtracks along p until the
objective decreases enough (Armijo); μ (Levenberg–Marquardt damping) grows when a step fails and
shrinks when one succeeds. Variables listed in ``fixed`` (one potential per connected group of
cells: the objective does not change when a group's potentials are shifted together) stay put.
Convergence: every free variable's gradient divided by the square root of its curvature is below
``tolerance`` (about the distance to the optimum in posterior standard deviations, as for
:func:`.joint.minimize`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .joint import MAX_DIFFUSIVITY, JointProblem, OptimizationResult, _Cancelled


def _transformed(problem: JointProblem, theta: np.ndarray):
    """Value, gradient and Hessian in x = (ln D, other variables)."""
    k = problem.k
    f, g = problem.value_grad(theta)
    h = sp.csr_matrix(problem.hessian(theta))
    h.sum_duplicates()
    d = theta[:k]
    scale = np.ones(theta.size)
    scale[:k] = d
    gx = g * scale
    rows = np.repeat(np.arange(h.shape[0]), np.diff(h.indptr))
    data = h.data * scale[rows] * scale[h.indices]
    data[(rows == h.indices) & (rows < k)] += (d * g[:k])[rows[(rows == h.indices) & (rows < k)]]
    return f, gx, sp.csr_matrix((data, h.indices, h.indptr), shape=h.shape)


def _factor(a: sp.spmatrix):
    try:
        lu = splu(sp.csc_matrix(a), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except RuntimeError:   # exactly singular
        return None
    if not np.all(np.isfinite(lu.U.diagonal())):
        return None
    return lu


def newton(problem: JointProblem, theta0: np.ndarray, lower: float, *, fixed: np.ndarray | None = None,
           max_iter: int = 200, tolerance: float = 1e-5, progress=None, cancel=None) -> OptimizationResult:
    """Minimise ``problem`` from ``theta0`` with D ≥ ``lower``; same contract as :func:`.joint.minimize`."""
    t_start = time.perf_counter()
    k = problem.k
    n = problem.n
    theta = np.asarray(theta0, dtype=np.float64).copy()
    theta[:k] = np.clip(theta[:k], lower, MAX_DIFFUSIVITY)
    log_lower, log_upper = math.log(lower), math.log(MAX_DIFFUSIVITY)
    fixed = np.zeros(n, bool) if fixed is None else np.asarray(fixed, bool)
    f, g, h = _transformed(problem, theta)
    f0 = f
    mu = 0.0
    status, message = "max_iter", f"stopped after {max_iter} iterations"
    iteration = 0
    norm = math.inf
    g_first = None
    try:
        while True:
            x_d = np.log(theta[:k])
            at_bound = np.zeros(n, bool)
            at_bound[:k] = (x_d <= log_lower + 1e-12) & (g[:k] > 0)
            free = ~fixed & ~at_bound
            hd = h.diagonal()
            curv = np.where(hd > 0, hd, np.nan)
            scaled = np.abs(g[free]) / np.sqrt(np.where(np.isfinite(curv[free]), curv[free], 1.0))
            norm = float(scaled.max()) if scaled.size else 0.0
            if not math.isfinite(f):
                status, message = "failed", "the objective is not finite"
                break
            if norm <= tolerance:
                status, message = "converged", "scaled gradient below the tolerance"
                break
            if iteration >= max_iter:
                break
            idx = np.flatnonzero(free)
            hf = h[idx][:, idx]
            gf = g[idx]
            damp = np.maximum(np.abs(hf.diagonal()), 1e-12)
            stepped = tiny = False
            for _ in range(30):
                lu = _factor(hf + sp.diags(mu * damp)) if mu else _factor(hf)
                p = lu.solve(-gf) if lu is not None else None
                if p is None or not np.all(np.isfinite(p)) or gf @ p >= 0:
                    mu = max(10.0 * mu, 1e-6)
                    continue
                slope = float(gf @ p)
                if -slope <= 1e-13 * (1.0 + abs(f)):   # the Newton decrement is at rounding level
                    tiny = True
                    break
                t = 1.0
                for _ in range(40):
                    x_new = np.empty(n)
                    x_new[:k] = np.log(theta[:k])
                    x_new[k:] = theta[k:]
                    x_new[idx] += t * p
                    x_new[:k] = np.clip(x_new[:k], log_lower, log_upper)
                    cand = x_new.copy()
                    cand[:k] = np.exp(x_new[:k])
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        f_new = problem.value(cand)
                    if math.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                        stepped = True
                        break
                    t *= 0.5
                if stepped:
                    break
                mu = max(10.0 * mu, 1e-6)
            if not stepped:
                # no descent left at machine precision: converged if close enough, else failed
                if tiny:
                    status, message = "converged", "Newton decrement at rounding level"
                elif norm <= max(100 * tolerance, 1e-3):
                    status, message = "converged", "no further descent at machine precision"
                else:
                    status, message = "failed", "line search failed"
                break
            theta = cand
            mu = mu / 10.0 if mu > 1e-8 else 0.0
            iteration += 1
            f, g, h = _transformed(problem, theta)
            if progress is not None:
                if g_first is None:
                    g_first = max(norm, 10 * tolerance)
                frac = math.log(g_first / max(norm, tolerance)) / math.log(g_first / tolerance) \
                    if g_first > tolerance else 1.0
                progress(iteration, f, float(np.clip(frac, 0.0, 0.99)))
            if cancel is not None and cancel():
                raise _Cancelled
    except (_Cancelled, KeyboardInterrupt) as exc:
        status = "interrupted"
        message = "cancelled" if isinstance(exc, _Cancelled) else "KeyboardInterrupt"
    if not math.isfinite(f) and math.isfinite(f0):
        status = "failed"
    return OptimizationResult(theta, status, iteration, float(f), message, problem.evaluations, norm,
                              time.perf_counter() - t_start)
