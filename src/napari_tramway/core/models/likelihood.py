"""The common likelihood (reference §4.3) on sufficient statistics, with its derivatives.

For a set of fitted cells, each with a diffusivity D_i (µm²/s) and a drift velocity c_i (µm/s),
the negative log-likelihood is (2D normalisation, as TRamWAy)::

    NLL = Σ_steps ln π + ln(4 s) + ‖Δr − cΔt‖²/(4 s),     s = D Δt + σ²

computed from the (cell, Δt) sums of :mod:`.statistics`. :meth:`CellLikelihood.evaluate` returns
the value and the per-cell derivatives with respect to D (through s) and to c; the models chain
them to their own parameters (c = a, D F or −D ∇V). Second derivatives are exact too, for the
Laplace uncertainties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .statistics import StepStatistics


@dataclass
class Evaluation:
    """NLL and derivatives for every fitted cell (arrays of length K_fit)."""

    f: float
    g_d: np.ndarray                  # ∂NLL/∂D (c fixed)
    g_c: np.ndarray | None = None    # (2, K) ∂NLL/∂c
    h_dd: np.ndarray | None = None   # ∂²/∂D²
    h_dc: np.ndarray | None = None   # (2, K) ∂²/∂D∂c
    gamma: np.ndarray | None = None  # ∂²/∂c² = gamma·I


def df_curvature(ev: Evaluation, d: np.ndarray, fx: np.ndarray, fy: np.ndarray):
    """Second derivatives of the NLL in (D, F) when the drift is c = D F (models df).

    From an ``order=2`` :class:`Evaluation` at c = D F: ``(∂²/∂D², ∂²/∂D∂F_x, ∂²/∂D∂F_y,
    ∂²/∂F_x² = ∂²/∂F_y²)`` per cell (the two force components do not interact).
    """
    hdd = ev.h_dd + 2 * (ev.h_dc[0] * fx + ev.h_dc[1] * fy) + ev.gamma * (fx * fx + fy * fy)
    hx = ev.g_c[0] + d * ev.h_dc[0] + d * ev.gamma * fx
    hy = ev.g_c[1] + d * ev.h_dc[1] + d * ev.gamma * fy
    return hdd, hx, hy, d * d * ev.gamma


class CellLikelihood:
    """The likelihood restricted to ``cells`` (mesh ids, increasing) of ``stats``.

    Cell positions 0..K_fit−1 follow the order of ``cells``.
    """

    def __init__(self, stats: StepStatistics, cells: np.ndarray, sigma: float):
        self.cells = np.asarray(cells, dtype=np.int64)
        self.k = self.cells.size
        idx, pos = stats.subset(self.cells)
        self.pos = pos
        self.tau = stats.tau[idx]
        self.count = stats.count[idx]
        self.sx = stats.sum_dr[idx, 0]
        self.sy = stats.sum_dr[idx, 1]
        self.sq = stats.sum_sq[idx]
        self.sigma2 = float(sigma) ** 2
        self.n = stats.n[self.cells].astype(np.float64)
        self.dt_mean = stats.dt_mean[self.cells]
        # one entry per cell, in cell order: no scatter-add needed
        self.direct = self.pos.size == self.k and np.array_equal(self.pos, np.arange(self.k))
        self.constant = float(self.count.sum() * np.log(np.pi))
        self.tau2 = self.tau * self.tau
        self.ntau = self.count * self.tau
        self.ntau2 = self.count * self.tau2

    def cell_sum(self, values: np.ndarray) -> np.ndarray:
        if self.direct:
            return values
        return np.bincount(self.pos, values, minlength=self.k)

    def evaluate(self, d: np.ndarray, cx: np.ndarray | None = None, cy: np.ndarray | None = None,
                 order: int = 1) -> Evaluation:
        """NLL at diffusivities ``d`` and drift velocities (cx, cy) per fitted cell.

        ``order=0`` gives the value only, 1 adds first derivatives, 2 second derivatives.
        """
        pos, tau, cnt = self.pos, self.tau, self.count
        de = d if self.direct else d[pos]
        s = de * tau + self.sigma2
        inv_s = 1.0 / s
        drift = cx is not None
        if drift:
            cxe = cx if self.direct else cx[pos]
            cye = cy if self.direct else cy[pos]
            ex = self.ntau * cxe - self.sx      # nτc − S
            ey = self.ntau * cye - self.sy
            r = self.sq - 2 * tau * (cxe * self.sx + cye * self.sy) + self.ntau2 * (cxe * cxe + cye * cye)
        else:
            r = self.sq
        r4s = 0.25 * r * inv_s
        f = float(np.sum(cnt * np.log(4.0 * s)) + np.sum(r4s)) + self.constant
        if order == 0:
            return Evaluation(f, None)
        l_s = (cnt - r4s) * inv_s                 # ∂ℓ/∂s
        g_d = self.cell_sum(tau * l_s)
        out = Evaluation(f, g_d)
        if drift:
            half_tau_inv_s = 0.5 * tau * inv_s
            out.g_c = np.vstack([self.cell_sum(half_tau_inv_s * ex), self.cell_sum(half_tau_inv_s * ey)])
        if order >= 2:
            l_ss = (-cnt + 2.0 * r4s) * inv_s * inv_s
            out.h_dd = self.cell_sum(self.tau2 * l_ss)
            out.gamma = self.cell_sum(0.5 * self.ntau2 * inv_s)
            if drift:
                k = -0.5 * self.tau2 * inv_s * inv_s
                out.h_dc = np.vstack([self.cell_sum(k * ex), self.cell_sum(k * ey)])
        return out

    def fisher_d(self, d: np.ndarray) -> np.ndarray:
        """Expected information on D per cell, Σ n Δt²/s² (for scaling the optimizer's variables)."""
        de = d if self.direct else d[self.pos]
        s = de * self.tau + self.sigma2
        return self.cell_sum(self.ntau2 / (s * s))

    def gamma(self, d: np.ndarray) -> np.ndarray:
        """Information on c per cell and axis, Σ n Δt²/(2 s)."""
        de = d if self.direct else d[self.pos]
        s = de * self.tau + self.sigma2
        return self.cell_sum(0.5 * self.ntau2 / s)

    # -- initial values ------------------------------------------------------------------
    def initial_diffusivity(self) -> np.ndarray:
        """TRamWAy's D⁰ = Σ‖Δr‖²/(4 n Δt̄) per cell (2D, no σ correction)."""
        q = self.cell_sum(self.sq)
        return q / (4.0 * self.n * self.dt_mean)
