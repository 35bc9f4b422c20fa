import numpy as np
import pandas as pd
import pytest

from napari_tramway.core.acquisition import Acquisition
from napari_tramway.core.errors import ParameterError
from napari_tramway.core.roi import Rectangle, crop
from napari_tramway.core.trajectories import (
    discard_static,
    locations_from_translocations,
    split_at_gaps,
    translocations,
)


def reference_trajectory():
    # tramway-reference §1.4 / tests/test_core.py::test_crop
    return pd.DataFrame(
        {
            "n": [1] * 7,
            "x": [0.1, 0.45, 0.85, 1.1, 0.9, 0.6, 0.4],
            "y": [0.1, 0.45, 0.65, 0.9, 1.1, 0.9, 0.5],
            "t": [0.05, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3],
        }
    )


def test_reference_crop_example_exactly():
    out = crop(reference_trajectory(), Rectangle(0, 0, 1, 1))
    assert list(out.columns) == ["n", "x", "y", "t", "dx", "dy", "dt"]
    expected = np.array(
        [
            [1, 0.1, 0.1, 0.05, 0.35, 0.35, 0.05],
            [1, 0.45, 0.45, 0.1, 0.4, 0.2, 0.02],
            [1, 0.85, 0.65, 0.12, 0.25, 0.25, 0.03],
            [2, 0.6, 0.9, 0.25, -0.2, -0.4, 0.05],
        ]
    )
    np.testing.assert_allclose(out.to_numpy(dtype=float), expected, atol=1e-12)
    assert out["n"].dtype == np.int64
    assert list(out.index) == [0, 1, 2, 3]


def test_translocations_keep_gaps_as_longer_steps():
    df = pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [0, 1, 3, 0, 0.5], "y": [0, 0, 0, 1, 1], "t": [0, 0.1, 0.4, 0, 0.1]})
    s = translocations(df)
    assert len(s) == 3
    np.testing.assert_allclose(s["dt"], [0.1, 0.3, 0.1])
    np.testing.assert_allclose(s["dx"], [1, 2, 0.5])
    back = locations_from_translocations(s)
    np.testing.assert_allclose(back[["n", "x", "y", "t"]].to_numpy(float), df.to_numpy(float))


def test_discard_static_uses_sigma_squared_and_records_the_threshold():
    df = pd.DataFrame({"n": [1, 1, 1], "x": [0, 0.001, 0.5], "y": [0, 0, 0], "t": [0, 1, 2]})
    s = translocations(df)
    acquisition = Acquisition(frame_interval=1.0, localization_precision=0.03)
    kept, filtered = discard_static(s, acquisition)
    assert len(kept) == 1 and kept["dx"].iloc[0] == pytest.approx(0.499)
    assert filtered.min_squared_step == pytest.approx(2 * 0.03**2)   # on dx² + dy², for the models
    assert (filtered.frame_interval, filtered.localization_precision) == (1.0, 0.03) and acquisition.min_squared_step == 0
    assert len(discard_static(s, acquisition, min_msd=1.0)[0]) == 0
    assert kept.attrs == {} and s.attrs == {}   # nothing travels in attrs


def test_discard_static_bounds_and_undefined_steps():
    s = pd.DataFrame({"n": [1, 1, 1, 1, 1], "x": 0.0, "y": 0.0, "t": [0.0, 1, 2, 3, 4],
                      "dx": [0.0, 1e-9, np.nan, -0.2, 0.05], "dy": [0.0, 0.0, 0.0, 0.0, 0.01], "dt": 1.0})
    acquisition = Acquisition(1.0, 0.03)
    kept, filtered = discard_static(s, acquisition)
    assert kept["dx"].tolist() == [-0.2, 0.05] and kept.index.tolist() == [0, 1]
    assert filtered.min_squared_step == pytest.approx(2 * 0.03**2)
    kept, filtered = discard_static(s, acquisition, min_msd=-1.0)  # a negative bound is 0: only null and undefined steps go
    assert kept["dx"].tolist() == [1e-9, -0.2, 0.05] and filtered.min_squared_step == 0.0
    # filters one after the other: the strictest threshold is the one the models condition on
    assert discard_static(kept, discard_static(kept, acquisition, min_msd=0.5)[1])[1].min_squared_step == 1.0


def test_an_acquisition_is_checked_once_and_names_the_field():
    with pytest.raises(ParameterError, match="^frame_interval: must be > 0"):
        Acquisition(0.0, 0.03)
    with pytest.raises(ParameterError, match="^localization_precision: must be ≥ 0"):
        Acquisition(0.02, float("nan"))
    with pytest.raises(ParameterError, match="^min_squared_step"):
        Acquisition(0.02, 0.03, min_squared_step=-1)
    a = Acquisition("0.02", 0.03, frame_interval_source="estimated")
    assert a.frame_interval == 0.02 and Acquisition.from_dict(a.to_dict()) == a
    with pytest.raises(ParameterError, match=r"^unit\.acquisition\.frame_interval: missing"):
        Acquisition.from_dict({"localization_precision": 0.03}, where="unit.acquisition")
    with pytest.raises(ParameterError, match=r"^acquisition\.localization_precision: must be"):
        Acquisition.from_dict({"frame_interval": 0.02, "localization_precision": -1})


def test_split_at_gaps_reference_example():
    # tramway-reference §1.5: 19782 x3 (t 93.28, 93.32, 93.40) -> split after the gap
    df = pd.DataFrame(
        {
            "n": [19782, 19782, 19782, 160801, 160801, 160801, 192719, 193576, 204282, 219796],
            "x": np.zeros(10), "y": np.zeros(10),
            "t": [93.28, 93.32, 93.40, 10.0, 10.04, 10.08, 1.0, 2.0, 3.0, 4.0],
        }
    )
    out = split_at_gaps(df, dt=0.04)
    assert out["n"].tolist() == [1, 1, 2, 3, 3, 3, 4, 5, 6, 7]
    assert len(split_at_gaps(df.iloc[:0])) == 0

