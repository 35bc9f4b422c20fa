"""The common likelihood (reference §4.3) on sufficient statistics, with its derivatives.

For a set of fitted cells, each with a diffusivity D_i (µm²/s) and a drift velocity c_i (µm/s),
the negative log-likelihood is (2D normalisation, as TRamWAy)::

    NLL = Σ_steps ln π + ln(4 s) + ‖Δr − cΔt‖²/(4 s) [+ ln P(‖Δr‖² > u₀)],     s = D Δt + σ²

computed from the (cell, Δt) sums of :mod:`.statistics`. The last term is there when the steps
went through the static-step filter (only ‖Δr‖² > u₀ kept, ``min_squared_step`` = u₀ µm²): each
kept step's density is divided by the probability that the filter keeps it (:mod:`.truncation`),
so that the filter does not bias D. Without drift that term is −u₀/(4s) per step, i.e. u₀ is
subtracted from every squared step length. :meth:`CellLikelihood.evaluate` returns the value and
the per-cell derivatives with respect to D (through s) and to c; the models chain them to their
own parameters (c = a, D F or −D ∇V). Second derivatives are exact too, for the Laplace
uncertainties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .statistics import StepStatistics
from .truncation import log_tail


@dataclass
class Evaluation:
    """NLL and derivatives for every fitted cell (arrays of length K_fit)."""

    f: float
    g_d: np.ndarray                  # ∂NLL/∂D (c fixed)
    g_c: np.ndarray | None = None    # (2, K) ∂NLL/∂c
    h_dd: np.ndarray | None = None   # ∂²/∂D²
    h_dc: np.ndarray | None = None   # (2, K) ∂²/∂D∂c
    h_cc: np.ndarray | None = None   # (3, K) ∂²/∂c_x², ∂²/∂c_x∂c_y, ∂²/∂c_y² (isotropic without filter)

    def quad_cc(self, ux, uy, vx, vy):
        """uᵀ (∂²/∂c²) v per cell."""
        xx, xy, yy = self.h_cc
        return xx * ux * vx + xy * (ux * vy + uy * vx) + yy * uy * vy


def df_curvature(ev: Evaluation, d: np.ndarray, fx: np.ndarray, fy: np.ndarray):
    """Second derivatives of the NLL in (D, F) when the drift is c = D F (models df).

    From an ``order=2`` :class:`Evaluation` at c = D F: ``(∂²/∂D², ∂²/∂D∂F_x, ∂²/∂D∂F_y,
    (∂²/∂F_x², ∂²/∂F_x∂F_y, ∂²/∂F_y²))`` per cell.
    """
    xx, xy, yy = ev.h_cc
    hdd = ev.h_dd + 2 * (ev.h_dc[0] * fx + ev.h_dc[1] * fy) + ev.quad_cc(fx, fy, fx, fy)
    hx = ev.g_c[0] + d * ev.h_dc[0] + d * (xx * fx + xy * fy)
    hy = ev.g_c[1] + d * ev.h_dc[1] + d * (xy * fx + yy * fy)
    d2 = d * d
    return hdd, hx, hy, (d2 * xx, d2 * xy, d2 * yy)


class CellLikelihood:
    """The likelihood restricted to ``cells`` (mesh ids, increasing) of ``stats``.

    Cell positions 0..K_fit−1 follow the order of ``cells``. ``min_squared_step`` (µm²) is the
    static filter's threshold u₀ on ‖Δr‖² (0: no filter).
    """

    def __init__(self, stats: StepStatistics, cells: np.ndarray, sigma: float, min_squared_step: float = 0.0):
        self.cells = np.asarray(cells, dtype=np.int64)
        self.k = self.cells.size
        idx, pos = stats.subset(self.cells)
        self.pos = pos
        self.tau = stats.tau[idx]
        self.count = stats.count[idx]
        self.sx = stats.sum_dr[idx, 0]
        self.sy = stats.sum_dr[idx, 1]
        self.sq = stats.sum_sq[idx]
        self.u0 = float(min_squared_step)
        if not self.u0 >= 0:
            raise ValueError(f"min_squared_step must be ≥ 0 µm², got {min_squared_step}")
        # Σ‖Δr‖² − n u₀: the squared lengths beyond the threshold (the D model's whole dependence on the data)
        self.sq_d = self.sq - self.count * self.u0
        self.sigma2 = float(sigma) ** 2
        self.n = stats.n[self.cells].astype(np.float64)
        pairs = stats.pairs if stats.pairs is not None else np.zeros(stats.n_cells, np.int64)
        self.pairs = pairs[self.cells].astype(np.float64)
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
        trunc = None
        if drift:
            cxe = cx if self.direct else cx[pos]
            cye = cy if self.direct else cy[pos]
            ex = self.ntau * cxe - self.sx      # nτc − S
            ey = self.ntau * cye - self.sy
            c2 = cxe * cxe + cye * cye
            r = self.sq - 2 * tau * (cxe * self.sx + cye * self.sy) + self.ntau2 * c2
            if self.u0 > 0:
                nu = 0.25 * self.tau2 * c2 * inv_s
                x = 0.25 * self.u0 * inv_s
                trunc = log_tail(nu, x, order=max(order, 1))
        else:
            r = self.sq_d   # the filter's term without drift: −n u₀/(4s), folded into the sum
        r4s = 0.25 * r * inv_s
        f = float(np.sum(cnt * np.log(4.0 * s)) + np.sum(r4s)) + self.constant
        if trunc is not None:
            f += float(np.sum(cnt * trunc.log_p))
        if order == 0:
            return Evaluation(f, None)
        l_s = (cnt - r4s) * inv_s                 # ∂ℓ/∂s
        if trunc is not None:                     # ∂(n ln P)/∂s = −n (ν ∂ν + x ∂x) ln P / s
            l_s = l_s - cnt * (nu * trunc.d_nu + x * trunc.d_x) * inv_s
        g_d = self.cell_sum(tau * l_s)
        out = Evaluation(f, g_d)
        if drift:
            half_tau_inv_s = 0.5 * tau * inv_s
            gx, gy = half_tau_inv_s * ex, half_tau_inv_s * ey
            if trunc is not None:                 # ∂ν/∂c = τ² c/(2s)
                w = cnt * trunc.d_nu * 0.5 * self.tau2 * inv_s
                gx, gy = gx + w * cxe, gy + w * cye
            out.g_c = np.vstack([self.cell_sum(gx), self.cell_sum(gy)])
        if order >= 2:
            l_ss = (-cnt + 2.0 * r4s) * inv_s * inv_s
            iso = 0.5 * self.ntau2 * inv_s
            cxx = cyy = iso
            cxy = np.zeros_like(iso)
            if drift:
                k = -0.5 * tau * inv_s * inv_s                  # ∂²ℓ/∂s∂c = −τ(nτc − S)/(2s²)
                hx, hy = k * ex, k * ey
            if trunc is not None:
                t = trunc
                l_ss = l_ss + cnt * (nu * nu * t.d_nunu + 2 * nu * x * t.d_nux + x * x * t.d_xx
                                     + 2 * nu * t.d_nu + 2 * x * t.d_x) * inv_s * inv_s
                a = 0.5 * self.tau2 * inv_s                     # ∂ν/∂c = a c
                m = -cnt * (nu * t.d_nunu + x * t.d_nux + t.d_nu) * a * inv_s
                hx, hy = hx + m * cxe, hy + m * cye
                rank1 = cnt * t.d_nunu * a * a
                cxx = iso + cnt * t.d_nu * a + rank1 * cxe * cxe
                cyy = iso + cnt * t.d_nu * a + rank1 * cye * cye
                cxy = rank1 * cxe * cye
            out.h_dd = self.cell_sum(self.tau2 * l_ss)
            out.h_cc = np.vstack([self.cell_sum(cxx), self.cell_sum(cxy), self.cell_sum(cyy)])
            if drift:
                out.h_dc = np.vstack([self.cell_sum(tau * hx), self.cell_sum(tau * hy)])
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
