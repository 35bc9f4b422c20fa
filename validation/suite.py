"""The validation runs: each section simulates, fits (ours, and TRamWAy 0.7 when asked) and
returns its rows; :mod:`.report` turns them into ``docs/validation.md`` and its figures.

Sections (see ``docs/validation.md`` for what each shows):

* :func:`d_filter` — D on the issue's field: our default, the static filter with the corrected
  likelihood, the same filter uncorrected (the old default), TRamWAy (all steps; after its filter).
* :func:`d_coverage` — 95 % interval coverage of D over σ²/(DΔt) × steps per cell × D.
* :func:`dv_issue` — DV on the issue's field at 2 µm (with TRamWAy) and 1 µm.
* :func:`dv_sample` — DV on napari's sample at 1, 0.5 and 0.3 µm, and the agreement between sizes.
* :func:`location_count` — cells kept by ``min_location_count``: ours and TRamWAy's.
"""

from __future__ import annotations

import numpy as np

from . import metrics, ours, scenarios

#: σ²/(DΔt), steps per cell and D (µm²/s) of the coverage grid.
RATIOS = (0.0, 0.25, 1.0)
STEPS = (20, 200, 2000)
DIFFUSIVITIES = (0.01, 0.1, 1.0)


def _cells_for(n: int, quick: bool) -> int:
    """Cells per coverage condition: ~2,000 (SE of a 95 % coverage ≈ 0.5 %), fewer at 2,000 steps."""
    if quick:
        return {20: 600, 200: 400, 2000: 100}[n]
    return {20: 2000, 200: 2000, 2000: 900}[n]


def d_filter(seeds, tramway=None, log=print) -> dict:
    rows, figure = [], None
    for seed in seeds:
        plain = scenarios.issue_case(seed, 1.0)
        filtered = scenarios.issue_case(seed, 1.0, static_filter=True)
        runs = [("ours (default: all steps)", plain, ours.run(plain, "d")),
                ("ours, static filter + truncation-aware likelihood", filtered, ours.run(filtered, "d")),
                ("ours, static filter uncorrected (before this change)", filtered,
                 ours.run(filtered, "d", uncorrected_filter=True))]
        for method, case, (maps, seconds) in runs:
            rows.append(_d_row(method, seed, case, maps.table, seconds))
        if tramway is not None:
            for method, case in (("TRamWAy 0.7 (all steps)", plain), ("TRamWAy 0.7 after its static filter", filtered)):
                table, extra = tramway.run(case, "d", log=log, sigma=case.sigma)
                rows.append(_d_row(method, seed, case, table, extra["time"]))
        if figure is None:
            figure = {"case": plain, "ours": runs[0][2][0].table, "old": runs[2][2][0].table,
                      "old_case": filtered}
            if tramway is not None:
                figure["tramway"] = tramway.run(plain, "d", log=log, sigma=plain.sigma)[0]
        log(f"  D, seed {seed}: done")
    return {"rows": rows, "figure": figure}


def _d_row(method, seed, case, table, seconds):
    row = {"method": method, "seed": seed, "time": seconds}
    row.update({f"interior {k}": v for k, v in metrics.d_metrics(table, case, "D interior").items()})
    for zone in ("D 0.1", "D 0.5"):
        row[f"bias {zone}"] = metrics.d_metrics(table, case, zone)["bias"]
    return row


def d_coverage(quick=False, seed=0, log=print) -> dict:
    rows = []
    for ratio in RATIOS:
        for n in STEPS:
            for d in DIFFUSIVITIES:
                case = scenarios.grid_case(d, ratio, n, _cells_for(n, quick), seed=seed)
                maps, seconds = ours.run(case, "d")
                m = metrics.d_metrics(maps.table, case, "inner")
                rows.append({"ratio": ratio, "n": n, "D": d, "median steps": float(np.median(case.n[case.zones["inner"]])),
                             **m, "time": seconds})
        log(f"  coverage, σ²/(DΔt) = {ratio:g}: done")
    filtered = []
    for ratio in RATIOS:
        for d in DIFFUSIVITIES:
            case = scenarios.grid_case(d, ratio, 200, _cells_for(200, quick), seed=seed + 1, static_filter=True)
            corrected = metrics.d_metrics(ours.run(case, "d")[0].table, case, "inner")
            old = metrics.d_metrics(ours.run(case, "d", uncorrected_filter=True)[0].table, case, "inner")
            filtered.append({"ratio": ratio, "D": d, "kept": len(case.steps), "bias": corrected["bias"],
                             "coverage": corrected.get("coverage"), "old bias": old["bias"],
                             "old coverage": old.get("coverage")})
    log("  coverage with the static filter: done")
    return {"rows": rows, "filtered": filtered}


