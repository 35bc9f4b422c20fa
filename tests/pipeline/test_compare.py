"""Comparing conditions: the replicate is a file, the interval comes from resampling files, and its
coverage is measured against simulated truth (no p-value anywhere)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_tramway.pipeline import compare as C


def cells_table(file_d: dict[str, list[float]], cells_per_file: int = 60, cell_sd: float = 0.3, seed: int = 0,
                labels_key: str = "condition") -> pd.DataFrame:
    """Per-cell values as :func:`cell_values` gives them: ``cells_per_file`` mesh cells per file,
    log-normal around the file's D, with translocation counts as weights."""
    rng = np.random.default_rng(seed)
    parts = []
    k = 0
    for cond, ds in file_d.items():
        for d in ds:
            n = rng.integers(5, 200, size=cells_per_file)
            parts.append(pd.DataFrame({labels_key: cond, "unit": f"f{k}/all", "file": f"f{k}", "region": "all",
                                       "t0 [s]": np.nan, "cell": np.arange(cells_per_file), "n": n,
                                       "diffusivity": d * np.exp(rng.normal(0, cell_sd, cells_per_file)),
                                       "|force|": d * 10 + rng.normal(0, 0.1, cells_per_file)}))
            k += 1
    out = pd.concat(parts, ignore_index=True)
    out.attrs["label_keys"] = [labels_key]
    return out


def test_the_replicate_is_the_file_not_the_mesh_cell():
    # same condition D, but files differ (20 % between files) and each file has many cells: the
    # interval must reflect the spread of the files, not the thousands of mesh cells
    rng = np.random.default_rng(1)
    d = {"control": list(0.1 * np.exp(rng.normal(0, 0.2, 5))), "treated": list(0.1 * np.exp(rng.normal(0, 0.2, 5)))}
    cells = cells_table(d, cells_per_file=2000, cell_sd=0.05)
    c = C.compare(cells, "diffusivity", seed=0)
    assert c.n_reference == c.n_other == 5 and c.replicate == "file"
    # the naive interval treating 10 000 mesh cells per condition as independent is ~100 times narrower
    naive = []
    for cond in ("control", "treated"):
        v = np.log(cells.loc[cells["condition"] == cond, "diffusivity"].to_numpy())
        naive.append((v.mean(), v.std(ddof=1) / np.sqrt(v.size)))
    naive_width = 2 * 1.96 * np.hypot(naive[0][1], naive[1][1])
    ours = np.log(c.high) - np.log(c.low)
    print(f"\nlog-ratio interval width: over files {ours:.3f}, over mesh cells (wrong) {naive_width:.4f}")
    assert ours > 20 * naive_width
    reps = C.replicate_values(cells, "diffusivity")
    assert len(reps) == 10 and set(reps.columns) == {"condition", "file", "value", "units", "cells", "translocations"}
    assert not any("p" == k or "p_value" in k for k in c.to_dict())


def test_ratio_for_diffusivity_difference_for_the_others():
    cells = cells_table({"control": [0.1, 0.11, 0.09, 0.1], "treated": [0.08, 0.085, 0.075, 0.08]}, cell_sd=0.01)
    c = C.compare(cells, "diffusivity", "control", "treated", seed=0)
    assert c.effect == "ratio" and c.estimate == pytest.approx(0.8, rel=0.03) and c.covers(c.estimate)
    assert "treated / control" in c.describe() and "fragile" in c.describe()  # 4 files per condition
    f = C.compare(cells, "|force|", "control", "treated", seed=0)
    assert f.effect == "difference" and f.unit == "kT/µm" and f.estimate == pytest.approx(-0.2, abs=0.03)
    assert "treated − control" in f.describe() and "kT/µm" in f.describe()
    desc = C.describe_conditions(cells, "diffusivity")
    assert desc["condition"].tolist() == ["control", "treated"] and desc["replicates"].tolist() == [4, 4]
    assert desc.attrs["centre"] == "geometric mean"
    assert desc.loc[0, "replicate centre"] == pytest.approx(c.reference_value)
    two = C.compare(cells, "diffusivity", "control", "treated", seed=0, resample_cells=True, n_resamples=2000)
    assert two.low <= two.estimate <= two.high and "two-stage" in two.method


def test_problems_are_one_clear_error():
    cells = cells_table({"control": [0.1, 0.1], "treated": [0.08], "other": [0.1, 0.1]})
    with pytest.raises(C.ComparisonError, match="3 values"):
        C.compare(cells, "diffusivity")
    with pytest.raises(C.ComparisonError, match="at least 2"):
        C.compare(cells, "diffusivity", "control", "treated")
    with pytest.raises(C.ComparisonError, match="no condition='nope'"):
        C.compare(cells, "diffusivity", "control", "nope")
    with pytest.raises(C.ComparisonError, match="no label column 'genotype'.*its labels: condition"):
        C.compare(cells, "diffusivity", by="genotype")
    with pytest.raises(C.ComparisonError, match="unknown quantity"):
        C.compare(cells, "speed")


@pytest.mark.parametrize("files", [4, 6])
def test_interval_coverage_against_simulated_truth(files):
    """300 simulated experiments: file D log-normal (10 %) around 0.1 and 0.08 µm²/s, 40 cells per
    file; the share of 95 % intervals that contain the true ratio 0.8."""
    hits, widths = 0, []
    runs = 300
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        d = {"control": list(0.1 * np.exp(rng.normal(0, 0.1, files))),
             "treated": list(0.08 * np.exp(rng.normal(0, 0.1, files)))}
        c = C.compare(cells_table(d, cells_per_file=40, cell_sd=0.2, seed=seed), "diffusivity", seed=seed,
                      n_resamples=999)
        hits += c.covers(0.8)
        widths.append(c.high / c.low)
    coverage = hits / runs
    print(f"\n{files} files per condition: {100 * coverage:.1f} % of {runs} intervals contain 0.8 "
          f"(median high/low {np.median(widths):.3f})")
    assert coverage >= 0.89  # nominal 95 %; the plain percentile bootstrap gives ~83 % (4 files) / ~89 % (6)
