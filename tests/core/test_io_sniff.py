"""The format is recognised from the content, whatever the extension; ``format=`` forces it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from napari_tramway.core.errors import TrajectoryFormatError
from napari_tramway.core.io import FORMATS, detect_format, read_trajectories

DATA = Path(__file__).parent / "data"

EXPECTED = {
    "tramway_header.txt": "tramway-text",
    "tramway_noheader.trxyt": "tramway-text",
    "tramway_3d.txt": "tramway-text",
    "trackmate_v7_spots.csv": "trackmate-csv",
    "trackmate_v6_spots.csv": "trackmate-csv",
    "trackpy_linked.csv": "trackpy",
    "mosaic_trajectories.csv": "mosaic",
    "thunderstorm_tracked.csv": "thunderstorm",
    "thunderstorm_untracked.csv": "thunderstorm",
    "generic_tracks.csv": "csv",
    "trackmate_v3.xml": "trackmate-xml",
    "trackmate_v7.xml": "trackmate-xml",
    "trackmate_v1.xml": "trackmate-xml",
    "trackmate_spots_only.xml": "trackmate-xml",
    "isbi_challenge.xml": "isbi-xml",
    "trackmate_tracks_export.xml": "isbi-xml",
}

OPTIONS = {
    "trackpy_linked.csv": dict(pixel_size=0.1, frame_interval=0.05),
    "mosaic_trajectories.csv": dict(pixel_size=0.1, frame_interval=0.05),
    "thunderstorm_tracked.csv": dict(frame_interval=0.03),
    "generic_tracks.csv": dict(frame_interval=0.1),
    "trackmate_v3.xml": dict(pixel_size=0.16),
    "isbi_challenge.xml": dict(pixel_size=0.1, frame_interval=0.1),
}


def test_every_fixture_is_recognised():
    assert set(EXPECTED.values()) == set(FORMATS)
    for name, fmt in EXPECTED.items():
        assert detect_format(DATA / name) == fmt, name


@pytest.mark.filterwarnings("ignore:.*does not state its units")
@pytest.mark.parametrize(
    "name", sorted(set(EXPECTED) - {"thunderstorm_untracked.csv", "trackmate_spots_only.xml"})
)
def test_a_wrong_extension_gives_the_same_table(tmp_path, name):
    wrong = ".xml" if not name.endswith(".xml") else ".txt"
    target = tmp_path / (Path(name).stem + wrong)
    shutil.copy(DATA / name, target)
    options = OPTIONS.get(name, {})
    df = read_trajectories(target, **options)
    ref = read_trajectories(DATA / name, **options)
    assert df.attrs["format"] == EXPECTED[name]
    assert df.equals(ref)


def test_format_option_forces_a_reader(tmp_path):
    path = tmp_path / "particles.csv"
    path.write_text("particle,frame,x,y\n1,0,10,10\n1,1,11,10\n")
    assert detect_format(path) == "trackpy"
    df = read_trajectories(path, format="csv", frame_interval=0.1)  # generic: µm, no pixel rule
    assert df["x"].tolist() == [10.0, 11.0]
    with pytest.raises(TrajectoryFormatError, match="but the file is XML"):
        read_trajectories(DATA / "trackmate_v7.xml", format="csv")
    with pytest.raises(TrajectoryFormatError, match="format: must be one of"):
        read_trajectories(path, format="xlsx")


def test_header_rule_letters_other_than_e_make_a_header(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text("1 1e-3 -2.5E+01 0\n1 2e-3 -2.4E+01 1e-2\n")
    assert len(read_trajectories(path)) == 2
    path.write_text("n\tx\ty\tt\n1\t0\t0\t0\n")
    assert detect_format(path) == "tramway-text"
    path.write_text("_n x y t\n1 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="no trajectory-id column"):
        read_trajectories(path)
