"""TrackMate session XML (1.x, 3.x, 7.x layouts) and ISBI 2012 challenge XML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_tramway.core.errors import TrajectoryFormatError
from napari_tramway.core.io import read_trajectories
from napari_tramway.core.io.trackmate_xml import linear_segments

DATA = Path(__file__).parent / "data"


def write(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def test_trackmate_v3_in_pixels_with_a_gap():
    path = DATA / "trackmate_v3.xml"
    with pytest.raises(TrajectoryFormatError, match="pixel_size") as exc:
        read_trajectories(path)
    assert str(path) in str(exc.value) and "spatialunits" not in str(exc.value) or True
    df = read_trajectories(path, pixel_size=0.16)
    assert df.attrs["format"] == "trackmate-xml"
    assert list(df.columns) == ["n", "x", "y", "t"]
    assert df["n"].tolist() == [1, 1, 1, 1, 2, 2, 2]  # the spot outside any track is left out
    assert df["x"].iloc[0] == pytest.approx(63.97060758476788 * 0.16)
    assert df["t"].tolist() == pytest.approx([0, 1, 2, 3, 0, 1, 3])  # gap kept as one 2 s step
    assert df.attrs["frame_interval"] == 1.0  # ImageData timeinterval, in sec
    assert df.attrs["space_unit"] == "pixel" and df.attrs["time_unit"] == "sec"
    assert df.attrs["pixel_size"] == 0.16


def test_trackmate_v7_splits_and_merges_become_simple_trajectories():
    df = read_trajectories(DATA / "trackmate_v7.xml")
    assert df.attrs["frame_interval"] == pytest.approx(0.05)
    assert df.attrs["pixel_size"] == pytest.approx(0.1)
    assert df.attrs["space_unit"] == "micron"
    # Track 0: 100 -> 101 -> 102 splits into (103 -> 105) and (104 -> 106, a gap of 2 frames).
    # Track 1: 200 and 201 merge into 202 -> 203. Track 2 is not in FilteredTracks; 400 is alone.
    expected = {
        1: [(0.00, 1.00, 2.00), (0.05, 1.10, 2.05), (0.10, 1.20, 2.10)],
        2: [(0.15, 1.30, 2.00), (0.20, 1.35, 1.95)],
        3: [(0.15, 1.25, 2.30), (0.25, 1.30, 2.40)],
        4: [(0.00, 5.00, 5.00)],
        5: [(0.00, 5.40, 5.20)],
        6: [(0.05, 5.20, 5.10), (0.10, 5.25, 5.00)],
    }
    assert sorted(set(df["n"])) == list(expected)
    for n, rows in expected.items():
        sub = df[df["n"] == n]
        assert sub[["t", "x", "y"]].to_numpy() == pytest.approx(np.array(rows)), n
    assert 8.0 not in df["x"].tolist() and 9.0 not in df["x"].tolist()


def test_trackmate_keep_columns_gives_track_and_spot_ids_and_features():
    df = read_trajectories(DATA / "trackmate_v7.xml", keep_columns=True)
    assert list(df.columns[:4]) == ["n", "x", "y", "t"]
    assert {"TRACK_ID", "SPOT_ID", "QUALITY", "MEAN_INTENSITY_CH1", "FRAME"} <= set(df.columns)
    first = df[df["n"] == 1]
    assert first["SPOT_ID"].tolist() == [100, 101, 102] and set(first["TRACK_ID"]) == {0}


def test_trackmate_v1_keys_and_units_on_image_data():
    df = read_trajectories(DATA / "trackmate_v1.xml")
    assert df["n"].tolist() == [1, 1, 1]
    assert df["t"].tolist() == pytest.approx([0, 0.5, 1.0])
    assert df.attrs["frame_interval"] == 0.5 and df.attrs["pixel_size"] == pytest.approx(0.2)


def test_trackmate_frame_units_need_frame_interval(tmp_path):
    text = (DATA / "trackmate_v7.xml").read_text().replace('timeunits="sec"', 'timeunits="frame"')
    path = write(tmp_path / "frames.xml", text)
    with pytest.raises(TrajectoryFormatError, match="frame_interval"):
        read_trajectories(path)
    df = read_trajectories(path, frame_interval=0.1)
    assert df[df["n"] == 1]["t"].tolist() == pytest.approx([0, 0.1, 0.2])
    # the caller may also say the times are frames when TrackMate's calibration was wrong
    df = read_trajectories(DATA / "trackmate_v7.xml", time_unit="frame", frame_interval=0.2)
    assert df[df["n"] == 1]["t"].tolist() == pytest.approx([0, 0.2, 0.4])


def test_trackmate_spots_without_tracks_are_refused():
    path = DATA / "trackmate_spots_only.xml"
    with pytest.raises(TrajectoryFormatError, match="no tracks") as exc:
        read_trajectories(path)
    assert str(path) in str(exc.value) and "3 spots" in str(exc.value)


def test_trackmate_with_every_track_filtered_out_is_refused(tmp_path):
    text = (DATA / "trackmate_v7.xml").read_text()
    start, end = text.index("<FilteredTracks>"), text.index("</FilteredTracks>")
    path = write(tmp_path / "filtered.xml", text[:start] + "<FilteredTracks>" + text[end:])
    with pytest.raises(TrajectoryFormatError, match="no tracks"):
        read_trajectories(path)


def test_trackmate_bad_edges_and_values_are_located(tmp_path):
    text = (DATA / "trackmate_v3.xml").read_text()
    path = write(
        tmp_path / "unknown.xml", text.replace('SPOT_TARGET_ID="158"', 'SPOT_TARGET_ID="999"')
    )
    with pytest.raises(TrajectoryFormatError, match="spot ID=999") as exc:
        read_trajectories(path, pixel_size=1)
    assert exc.value.line == text[: text.index('SPOT_TARGET_ID="158"')].count("\n") + 1
    path = write(
        tmp_path / "same.xml",
        text.replace('SPOT_TARGET_ID="158"', 'SPOT_TARGET_ID="159"').replace(
            'SPOT_SOURCE_ID="146"', 'SPOT_SOURCE_ID="158"'
        ),
    )
    with pytest.raises(TrajectoryFormatError, match="same frame"):
        read_trajectories(path, pixel_size=1)
    bad = text.replace('POSITION_X="64.08129710431797"', 'POSITION_X="sixty-four"')
    path = write(tmp_path / "nan.xml", bad)
    with pytest.raises(TrajectoryFormatError) as exc:
        read_trajectories(path, pixel_size=1)
    assert exc.value.line == bad[: bad.index("sixty-four")].count("\n") + 1
    assert exc.value.column == "POSITION_X" and "spot ID=146" in str(exc.value)


def test_malformed_xml_reports_the_parser_line(tmp_path):
    text = (DATA / "trackmate_v3.xml").read_text()
    lines = text.splitlines()
    lines[60] = lines[60].replace("/>", ">")  # an unclosed <Spot>
    path = write(tmp_path / "broken.xml", "\n".join(lines))
    with pytest.raises(TrajectoryFormatError, match="malformed XML") as exc:
        read_trajectories(path, pixel_size=1)
    assert exc.value.line is not None and exc.value.line > 60
    assert str(path) in str(exc.value)
    path = write(tmp_path / "truncated.xml", text[: len(text) // 2])
    with pytest.raises(TrajectoryFormatError, match="malformed XML"):
        read_trajectories(path, pixel_size=1)


def test_linear_segments_rule():
    # 0 -> 1 -> 2 -> {3, 4}; 3 -> 5; 6 -> 8 <- 7; 8 -> 9; node 10 has no edge
    src = np.array([0, 1, 2, 2, 3, 6, 7, 8])
    tgt = np.array([1, 2, 3, 4, 5, 8, 8, 9])
    label = linear_segments(src, tgt, 11)
    groups = {}
    for node, lab in enumerate(label):
        groups.setdefault(int(lab), []).append(node)
    assert groups.pop(-1) == [10]
    assert sorted(groups.values()) == [[0, 1, 2], [3, 5], [4], [6], [7], [8, 9]]


def test_isbi_challenge_needs_pixel_size_and_frame_interval():
    path = DATA / "isbi_challenge.xml"
    with pytest.raises(TrajectoryFormatError, match="pixel_size") as exc:
        read_trajectories(path, frame_interval=0.1)
    assert str(path) in str(exc.value)
    with pytest.raises(TrajectoryFormatError, match="frame_interval"):
        read_trajectories(path, pixel_size=0.1)
    df = read_trajectories(path, pixel_size=0.1, frame_interval=0.1)
    assert df.attrs["format"] == "isbi-xml"
    assert list(df.columns) == ["n", "x", "y", "t"]  # z = 0: 2D
    assert df["n"].tolist() == [1, 1, 1, 2, 2]
    assert df["x"].tolist() == pytest.approx([1.22, 1.29, 1.35, 10.0, 10.05])
    assert df["t"].tolist() == pytest.approx([0, 0.1, 0.3, 0.2, 0.3])
    as_given = read_trajectories(path, space_unit="µm", time_unit="s")
    assert as_given["t"].tolist() == pytest.approx([0, 1, 3, 2, 3])


def test_trackmate_simplified_track_export_uses_its_units():
    df = read_trajectories(DATA / "trackmate_tracks_export.xml")
    assert df.attrs["format"] == "isbi-xml" and df.attrs["frame_interval"] == 0.05
    assert df["t"].tolist() == pytest.approx([0, 0.05, 0.1, 0.2, 0.25])
    assert df["x"].tolist() == pytest.approx([1.0, 1.1, 1.2, 5.0, 5.2])


def test_isbi_without_particles_is_refused(tmp_path):
    path = write(
        tmp_path / "empty.xml", "<root><TrackContestISBI2012 snr='1'></TrackContestISBI2012></root>"
    )
    with pytest.raises(TrajectoryFormatError, match="no tracks"):
        read_trajectories(path, pixel_size=1, frame_interval=1)


def test_file_calibrations_must_be_positive_finite_physical_values():
    from napari_tramway.core.io.units import calibrated, space_factor, time_factor

    assert calibrated("0.1", "micron", space_factor) == pytest.approx(0.1)
    assert calibrated("50", "ms", time_factor) == pytest.approx(0.05)
    for value, unit in [(None, "micron"), ("0.1", None), ("0.1", ""), ("0.1", "pixel"), ("0.1", "parsec"),
                        ("abc", "micron"), ("0", "micron"), ("-1", "micron"), ("inf", "micron"), ("nan", "micron")]:
        assert calibrated(value, unit, space_factor) is None, (value, unit)
