"""Delimited tables: TrackMate spot CSV (old and >= 7), trackpy, MOSAIC, ThunderSTORM, generic."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_tramway.core.errors import TrajectoryFormatError
from napari_tramway.core.io import read_trajectories

DATA = Path(__file__).parent / "data"


def write(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def test_trackmate_v7_csv_reads_units_row_and_drops_untracked_spots():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # units are stated: no warning
        df = read_trajectories(DATA / "trackmate_v7_spots.csv")
    assert df.attrs["format"] == "trackmate-csv"
    assert list(df.columns) == ["n", "x", "y", "t"]  # POSITION_Z is all 0: 2D data
    assert df["n"].tolist() == [0, 0, 0, 1, 1, 1]  # TRACK_ID as in the file
    assert df["x"].tolist() == pytest.approx([11.85, 11.91, 11.88, 20.40, 20.52, 20.61])
    assert df["t"].tolist() == pytest.approx([0.0, 0.05, 0.1, 0.0, 0.05, 0.15])
    assert df.attrs["space_unit"] == "micron" and df.attrs["time_unit"] == "sec"
    assert df.attrs["frame_interval"] == 0.05  # from POSITION_T against FRAME
    assert 30.0 not in df["x"].tolist()  # the spot outside any track


def test_trackmate_csv_units_row_in_nm_ms_and_pixels(tmp_path):
    header = (
        "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
        "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame\n"
    )
    rows = "ID1,1,3,1,100,200,0,0,0\nID2,2,3,1,150,260,0,20,1\n"
    df = read_trajectories(
        write(tmp_path / "nm.csv", header + ",,,(quality),(nm),(nm),(nm),(ms),\n" + rows)
    )
    assert df["x"].tolist() == pytest.approx([0.1, 0.15])
    assert df["t"].tolist() == pytest.approx([0.0, 0.02])
    px = write(
        tmp_path / "px.csv", header + ",,,(quality),(pixel),(pixel),(pixel),(frame),\n" + rows
    )
    with pytest.raises(TrajectoryFormatError, match="pixel_size"):
        read_trajectories(px, frame_interval=0.02)
    with pytest.raises(TrajectoryFormatError, match="frame_interval"):
        read_trajectories(px, pixel_size=0.1)
    df = read_trajectories(px, pixel_size=0.1, frame_interval=0.02)
    assert df["x"].tolist() == pytest.approx([10.0, 15.0])
    assert df["t"].tolist() == pytest.approx([0.0, 0.02])


def test_trackmate_csv_with_no_spot_in_a_track_is_refused(tmp_path):
    path = write(
        tmp_path / "untracked.csv",
        "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
        ",,,(quality),(micron),(micron),(micron),(sec),\n"
        "ID1,1,,1,1,2,0,0,0\nID2,2,None,1,1.5,2,0,0.1,1\n",
    )
    with pytest.raises(TrajectoryFormatError, match="spots without tracks") as exc:
        read_trajectories(path)
    assert str(path) in str(exc.value)


def test_old_trackmate_csv_assumes_um_and_s_with_a_warning():
    with pytest.warns(UserWarning, match="does not state its units"):
        df = read_trajectories(DATA / "trackmate_v6_spots.csv")
    assert df["n"].tolist() == [0, 0, 0, 1, 1]
    assert df["t"].tolist() == pytest.approx([0, 0.1, 0.2, 0, 0.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_trajectories(DATA / "trackmate_v6_spots.csv", space_unit="pixel", pixel_size=0.2)
    assert df["x"].iloc[0] == pytest.approx(6.397 * 0.2)


def test_trackmate_csv_branching_track_is_refused_with_a_hint(tmp_path):
    path = write(
        tmp_path / "split.csv",
        "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
        ",,,(quality),(micron),(micron),(micron),(sec),\n"
        "ID1,1,0,1,1,2,0,0,0\nID2,2,0,1,1.1,2,0,0.1,1\nID3,3,0,1,1.3,2,0,0.1,1\n",
    )
    with pytest.raises(TrajectoryFormatError, match=r"trajectory 0 .*lines 4 and 5.*XML") as exc:
        read_trajectories(path)
    assert exc.value.line == 5


def test_trackpy_needs_pixel_size_and_frame_interval():
    path = DATA / "trackpy_linked.csv"
    with pytest.raises(TrajectoryFormatError, match="pixel_size") as exc:
        read_trajectories(path, frame_interval=0.05)
    assert "trackpy" in str(exc.value) and str(path) in str(exc.value)
    with pytest.raises(TrajectoryFormatError, match="frame_interval"):
        read_trajectories(path, pixel_size=0.1)
    df = read_trajectories(path, pixel_size=0.1, frame_interval=0.05)
    assert df.attrs["format"] == "trackpy"
    assert df["n"].tolist() == [0, 0, 0, 1, 1, 1]
    assert df["x"].tolist() == pytest.approx([31.04, 31.10, 31.02, 8.02, 7.94, 7.99])
    assert df["y"].tolist() == pytest.approx([29.52, 29.61, 29.70, 12.07, 12.15, 12.20])
    assert df["t"].tolist() == pytest.approx([0, 0.05, 0.1, 0, 0.05, 0.15])  # frame 2 is missing
    assert df.attrs["pixel_size"] == 0.1 and df.attrs["frame_interval"] == 0.05
    calibrated = read_trajectories(path, space_unit="µm", frame_interval=0.05)
    assert calibrated["x"].iloc[0] == pytest.approx(310.4)


def test_mosaic_particle_tracker_csv():
    path = DATA / "mosaic_trajectories.csv"
    with pytest.raises(TrajectoryFormatError, match="MOSAIC"):
        read_trajectories(path, frame_interval=0.1)
    df = read_trajectories(path, pixel_size=0.1, frame_interval=0.1)
    assert df.attrs["format"] == "mosaic"
    assert list(df.columns) == ["n", "x", "y", "t"]  # z = 0 everywhere: dropped
    assert df["n"].tolist() == [1, 1, 1, 2, 2]
    assert df["x"].tolist() == pytest.approx([6.65, 6.69, 6.74, 1.2, 1.26])
    # old ParticleTracker versions swapped x and y: the caller can swap them back
    swapped = read_trajectories(
        path, pixel_size=0.1, frame_interval=0.1, columns={"x": "y", "y": "x"}
    )
    assert swapped["x"].tolist() == pytest.approx(df["y"].tolist())


def test_thunderstorm_track_table_in_nm():
    df = read_trajectories(DATA / "thunderstorm_tracked.csv", frame_interval=0.03)
    assert df.attrs["format"] == "thunderstorm"
    assert df["n"].tolist() == [1, 1, 1, 2, 2]  # track_id, not the localisation id
    assert df["x"].tolist() == pytest.approx([5.2304, 5.2511, 5.2708, 12.05, 12.1003])
    assert df["t"].tolist() == pytest.approx([0.03, 0.06, 0.09, 0.03, 0.06])
    assert df.attrs["space_unit"] == "nm"
    keep = read_trajectories(
        DATA / "thunderstorm_tracked.csv", frame_interval=0.03, keep_columns=True
    )
    assert list(keep.columns)[:4] == ["n", "x", "y", "t"]
    assert "uncertainty [nm]" in keep.columns and "id" in keep.columns


def test_generic_semicolon_table_with_decimal_comma_and_units_in_parentheses():
    path = DATA / "generic_tracks.csv"
    with pytest.raises(TrajectoryFormatError, match="frame_interval") as exc:
        read_trajectories(path)
    assert exc.value.column == "frame"
    df = read_trajectories(path, frame_interval=0.1)
    assert df.attrs["format"] == "csv"
    assert df["n"].tolist() == [7, 7, 9, 9]
    assert df["x"].tolist() == pytest.approx([1.2005, 1.21, 4.0, 4.01])
    assert df["t"].tolist() == pytest.approx([0.3, 0.4, 0.3, 0.5])


def test_generic_csv_with_column_mapping_and_keep_columns(tmp_path):
    path = write(
        tmp_path / "export.csv",
        "TrackNo,PosX,PosY,Seconds,Intensity\n2,1.0,1.0,0.5,10\n2,1.1,1.2,0.6,11\n1,5,5,0,7\n",
    )
    with pytest.raises(TrajectoryFormatError) as exc:
        read_trajectories(path)
    msg = str(exc.value)
    assert (
        "TrackNo, PosX, PosY, Seconds, Intensity" in msg and "expected one of n, trajectory" in msg
    )
    mapping = {"n": "TrackNo", "x": "PosX", "y": "PosY", "t": "Seconds"}
    df = read_trajectories(path, columns=mapping)
    assert df["n"].tolist() == [1, 2, 2]
    assert df["t"].tolist() == pytest.approx([0.0, 0.5, 0.6])
    df = read_trajectories(path, columns=mapping, keep_columns=True)
    assert list(df.columns) == ["n", "x", "y", "t", "Intensity"]
    assert df["Intensity"].tolist() == [7, 10, 11]


def test_generic_csv_time_column_in_ms_and_tab_separated_with_empty_cells(tmp_path):
    df = read_trajectories(write(tmp_path / "a.csv", "id,x,y,time [ms]\n1,0,0,0\n1,1,1,50\n"))
    assert df["t"].tolist() == pytest.approx([0.0, 0.05]) and df["n"].tolist() == [1, 1]
    tsv = write(
        tmp_path / "b.tsv",
        "track\tx\ty\tt\tnote\n1\t0\t0\t0\t\n1\t1\t1\t0.1\tok\n",
    )
    df = read_trajectories(tsv)
    assert df.attrs["format"] == "csv" and df["x"].tolist() == [0.0, 1.0]


def test_headerless_comma_file_is_n_x_y_t(tmp_path):
    df = read_trajectories(write(tmp_path / "plain.csv", "1,0.5,0.5,0\n1,0.6,0.4,0.05\n"))
    assert df.attrs["format"] == "csv"
    assert df["y"].tolist() == pytest.approx([0.5, 0.4])


def test_z_is_kept_when_it_varies(tmp_path):
    path = write(
        tmp_path / "tm3d.csv",
        "LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME\n"
        ",,,(quality),(micron),(micron),(micron),(sec),\n"
        "ID1,1,0,1,1,2,0.5,0,0\nID2,2,0,1,1.1,2,0.7,0.1,1\n",
    )
    df = read_trajectories(path)
    assert list(df.columns) == ["n", "x", "y", "z", "t"]
    assert np.allclose(df["z"], [0.5, 0.7])
