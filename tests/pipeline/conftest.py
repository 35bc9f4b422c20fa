import pandas as pd
import pytest

from napari_tramway.core.roi import Rectangle
from napari_tramway.core.simulate import standard_dataset


def write_txt(df: pd.DataFrame, path):
    df[["n", "x", "y", "t"]].to_csv(path, sep="\t", index=False, float_format="%.6f")
    return path


@pytest.fixture(scope="session")
def three_files(tmp_path_factory):
    """Three simulated trajectory files (20k locations each, 10×10 µm, ~100 s of frames)."""
    d = tmp_path_factory.mktemp("data")
    paths = []
    for k in range(3):
        df, _ = standard_dataset(20_000, seed=10 + k, duration=100.0)
        paths.append(write_txt(df, d / f"cell{k}.txt"))
    return paths


@pytest.fixture
def two_roi_groups():
    # ROIs 0 and 1 overlap -> group roi000-001; ROI 2 alone -> roi002
    return [Rectangle(0.5, 0.5, 4.5, 4.5), Rectangle(4.0, 4.0, 6.0, 6.0), Rectangle(6.5, 1.0, 9.5, 9.0)]


@pytest.fixture(scope="session")
def big_files(tmp_path_factory):
    """Three files of 100k locations: DV on 0.2 µm hexagons takes seconds per unit."""
    d = tmp_path_factory.mktemp("bigdata")
    paths = []
    for k in range(3):
        df, _ = standard_dataset(100_000, seed=20 + k, duration=100.0)
        paths.append(write_txt(df, d / f"big{k}.txt"))
    return paths
