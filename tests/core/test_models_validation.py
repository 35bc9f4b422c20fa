"""The fast subset of the validation suite (``python -m validation``): our side only, small data,
accuracy and calibration thresholds that a regression of the defaults would fail.

The full side-by-side run with TRamWAy 0.7 is ``python -m validation --tramway`` (docs/validation.md).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # the repository's validation/ package

from validation import metrics, ours, scenarios  # noqa: E402


@pytest.fixture(scope="module")
def issue_1um():
    return scenarios.issue_case(0, 1.0)


@pytest.fixture(scope="module")
def sample():
    return {res: scenarios.sample_cases(res) for res in (1.0, 0.5)}


def test_d_intervals_cover_95_percent_on_a_small_grid():
    """Exact intervals: 93–97 % coverage pooled over σ²/(DΔt) 0–1, 20–2000 steps, D 0.01–1 µm²/s."""
    covered = cells = 0
    for d, ratio, n, k, length in ((0.1, 0.0, 20, 1200, 10), (0.01, 1.0, 200, 900, 30), (1.0, 0.25, 2000, 150, 10)):
        case = scenarios.grid_case(d, ratio, n, k, seed=3, mean_length=length)
        m = metrics.d_metrics(ours.run(case, "d")[0].table, case, "inner")
        assert 0.9 <= m["coverage"] <= 0.99, (d, ratio, n, m)
        if n >= 200:    # the Laplace sd is an error scale once the posterior is close to Gaussian
            assert abs(m["z_mean"]) < 0.2 and 0.85 < m["z_sd"] < 1.15
        covered += m["covered"]
        cells += m["cells"]
    assert 0.93 <= covered / cells <= 0.97


def test_default_d_is_unbiased_and_the_filter_corrected(issue_1um):
    m = metrics.d_metrics(ours.run(issue_1um, "d")[0].table, issue_1um, "D interior")
    assert m["rel_rms"] < 0.045 and abs(m["bias"]) < 0.02 and m["coverage"] >= 0.9
    filtered = scenarios.issue_case(0, 1.0, static_filter=True)
    corrected = metrics.d_metrics(ours.run(filtered, "d")[0].table, filtered, "D 0.1")
    blind = metrics.d_metrics(ours.run(filtered, "d", uncorrected_filter=True)[0].table, filtered, "D 0.1")
    assert abs(corrected["bias"]) < 0.02 < 0.06 < blind["bias"]


def test_default_dv_beats_the_unregularised_fit(issue_1um):
    default = metrics.dv_metrics(ours.run(issue_1um, "dv")[0].table, issue_1um)
    noprior = metrics.dv_metrics(ours.run(issue_1um, "dv", potential_prior=0.0)[0].table, issue_1um)
    assert default["potential_r"] > 0.85 and default["force_rms"] < 0.36
    assert default["potential_r"] > noprior["potential_r"] + 0.15 and default["force_rms"] < noprior["force_rms"]
    # calibrated uncertainty on the simulated well (1 µm cells resolve it)
    assert default["force_coverage"] > 0.9 and default["potential_coverage"] > 0.85
    well = metrics.dv_metrics(ours.run(issue_1um, "dv")[0].table, issue_1um, "well")
    assert well["force_coverage"] > 0.85


def test_default_dv_shows_the_sample_well_and_invents_none(sample):
    cell1, cell2, cell3 = (ours.run(case, "dv")[0] for case in sample[1.0])
    m1 = metrics.dv_metrics(cell1.table, sample[1.0][0], "all")
    assert m1["potential_r"] > 0.7 and m1["potential_range"] > 5.0      # the 8 kT well is there
    for maps, case in ((cell2, sample[1.0][1]), (cell3, sample[1.0][2])):
        assert metrics.dv_metrics(maps.table, case, "all")["potential_range"] < 2.5   # no invented well
        assert maps.info["priors"]["method"] == "marginal likelihood (Laplace)"
    # the choice is reported with the maps
    assert cell1.parameters["potential_prior"] > 0 and cell1.parameters["smoothing_length"] is not None


@pytest.mark.parametrize("params", [{}, {"potential_prior": 0.05, "smoothing_length": 2.0}])
def test_potential_prior_does_not_depend_on_the_mesh_size(sample, params):
    """The same data at 1 µm and 0.5 µm give the same map (the fine one averaged on the coarse cells),
    with the default priors and with given ones (physical units: 1/kT², µm)."""
    coarse, fine = sample[1.0][0], sample[0.5][0]
    a = metrics.map_agreement(ours.run(fine, "dv", **params)[0].table, fine,
                              ours.run(coarse, "dv", **params)[0].table, coarse)
    assert a["r"] > 0.85 and a["rms_difference"] < 0.15 * a["coarse_range"]
