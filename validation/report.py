"""``docs/validation.md`` and its figures (``docs/images/validation/*.png``) from the suite's results."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "validation.md"
IMAGES = ROOT / "docs" / "images" / "validation"


# -- formatting ------------------------------------------------------------------------------------

def _f(value, fmt="{:.3f}"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return fmt.format(value)


def _pct(value, digits=1):
    return _f(value, "{:." + str(digits) + "f} %") if value is None or not math.isfinite(value) else \
        f"{100 * value:.{digits}f} %"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _mean(rows, key):
    values = [r.get(key) for r in rows if r.get(key) is not None and math.isfinite(r.get(key))]
    return float(np.mean(values)) if values else float("nan")


def _pooled_coverage(rows, prefix="interior "):
    covered = sum(r.get(prefix + "covered", 0) for r in rows)
    cells = sum(r.get(prefix + "cells", 0) for r in rows if r.get(prefix + "coverage") is not None)
    return covered / cells if cells else float("nan")


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    import pandas
    import scipy

    from napari_tramway import __version__

    return (f"{cpu or 'unknown CPU'}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, napari-tramway {__version__}, numpy {numpy.__version__}, "
            f"scipy {scipy.__version__}, pandas {pandas.__version__}")


# -- figures ---------------------------------------------------------------------------------------

def _maps_figure(path, panels, title, unit, cmap="viridis", log=False, limits=None):
    """One row of mesh maps: ``panels`` = [(title, case, values per mesh cell)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    values = [np.asarray(v, float) for _, _, v in panels]
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    if log:
        finite = np.log10(finite[finite > 0])
    lo, hi = limits or (np.percentile(finite, 1), np.percentile(finite, 99))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6), constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (name, case, v) in zip(axes, panels):
        shown = np.log10(np.where(v > 0, v, np.nan)) if log else v
        ok = np.isfinite(shown)
        polys = [case.mesh.polygons[i] for i in np.flatnonzero(ok)]
        coll = PolyCollection(polys, array=shown[ok], cmap=cmap, edgecolors="face", linewidths=0.2)
        coll.set_clim(lo, hi)
        ax.add_collection(coll)
        x0, y0, x1, y1 = np.asarray(case.mesh.bounds, float)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    cb = fig.colorbar(coll, ax=list(axes), shrink=0.85)
    cb.set_label(f"log10 {unit}" if log else unit, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _column(table, name, k):
    out = np.full(k, np.nan)
    if table is not None and name in table.columns:
        out[table.index.to_numpy()] = table[name].to_numpy(float)
    return out


def _shift(v):
    return v - np.nanmin(v)


def d_figure(fig) -> str:
    case = fig["case"]
    k = case.mesh.n_cells
    panels = [("truth", case, np.where(case.n > 0, case.truth["D"], np.nan)),
              ("ours (default)", case, _column(fig["ours"], "diffusivity", k))]
    old_case = fig["old_case"]
    panels.append(("static filter, uncorrected (old)", old_case, _column(fig["old"], "diffusivity", old_case.mesh.n_cells)))
    if fig.get("tramway") is not None:
        panels.append(("TRamWAy 0.7", case, _column(fig["tramway"], "diffusivity", k)))
    name = "d-issue-field.png"
    _maps_figure(IMAGES / name, panels, "D on the issue's field (seed 0, hexagons 1 µm)", "D (µm²/s)", log=True)
    errors = [(title, c, v / c.truth["D"] - 1.0) for title, c, v in panels[1:]]
    _maps_figure(IMAGES / "d-issue-field-error.png", errors, "Relative error of D, D̂/D − 1 (seed 0)",
                 "relative error", cmap="RdBu_r", limits=(-0.3, 0.3))
    return name


def dv_figure(fig, name="dv-issue-field.png") -> str:
    case = fig["case"]
    k = case.mesh.n_cells
    fitted = case.n > 0
    panels = [("truth (cell means)", case, np.where(fitted, _shift(np.where(fitted, case.truth["V"], np.nan)), np.nan)),
              ("ours (default)", case, _column(fig["ours"], "potential", k)),
              ("ours, no prior", case, _column(fig["noprior"], "potential", k))]
    if fig.get("tramway") is not None:
        panels.append(("TRamWAy 0.7 (no prior)", case, _shift(_column(fig["tramway"], "potential", k))))
    res = case.meta["resolution"]
    _maps_figure(IMAGES / name, panels, f"Potential on the issue's field (seed 0, hexagons {res:g} µm)", "V (kT)",
                 cmap="magma", limits=(0.0, 12.0))
    return name


def sample_figure(tables) -> str:
    """The three ROIs together, per mesh size: truth, then ours at 1, 0.5 and 0.3 µm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    resolutions = sorted({r for r, _ in tables}, reverse=True)
    fig, axes = plt.subplots(1, len(resolutions) + 1, figsize=(3.6 * (len(resolutions) + 1), 3.8),
                             constrained_layout=True)
    lo, hi = 0.0, 10.0
    for col, res in enumerate([None, *resolutions]):
        ax = axes[col]
        for roi in ("cell 1", "cell 2", "cell 3"):
            case, table = tables[(res or resolutions[-1], roi)]
            k = case.mesh.n_cells
            if res is None:     # V is defined up to a constant per ROI: both shown with their minimum at 0
                v = _shift(np.where(case.n > 0, case.truth["V"], np.nan))
            else:
                v = _column(table, "potential", k)
            ok = np.isfinite(v)
            coll = PolyCollection([case.mesh.polygons[i] for i in np.flatnonzero(ok)], array=v[ok], cmap="magma",
                                  edgecolors="face", linewidths=0.1)
            coll.set_clim(lo, hi)
            ax.add_collection(coll)
        ax.set_xlim(0, 25.6)
        ax.set_ylim(25.6, 0)
        ax.set_aspect("equal")
        ax.set_title("truth (cell means)" if res is None else f"ours, default priors, {res:g} µm", fontsize=9)
        ax.tick_params(labelsize=7)
    cb = fig.colorbar(coll, ax=list(axes), shrink=0.85)
    cb.set_label("V (kT)", fontsize=8)
    fig.suptitle("DV on napari's sample (as the demo runs it): one 8 kT well in cell 1, none elsewhere", fontsize=10)
    name = "dv-sample.png"
    fig.savefig(IMAGES / name, dpi=110)
    plt.close(fig)
    return name


def coverage_figure(rows) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
    labels = [f"{r['ratio']:g}|{r['n']}|{r['D']:g}" for r in rows]
    cov = [100 * r["coverage"] for r in rows]
    se = [100 * math.sqrt(0.95 * 0.05 / max(r["cells"], 1)) for r in rows]
    ax.axhspan(93, 97, color="tab:green", alpha=0.15, label="93–97 %")
    ax.errorbar(range(len(rows)), cov, yerr=[1.96 * s for s in se], fmt="o", ms=3, capsize=2)
    ax.axhline(95, color="k", lw=0.6)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_xlabel("σ²/(DΔt) | steps per cell | D (µm²/s)", fontsize=8)
    ax.set_ylabel("coverage of the 95 % interval (%)", fontsize=8)
    ax.set_ylim(88, 100)
    ax.legend(fontsize=7, loc="lower right")
    name = "d-coverage-grid.png"
    fig.savefig(IMAGES / name, dpi=110)
    plt.close(fig)
    return name


# -- the document ----------------------------------------------------------------------------------

def _group(rows, key="method"):
    out = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def _seeds(rows, key, fmt):
    return " / ".join(fmt(r.get(key)) for r in rows)


def d_section(res) -> list[str]:
    lines = ["## 1. D on the issue's field: the static filter and TRamWAy", "",
             "Issue field (10×10 µm; D = 0.1 µm²/s for x < 5 µm, 0.5 beyond; 8 kT well of width 1 µm at "
             "(6.5, 5) µm; σ = 0.02 µm; Δt = 0.02 s; 100k locations, 10 per trajectory on average; "
             "reflecting walls), hexagons of 1 µm, `min_location_count` 20, model `d` with default "
             "parameters (σ given). *Interior*: cells ≥ 1 µm from the walls and from the D step, ≥ 2.5 µm "
             "from the well (where the D-only model is exact). Relative error: RMS over interior cells of "
             "D̂/D − 1 (mean over seeds); bias: mean of D̂/D − 1 in each zone; coverage: interior cells whose "
             "95 % interval contains the truth, pooled over seeds.", ""]
    header = ["method", "interior rel. error", "per seed", "bias D = 0.1", "bias D = 0.5", "95 % coverage",
              "mean z", "cells", "fit time (s)"]
    body = []
    for method, rows in _group(res["rows"]).items():
        body.append([method, _pct(_mean(rows, "interior rel_rms")), _seeds(rows, "interior rel_rms", _pct),
                     _pct(_mean(rows, "bias D 0.1")), _pct(_mean(rows, "bias D 0.5")),
                     _pct(_pooled_coverage(rows)), _f(_mean(rows, "interior z_mean"), "{:+.2f}"),
                     sum(r["interior cells"] for r in rows), _f(float(np.median([r["time"] for r in rows])), "{:.3f}")])
    lines += [_table(header, body), ""]
    return lines


def coverage_section(res, figure) -> list[str]:
    rows = res["rows"]
    cov = [r["coverage"] for r in rows]
    lines = ["## 2. D: calibrated intervals over a grid of conditions", "",
             "Homogeneous Brownian motion (`core.simulate.simulate_walks`, 10 locations per trajectory, "
             "Δt = 0.02 s), squares of 1 µm (the ring along the reflecting walls left out), model `d` with "
             "default parameters. Coverage of the 95 % interval (`diffusivity ci low/high`), z-scores "
             "(D̂ − D)/sd, and bias: mean and median of D̂/D − 1 (at 20 steps the mean is pulled up by the "
             "right skew of D̂ and its clip at D ≥ 0; the median and the interval are not). "
             f"Coverage ranges over **{100 * min(cov):.1f}–{100 * max(cov):.1f} %** "
             f"(pooled {100 * np.average(cov, weights=[r['cells'] for r in rows]):.1f} %); the standard "
             "error of one condition's coverage is 0.5 % (2,000 cells) or 0.7 % (900 cells at 2,000 steps).", "",
             f"![coverage](images/validation/{figure})", ""]
    header = ["σ²/(DΔt)", "steps/cell", "D (µm²/s)", "median steps", "cells", "coverage", "mean z", "sd z",
              "mean bias", "median bias"]
    body = [[f"{r['ratio']:g}", r["n"], f"{r['D']:g}", f"{r['median steps']:.0f}", r["cells"], _pct(r["coverage"]),
             _f(r.get("z_mean"), "{:+.2f}"), _f(r.get("z_sd"), "{:.2f}"), _pct(r["bias"], 2),
             _pct(r["median_bias"], 2)] for r in rows]
    lines += [_table(header, body), "",
              "With the static filter on (≈ 200 steps per cell before filtering): the likelihood conditioned on "
              "the filter against the filter left uncorrected (the previous default).", ""]
    header = ["σ²/(DΔt)", "D (µm²/s)", "steps kept", "bias (corrected)", "coverage (corrected)", "bias (uncorrected)",
              "coverage (uncorrected)"]
    body = [[f"{r['ratio']:g}", f"{r['D']:g}", r["kept"], _pct(r["bias"], 2), _pct(r["coverage"]),
             _pct(r["old bias"], 1), _pct(r["old coverage"])] for r in res["filtered"]]
    lines += [_table(header, body), ""]
    return lines


def dv_section(res) -> list[str]:
    lines = ["## 3. DV on the issue's field", "",
             "Same data as §1, model `dv`. *Interior*: cells whose centre is ≥ 1 µm from the walls (the "
             "reflecting walls push walkers back: a real effective force the simulated potential does not "
             "contain). Potential r: Pearson correlation with the cell means of the true V; force error: "
             "√(Σ‖F̂ − F‖² / Σ‖F‖²) over the interior; angle: median angle between F̂ and F where |F| > 1 kT/µm; "
             "coverage: cells (potential: after the best constant shift) or force components within 1.96 sd "
             "(interior, and within 2 µm of the well). Fit time with one BLAS thread (TRamWAy: its inference "
             "call). Values are means over the seeds (per seed after the slash-separated lists).", ""]
    for resolution in (2.0, 1.0):
        rows = [r for r in res["rows"] if r["resolution"] == resolution]
        if not rows:
            continue
        lines += [f"### Hexagons {resolution:g} µm", ""]
        header = ["method", "potential r", "per seed", "force error", "per seed", "force angle", "V coverage",
                  "F coverage", "F coverage (well)", "λ (1/kT²)", "ℓ (µm)", "fit time (s)"]
        body = []
        for method, group in _group(rows).items():
            body.append([method, _f(_mean(group, "potential_r")), _seeds(group, "potential_r", _f),
                         _pct(_mean(group, "force_rms")), _seeds(group, "force_rms", _pct),
                         _f(_mean(group, "force_angle"), "{:.1f}°"), _pct(_mean(group, "potential_coverage")),
                         _pct(_mean(group, "force_coverage")), _pct(_mean(group, "well force_coverage")),
                         _f(_mean(group, "potential_prior"), "{:.3g}"), _f(_mean(group, "smoothing_length"), "{:.2g}"),
                         _f(float(np.median([g["time"] for g in group])), "{:.3f}")])
        lines += [_table(header, body), ""]
    if res["objectives"]:
        lines += ["TRamWAy's own DV objective (NLL, no prior) at its solution and at ours (no prior), on the "
                  "same mesh; ours reaches the lower value:", ""]
        header = ["seed", "TRamWAy at its solution", "TRamWAy's objective at ours", "ours (own evaluation)",
                  "TRamWAy evaluations", "TRamWAy time (s)", "ours time (s)"]
        body = [[o["seed"], f"{o['tramway at its solution']:.4f}", f"{o['tramway at ours (no prior)']:.4f}",
                 f"{o['ours (no prior), own objective']:.4f}", o["evaluations"], f"{o['tramway time']:.0f}",
                 f"{o['ours time']:.3f}"] for o in res["objectives"]]
        lines += [_table(header, body), ""]
    return lines


def sample_section(res) -> list[str]:
    lines = ["## 4. DV on napari's sample (the demo)", "",
             "`napari_tramway.demo` / `scripts/demo.sh --headless`: the sample's three ROIs (its cells, "
             "enlarged 5 %), hexagons, model `dv`. Cell 1 holds an 8 kT well (width 1.5 µm, D = 0.2 µm²/s); "
             "cells 2 and 3 have none, so every potential there is invented. V range: max − min of V̂ in "
             "the ROI (truth: ≈ 7.6 kT in cell 1, 0 elsewhere); well depth: median V̂ > 3 µm from the well "
             "minus the minimum within 1 µm of it.", ""]
    header = ["mesh", "ROI", "method", "λ (1/kT²)", "ℓ (µm)", "potential r", "V range (kT)", "well depth (kT)",
              "V coverage", "F coverage", "fit time (s)"]
    body = [[f"{r['resolution']:g} µm", r["roi"], r["method"], _f(r["potential_prior"], "{:.3g}"),
             _f(r["smoothing_length"], "{:.2g}"), _f(r.get("potential_r")), _f(r.get("potential_range"), "{:.2f}"),
             _f(r.get("well depth"), "{:.2f}"), _pct(r.get("potential_coverage")), _pct(r.get("force_coverage")),
             _f(r["time"], "{:.2f}")] for r in res["rows"]]
    lines += [_table(header, body), "",
              "Mesh-size invariance of the default: each fine map averaged over the coarse cells (fine cells by "
              "nearest coarse centre, weighted by steps) against the coarse map.", ""]
    header = ["ROI", "fine / coarse (µm)", "cells", "r", "RMS difference (kT)", "coarse V range (kT)"]
    body = [[a["roi"], f"{a['fine']:g} / {a['coarse']:g}", a["cells"], _f(a["r"]), _f(a["rms_difference"], "{:.2f}"),
             _f(a["coarse_range"], "{:.2f}")] for a in res["agreement"]]
    lines += [_table(header, body), ""]
    return lines


def count_section(res) -> list[str]:
    has_tw = any("TRamWAy 0.7" in r for r in res["rows"])
    lines = ["## 5. `min_location_count`: what is counted", "",
             f"Issue field with short trajectories (4 locations on average), 20k locations, hexagons of 0.5 µm "
             f"({res['cells']} cells): cells kept. TRamWAy assigns locations (trajectory ends included); ours "
             "now counts the same, where it counted steps before.", ""]
    header = ["min_location_count", "ours (locations)", "ours before (steps)"] + (["TRamWAy 0.7"] if has_tw else [])
    body = [[r["min_location_count"], r["ours (locations)"], r["ours before (steps)"]]
            + ([r.get("TRamWAy 0.7", "—")] if has_tw else []) for r in res["rows"]]
    return lines + [_table(header, body), ""]


def summary_section(results) -> list[str]:
    """The issue's acceptance numbers, computed from the sections below."""
    out = ["## Summary", ""]
    d = _group(results.get("d_filter", {}).get("rows", []))
    ours_d = d.get("ours (default: all steps)")
    tw_d = d.get("TRamWAy 0.7 (all steps)")
    if ours_d:
        text = (f"* **D, issue field, defaults**: interior relative error {_pct(_mean(ours_d, 'interior rel_rms'))}"
                + (f" (TRamWAy 0.7: {_pct(_mean(tw_d, 'interior rel_rms'))})" if tw_d else "")
                + f", 95 % interval coverage {_pct(_pooled_coverage(ours_d))} over {len(ours_d)} seeds; "
                f"the old default (static filter, uncorrected): "
                f"{_pct(_mean(d['ours, static filter uncorrected (before this change)'], 'interior rel_rms'))}, "
                f"coverage {_pct(_pooled_coverage(d['ours, static filter uncorrected (before this change)']))}.")
        out.append(text)
    cov = results.get("d_coverage", {}).get("rows")
    if cov:
        values = [r["coverage"] for r in cov]
        out.append(f"* **D intervals** over σ²/(DΔt) 0–1 × 20–2,000 steps × D 0.01–1 µm²/s ({len(cov)} conditions): "
                   f"coverage {100 * min(values):.1f}–{100 * max(values):.1f} %.")
    dv = [r for r in results.get("dv_issue", {}).get("rows", []) if r["resolution"] == 2.0]
    if dv:
        g = _group(dv)
        o = g["ours (default: priors by marginal likelihood)"]
        t = g.get("TRamWAy 0.7 dv (its default: no prior)")
        n = g["ours, no prior (TRamWAy's default objective)"]
        out.append(f"* **DV, issue field, 2 µm, defaults**: potential r {_f(_mean(o, 'potential_r'))}"
                   + (f" (TRamWAy {_f(_mean(t, 'potential_r'))})" if t else "")
                   + f", force error {_pct(_mean(o, 'force_rms'))}"
                   + (f" (TRamWAy {_pct(_mean(t, 'force_rms'))})" if t else "")
                   + f", force angle {_f(_mean(o, 'force_angle'), '{:.1f}°')} (before: no prior, "
                   f"{_f(_mean(n, 'force_angle'), '{:.1f}°')}), fit {_f(float(np.median([r['time'] for r in o])), '{:.2f}')} s"
                   + (f" (TRamWAy {_f(float(np.median([r['time'] for r in t])), '{:.0f}')} s)" if t else "") + ".")
    fine = [r for r in results.get("dv_issue", {}).get("rows", []) if r["resolution"] == 1.0]
    if fine:
        o = _group(fine)["ours (default: priors by marginal likelihood)"]
        out.append(f"* **DV, issue field, 1 µm, defaults**: potential r {_f(_mean(o, 'potential_r'))}, force error "
                   f"{_pct(_mean(o, 'force_rms'))}; interval coverage V {_pct(_mean(o, 'potential_coverage'))}, "
                   f"F {_pct(_mean(o, 'force_coverage'))}, F near the well {_pct(_mean(o, 'well force_coverage'))}.")
    sample = [r for r in results.get("dv_sample", {}).get("rows", []) if r["method"] == "ours (default)"]
    if sample:
        flat = max(r["potential_range"] for r in sample if r["roi"] != "cell 1")
        well = [r for r in sample if r["roi"] == "cell 1"]
        out.append(f"* **Demo (sample) potential, defaults, 1 / 0.5 / 0.3 µm**: largest V range in the cells without "
                   f"a well {flat:.2f} kT (no invented well); the well: r "
                   + " / ".join(_f(r["potential_r"], "{:.2f}") for r in well) + ", depth "
                   + " / ".join(_f(r["well depth"], "{:.1f}") for r in well) + " kT.")
    return out + [""]


def write(results: dict, meta: dict) -> Path:
    IMAGES.mkdir(parents=True, exist_ok=True)
    figures = {}
    if results.get("d_filter", {}).get("figure"):
        figures["d"] = d_figure(results["d_filter"]["figure"])
    if results.get("dv_issue", {}).get("figure"):
        figures["dv"] = dv_figure(results["dv_issue"]["figure"])
    if results.get("dv_issue", {}).get("figure_fine"):
        figures["dv_fine"] = dv_figure(results["dv_issue"]["figure_fine"], "dv-issue-field-1um.png")
    if results.get("dv_sample"):
        figures["sample"] = sample_figure(results["dv_sample"]["tables"])
    if results.get("d_coverage"):
        figures["coverage"] = coverage_figure(results["d_coverage"]["rows"])
    lines = ["# Validation: our models against the truth and against TRamWAy 0.7", "",
             "Generated by `python -m validation" + (" --tramway" if meta["tramway"] else "") + "` "
             f"(from the repository root; {meta['duration']:.0f} s on {meta['date']}). Do not edit by hand: "
             "rerun the command. `--tramway` also runs TRamWAy 0.7 in its own virtual environment "
             "(`validation/.venv-tramway`, created on first use; its results are cached in `validation/.cache`).", "",
             f"* Machine: {machine()}.",
             f"* TRamWAy: {meta.get('tramway_versions', 'not run (add --tramway)')}.",
             f"* Seeds: {', '.join(str(s) for s in meta['seeds'])}.", "",
             "TRamWAy runs on **our** mesh and assignment (the same cells, neighbours, areas and steps), so the "
             "two programs are compared on identical inputs. σ is the true one for every method.", ""]
    lines += summary_section(results)
    if "d_filter" in results:
        lines += d_section(results["d_filter"])
        if "d" in figures:
            lines += [f"![D maps](images/validation/{figures['d']})", "",
                      "![D errors](images/validation/d-issue-field-error.png)", ""]
    if "d_coverage" in results:
        lines += coverage_section(results["d_coverage"], figures["coverage"])
    if "dv_issue" in results:
        lines += dv_section(results["dv_issue"])
        for key in ("dv", "dv_fine"):
            if key in figures:
                lines += [f"![DV maps](images/validation/{figures[key]})", ""]
    if "dv_sample" in results:
        lines += sample_section(results["dv_sample"])
        lines += [f"![sample maps](images/validation/{figures['sample']})", ""]
    if "location_count" in results:
        lines += count_section(results["location_count"])
    DOC.write_text("\n".join(lines), encoding="utf-8")
    return DOC