def dv_issue(seeds, tramway=None, log=print) -> dict:
    rows, figure, figure_fine, objectives = [], None, None, []
    for resolution in (2.0, 1.0):
        for seed in seeds:
            case = scenarios.issue_case(seed, resolution)
            default, t_default = ours.run(case, "dv")
            noprior, t_noprior = ours.run(case, "dv", potential_prior=0.0)
            old_demo, t_old = ours.run(case, "dv", potential_prior=0.1, diffusivity_prior=0.1)
            runs = [("ours (default: priors by marginal likelihood)", default.table, t_default, default),
                    ("ours, no prior (TRamWAy's default objective)", noprior.table, t_noprior, noprior),
                    ("ours, λ = μ = 0.1 (the old demo's priors)", old_demo.table, t_old, old_demo)]
            tw_table = None
            if tramway is not None and resolution == 2.0:
                sols = [(np.flatnonzero(m.fitted), m["diffusivity"][m.fitted], m["potential"][m.fitted])
                        for m in (noprior, default)]
                tw_table, extra = tramway.run(case, "dv", log=log, evaluate=sols, sigma=case.sigma)
                runs.append(("TRamWAy 0.7 dv (its default: no prior)", tw_table, extra["time"], None))
                objectives.append({"seed": seed, "tramway at its solution": extra["objective"][0],
                                   "tramway at ours (no prior)": extra["objective"][1],
                                   "ours (no prior), own objective": noprior.objective,
                                   "evaluations": extra["evaluations"], "tramway time": extra["time"],
                                   "ours time": t_noprior})
            for method, table, seconds, maps in runs:
                row = {"method": method, "seed": seed, "resolution": resolution, "time": seconds}
                row.update(metrics.dv_metrics(table, case, "interior"))
                well = metrics.dv_metrics(table, case, "well")
                row["well force_coverage"] = well.get("force_coverage")
                row["well potential_coverage"] = well.get("potential_coverage")
                if maps is not None:
                    row["potential_prior"] = maps.parameters["potential_prior"]
                    row["smoothing_length"] = maps.parameters["smoothing_length"]
                rows.append(row)
            if figure is None and resolution == 2.0:
                figure = {"case": case, "ours": default.table, "noprior": noprior.table, "tramway": tw_table}
            if figure_fine is None and resolution == 1.0:
                figure_fine = {"case": case, "ours": default.table, "noprior": noprior.table, "tramway": None}
            log(f"  DV, {resolution:g} µm, seed {seed}: done")
    return {"rows": rows, "objectives": objectives, "figure": figure, "figure_fine": figure_fine}


def dv_sample(log=print) -> dict:
    rows, tables = [], {}
    for resolution in (1.0, 0.5, 0.3):
        cases = scenarios.sample_cases(resolution)
        for case in cases:
            for method, params in (("ours (default)", {}), ("ours, no prior", {"potential_prior": 0.0}),
                                   ("ours, λ = μ = 0.1 (old demo)", {"potential_prior": 0.1, "diffusivity_prior": 0.1})):
                maps, seconds = ours.run(case, "dv", **params)
                m = metrics.dv_metrics(maps.table, case, "all")
                row = {"resolution": resolution, "roi": case.meta["roi"].name, "method": method, "time": seconds,
                       "potential_prior": maps.parameters["potential_prior"],
                       "smoothing_length": maps.parameters["smoothing_length"], **m}
                row["well depth"] = _well_depth(maps.table, case)
                rows.append(row)
                if method == "ours (default)":
                    tables[(resolution, case.meta["roi"].name)] = (case, maps.table)
        log(f"  sample, {resolution:g} µm: done")
    agreement = []
    for fine, coarse in ((0.5, 1.0), (0.3, 1.0)):
        for roi in ("cell 1", "cell 2", "cell 3"):
            cf, tf = tables[(fine, roi)]
            cc, tc = tables[(coarse, roi)]
            agreement.append({"roi": roi, "fine": fine, "coarse": coarse, **metrics.map_agreement(tf, cf, tc, cc)})
    return {"rows": rows, "agreement": agreement, "tables": tables}


def _well_depth(table, case) -> float:
    """Median V more than 3 µm from the well minus the minimum within 1 µm of it (cell 1), in kT;
    the truth is 8 kT minus the well's tail (≈ 7.6 kT)."""
    cx, cy = 7.5, 13.0
    if case.meta["roi"].name != "cell 1" or "potential" not in table:
        return float("nan")
    x, y = case.mesh.centres[:, 0], case.mesh.centres[:, 1]
    r = np.hypot(x - cx, y - cy)[table.index.to_numpy()]
    v = table["potential"].to_numpy()
    ok = np.isfinite(v)
    if not (ok & (r < 1.0)).any() or not (ok & (r > 3.0)).any():
        return float("nan")
    return float(np.median(v[ok & (r > 3.0)]) - np.min(v[ok & (r < 1.0)]))


def location_count(tramway=None, log=print) -> dict:
    """Cells kept by min_location_count on short trajectories (mean 4 locations), hexagons 0.5 µm."""
    from napari_tramway.core.meshes import assign
    from napari_tramway.core.trajectories import trajectory_ends

    case = scenarios.issue_case(0, 0.5, n_locations=20_000, mean_length=4.0, min_location_count=0)
    xy = case.steps[["x", "y"]].to_numpy()
    rows = []
    for threshold in (5, 10, 15, 20):
        row = {"min_location_count": threshold,
               "ours (locations)": int(np.unique(assign(case.mesh, xy, min_location_count=threshold,
                                                        ends=trajectory_ends(case.steps)).cell).size),
               "ours before (steps)": int(np.unique(assign(case.mesh, xy, min_location_count=threshold).cell).size)}
        if tramway is not None:
            row["TRamWAy 0.7"] = tramway.kept_cells(case, case.locations[["x", "y"]].to_numpy(), threshold, log=log)
        rows.append(row)
    return {"rows": rows, "cells": case.mesh.n_cells}
