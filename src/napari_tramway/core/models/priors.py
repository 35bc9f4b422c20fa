"""DV's potential prior and the automatic choice of its weight and length scale.

The prior on the potential V (kT) is, up to a constant,

    −ln p(V) = λ (½ ∫ ‖∇V‖² dA + ½ ℓ² ∫ (ΔV)² dA)

discretised on the fitted cells as λ (Vᵀ P V + ℓ² Vᵀ K V): P is the smoothing matrix of
``rgrad`` (:func:`.operators.penalty_matrix`: Σ_i A_i ‖∇V_i‖² ≈ ½ ∫‖∇V‖² for ``delta0``, TRamWAy's
``potential_prior`` term) and K = 2 P₀ A⁻¹ P₀, with P₀ the ``delta0`` matrix, is the squared
finite-volume Laplacian (P₀ V ≈ −½ A ΔV; no flux through the border of the fitted cells, the
Neumann condition of the usual SPDE / thin-plate discretisations). Both integrals are properties
of the continuous field, so λ (1/kT²) and ℓ (µm) mean the same on any mesh: λ sets how much potential energy landscapes cost overall (a Gaussian
well of depth d costs λπd²/2 through the first term, whatever its width), ℓ the length below which
the curvature term smooths V. ℓ = 0 is TRamWAy's prior.

Unset, λ and ℓ are chosen by maximising the marginal likelihood (evidence) of the data,
Laplace-approximated at the posterior mode θ̂:

    ln Z(λ, ℓ) = −f(θ̂) − ½ ln det H(θ̂) + ½ ln det(2λ (P + ℓ² K))     (+ constants)

with f the minimised objective and H its Hessian, both restricted to the variables left once one
potential per connected group of cells is held fixed (V is defined up to a constant per group,
and so is the prior). The search (:meth:`PotentialPrior.search`) fits DV 10–40 times, each from
the previous solution with Newton's method (:mod:`.newton`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.sparse.linalg import splu

from .joint import JointProblem
from .newton import newton

#: Search range of λ (1/kT²).
LAMBDA_RANGE = (1e-4, 1e4)
#: Largest number of DV fits of the automatic search.
MAX_FITS = 48
#: Optimizer tolerance during the search (the final fit uses the model's ``tolerance``).
SEARCH_TOLERANCE = 1e-4


def curvature_matrix(p0: sp.spmatrix, areas) -> sp.csr_matrix:
    """K with Vᵀ K V ≈ ½ ∫ (ΔV)² dA, from the ``delta0`` matrix ``p0`` and the cell areas (µm²)."""
    return sp.csr_matrix(2.0 * (p0 @ sp.diags(1.0 / np.asarray(areas, float)) @ p0))


def _log_det(a: sp.spmatrix) -> float:
    """ln det of a symmetric positive-definite sparse matrix; −inf if it is not positive definite."""
    try:
        lu = splu(sp.csc_matrix(a), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except RuntimeError:
        return -math.inf
    d = lu.U.diagonal()
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        return -math.inf
    return float(np.sum(np.log(d)))


class PotentialPrior:
    """The matrices of the prior on the fitted cells and the DV fits that choose its weights.

    Parameters
    ----------
    ctx : runners.Context
        The fit context (likelihood, cells, neighbour graph, areas, parameters).
    fixed : (2K,) bool
        Variables held fixed in every fit (one potential per connected group of cells).
    theta0 : (2K,) array
        Starting point (D, V).
    make_problem : callable
        ``make_problem(p_v) -> JointProblem`` with the potential prior matrix ``p_v`` (or None).
    """

    def __init__(self, ctx, fixed: np.ndarray, theta0: np.ndarray, make_problem):
        self.ctx = ctx
        k = ctx.lik.k
        centres = ctx.mesh.centres[ctx.cells]
        self.p = ctx.penalty(1.0)
        self._k_mat = None
        self.fixed = fixed
        self.free_v = np.flatnonzero(~fixed[k:])
        self.theta = np.asarray(theta0, float).copy()
        self.make_problem = make_problem
        self.fits = 0
        self.best = None    # (log evidence, lam, ell, result)
        i, j = sp.triu(ctx.adjacency, 1).nonzero()
        dist = np.linalg.norm(centres[i] - centres[j], axis=1)
        self.spacing = float(np.median(dist)) if dist.size else 1.0
        span = centres.max(axis=0) - centres.min(axis=0) if k else np.zeros(2)
        self.diameter = max(float(np.hypot(*span)), self.spacing)

    @property
    def k_mat(self) -> sp.csr_matrix:
        """The curvature matrix K (built on first use)."""
        if self._k_mat is None:
            self._k_mat = curvature_matrix(self.ctx.penalty(1.0, kind="delta0"), self.ctx.areas)
        return self._k_mat

    def matrix(self, lam: float, ell: float) -> sp.csr_matrix:
        m = self.p if not ell else self.p + (ell * ell) * self.k_mat
        return sp.csr_matrix(lam * m)

    def fit(self, lam: float, ell: float, tolerance: float, max_iter: int, progress=None, cancel=None):
        problem = self.make_problem(self.matrix(lam, ell) if lam else None)
        res = newton(problem, self.theta, self.ctx.lower, fixed=self.fixed, max_iter=max_iter,
                     tolerance=tolerance, progress=progress, cancel=cancel)
        self.fits += 1
        return problem, res

    def log_evidence(self, problem: JointProblem, res, lam: float, ell: float) -> float:
        """Laplace approximation of ln Z (up to a constant that depends on neither λ nor ℓ).

        Diffusivities at their lower bound are left out of the determinant: the mode is on the
        boundary there, not a maximum of a Gaussian (their D is the bound whatever λ and ℓ).
        """
        k = self.ctx.lik.k
        out = self.fixed.copy()
        out[:k] |= res.theta[:k] <= self.ctx.lower * (1 + 1e-9)
        keep = np.flatnonzero(~out)
        h = sp.csr_matrix(problem.hessian(res.theta))[keep][:, keep]
        m = (self.p if not ell else self.p + (ell * ell) * self.k_mat)
        m = sp.csr_matrix(m)[self.free_v][:, self.free_v]
        return (-res.objective - 0.5 * _log_det(h) + 0.5 * self.free_v.size * math.log(2.0 * lam)
                + 0.5 * _log_det(m))

    def _evaluate(self, lam, ell, cancel):
        problem, res = self.fit(lam, ell, SEARCH_TOLERANCE, 200, cancel=cancel)
        if res.status == "interrupted":
            raise KeyboardInterrupt
        if res.status == "failed":
            return -math.inf
        self.theta = res.theta
        value = self.log_evidence(problem, res, lam, ell)
        if math.isfinite(value) and (self.best is None or value > self.best[0]):
            self.best = (value, lam, ell, res)
        return value

    def _best_lambda(self, ell: float, around: float | None, cancel, report) -> tuple[float, float]:
        """Brent's method on ln Z over log λ at a given ℓ: ``(ln Z, λ)``."""
        lo, hi = (math.log10(v) for v in LAMBDA_RANGE)
        if around is not None:   # the optimum moves little when ℓ doubles
            lo, hi = max(lo, math.log10(around) - 1.0), min(hi, math.log10(around) + 1.0)
        seen = {}

        def neg(u):
            if self.fits >= MAX_FITS:
                return math.inf
            value = self._evaluate(10.0 ** u, ell, cancel)
            seen[u] = value
            if report is not None:
                report(min(self.fits / MAX_FITS, 1.0))
            return -value

        minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 0.15, "maxiter": 10})
        u = max(seen, key=seen.get) if seen else lo
        return seen.get(u, -math.inf), 10.0 ** u

    def search(self, ell: float | None = None, cancel=None, report=None) -> tuple[float, float, dict]:
        """Maximise the evidence over λ, and over ℓ when ``ell`` is None; return ``(λ, ℓ, info)``.

        λ: Brent's method in log λ. ℓ: 0 (TRamWAy's prior), then 2, 4, 8… times the median
        distance between neighbouring cells up to the diameter of the fitted cells (λ re-chosen
        at each ℓ), stopping once the evidence is 2 below the best so far.
        """
        if ell is not None:
            self._best_lambda(float(ell), None, cancel, report)
        else:
            value, lam = self._best_lambda(0.0, None, cancel, report)
            length = 2.0 * self.spacing
            while length <= self.diameter and self.fits < MAX_FITS:
                v, lam_l = self._best_lambda(length, lam, cancel, report)
                if v < value - 2.0:      # clearly past the best length
                    break
                if v > value:
                    value, lam = v, lam_l
                length *= 2.0
        if self.best is None:
            raise RuntimeError("no DV fit of the prior search converged")
        log_z, lam, ell_best, res = self.best
        self.theta = res.theta
        info = {"method": "marginal likelihood (Laplace)", "potential_prior": lam,
                "smoothing_length": ell_best, "log_evidence": log_z, "fits": self.fits,
                "search": {"potential_prior": list(LAMBDA_RANGE),
                           "smoothing_length": None if ell is not None else [0.0, self.diameter]}}
        return lam, ell_best, info
