"""Accuracy and calibration metrics of a maps table against the truth of a :class:`~.scenarios.Case`.

A maps table is a DataFrame indexed by mesh cell with (some of) ``diffusivity``, ``potential``,
``force x``, ``force y`` and their ``sd`` / ``ci`` columns — ours (``Maps.table``) or TRamWAy's
(converted by :mod:`.tramway`). Cells a method did not estimate are NaN and left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def _column(table: pd.DataFrame, name: str, k: int) -> np.ndarray:
    out = np.full(k, np.nan)
    if name in table.columns:
        values = table[name]
        out[values.index.to_numpy()] = values.to_numpy(dtype=float)
    return out


def d_metrics(table: pd.DataFrame, case, zone: str = "D interior") -> dict:
    """Relative error of D (RMS, median absolute), bias, 95 % interval coverage and z-scores in ``zone``."""
    k = case.mesh.n_cells
    d = _column(table, "diffusivity", k)
    truth = case.truth["D"]
    sel = case.zones[zone] & np.isfinite(d) & np.isfinite(truth) & (case.n > 0)
    rel = d[sel] / truth[sel] - 1.0
    out = {"cells": int(sel.sum()), "rel_rms": float(np.sqrt(np.mean(rel**2))) if sel.any() else np.nan,
           "rel_median_abs": float(np.median(np.abs(rel))) if sel.any() else np.nan,
           "bias": float(np.mean(rel)) if sel.any() else np.nan,
           "median_bias": float(np.median(rel)) if sel.any() else np.nan}
    lo, hi = _column(table, "diffusivity ci low", k), _column(table, "diffusivity ci high", k)
    if np.isfinite(lo[sel]).any():
        out["coverage"] = float(np.mean((lo[sel] <= truth[sel]) & (truth[sel] <= hi[sel])))
        out["covered"] = int(np.sum((lo[sel] <= truth[sel]) & (truth[sel] <= hi[sel])))
    sd = _column(table, "diffusivity sd", k)
    if np.isfinite(sd[sel]).any():
        z = (d[sel] - truth[sel]) / sd[sel]
        out["z_mean"], out["z_sd"] = float(np.mean(z)), float(np.std(z))
    return out


def _angles(est: np.ndarray, truth: np.ndarray) -> np.ndarray:
    cos = (est * truth).sum(1) / (np.linalg.norm(est, axis=1) * np.linalg.norm(truth, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def dv_metrics(table: pd.DataFrame, case, zone: str = "interior", strong: float = 1.0) -> dict:
    """Potential correlation, force relative RMS error and median angle, and 95 % coverage of the
    potential and force intervals, in ``zone``.

    The potential is known up to a constant: its coverage compares V̂ − mean(V̂) with V − mean(V)
    over the zone (weights 1/sd²), against 1.96 ``potential sd``. The force angle is the median over
    the zone's cells where the true |F| > ``strong`` kT/µm.
    """
    k = case.mesh.n_cells
    v = _column(table, "potential", k)
    f = np.column_stack([_column(table, "force x", k), _column(table, "force y", k)])
    tv = case.truth["V"]
    tf = np.column_stack([case.truth["fx"], case.truth["fy"]])
    sel = case.zones[zone] & np.isfinite(v) & np.isfinite(f).all(1) & np.isfinite(tv) & (case.n > 0)
    out = {"cells": int(sel.sum())}
    if sel.sum() < 3:
        return out
    out["potential_r"] = float(np.corrcoef(tv[sel], v[sel])[0, 1]) if np.std(tv[sel]) > 0 else np.nan
    err = f[sel] - tf[sel]
    norm = np.sum(tf[sel] ** 2)
    out["force_rms"] = float(np.sqrt(np.sum(err**2) / norm)) if norm > 0 else np.nan
    out["force_rmse"] = float(np.sqrt(np.mean(np.sum(err**2, axis=1))))
    s = sel & (np.linalg.norm(tf, axis=1) > strong)
    out["strong_cells"] = int(s.sum())
    out["force_angle"] = float(np.median(_angles(f[s], tf[s]))) if s.any() else np.nan
    out["potential_range"] = float(np.nanmax(v[sel]) - np.nanmin(v[sel]))
    vsd = _column(table, "potential sd", k)
    ok = sel & np.isfinite(vsd)          # an infinite sd (no curvature: D at its bound) covers trivially
    if ok.any():
        w = 1.0 / np.maximum(vsd[ok], 1e-12) ** 2
        offset = np.sum(w * (v[ok] - tv[ok])) / np.sum(w)
        out["potential_coverage"] = float(np.mean(np.abs(v[ok] - offset - tv[ok]) <= Z95 * vsd[ok]))
    fsd = np.column_stack([_column(table, "force x sd", k), _column(table, "force y sd", k)])
    ok = np.isfinite(fsd[sel]).all(axis=1)
    if ok.any():
        out["force_coverage"] = float(np.mean(np.abs(err[ok]) <= Z95 * fsd[sel][ok]))
    return out


def map_agreement(fine_table: pd.DataFrame, fine_case, coarse_table: pd.DataFrame, coarse_case,
                  column: str = "potential") -> dict:
    """The fine map averaged over each coarse cell (fine cells by nearest coarse centre) against the
    coarse map: correlation and RMS difference after removing the mean difference (for V)."""
    from napari_tramway.core.meshes import nearest_cells

    kf, kc = fine_case.mesh.n_cells, coarse_case.mesh.n_cells
    vf, vc = _column(fine_table, column, kf), _column(coarse_table, column, kc)
    owner = nearest_cells(coarse_case.mesh, fine_case.mesh.centres, region=False)
    ok = np.isfinite(vf) & (owner >= 0)
    w = np.bincount(owner[ok], fine_case.n[ok].astype(float), minlength=kc)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.bincount(owner[ok], vf[ok] * fine_case.n[ok], minlength=kc) / w
    sel = np.isfinite(avg) & np.isfinite(vc) & (w > 0)
    diff = avg[sel] - vc[sel]
    diff = diff - diff.mean()
    return {"cells": int(sel.sum()), "r": float(np.corrcoef(avg[sel], vc[sel])[0, 1]),
            "rms_difference": float(np.sqrt(np.mean(diff**2))), "coarse_range": float(np.ptp(vc[sel]))}
