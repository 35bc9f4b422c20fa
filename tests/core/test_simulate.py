import numpy as np

from napari_tramway.core.simulate import (
    SAMPLE_ACQUISITION,
    sample_dataset,
    simulate_walks,
    standard_dataset,
    standard_field,
)
from napari_tramway.core.trajectories import translocations


def test_simulation_is_seeded_and_sized():
    a, _ = standard_dataset(20_000, seed=3)
    b, _ = standard_dataset(20_000, seed=3)
    c, _ = standard_dataset(20_000, seed=4)
    assert len(a) == 20_000
    assert a.equals(b) and not a.equals(c)
    assert (a.groupby("n").size() >= 2).all()
    assert abs(a.groupby("n").size().mean() - 10) < 0.5
    x0, y0, x1, y1 = standard_field().box
    assert a["x"].between(x0 - 0.2, x1 + 0.2).all()


def test_simulated_diffusivity_matches_truth():
    fld = standard_field()
    df = simulate_walks(fld, 200_000, dt=0.02, sigma=0.02, seed=1)
    s = translocations(df)
    for lo, hi, d_true in ((0.5, 3.5, 0.1), (8.8, 9.5, 0.5)):
        m = (s["x"] > lo) & (s["x"] < hi) & ((s["y"] - 5).abs() > 3)
        msd = (s["dx"][m] ** 2 + s["dy"][m] ** 2).mean()
        d_hat = (msd / 4 - 0.02**2) / 0.02
        assert abs(d_hat - d_true) / d_true < 0.05


def test_force_points_into_the_well():
    fld = standard_field()
    f = fld.force(np.array([7.5]), np.array([5.0]))
    assert f[0, 0] < 0 and abs(f[0, 1]) < 1e-12
    # force is -grad V (finite differences)
    h = 1e-6
    x, y = 6.0, 5.4
    gx = (fld.potential(x + h, y) - fld.potential(x - h, y)) / (2 * h)
    gy = (fld.potential(x, y + h) - fld.potential(x, y - h)) / (2 * h)
    np.testing.assert_allclose(fld.force(np.array(x), np.array(y)), [-gx, -gy], rtol=1e-5)


def test_sample_dataset_has_image_and_tracks_in_cells():
    image, pixel_size, locations, fld = sample_dataset(5_000, seed=2)
    assert image.shape == (256, 256) and image.dtype == np.float32
    assert pixel_size == 0.1 and len(locations) == 5_000
    assert (SAMPLE_ACQUISITION.frame_interval, SAMPLE_ACQUISITION.localization_precision) == (0.02, 0.03)
    assert locations.attrs == {"source": "simulated", "format": "simulated"}   # no number to compute from
