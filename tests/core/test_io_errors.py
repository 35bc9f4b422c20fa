"""Every bad input raises TrajectoryFormatError naming the file, and the line / column when it can."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_tramway.core.errors import ColumnError, NotTrajectoryFileError, TrajectoryFormatError
from napari_tramway.core.io import FILE_SETTINGS, read_trajectories

DATA = Path(__file__).parent / "data"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def fails(path, match: str, line: int | None = None, column: str | None = None, **options):
    with pytest.raises(TrajectoryFormatError, match=match) as exc:
        read_trajectories(path, **options)
    err = exc.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert message.startswith(str(Path(path).resolve())), message
    if line is not None:
        assert err.line == line, message
        assert f"line {line}" in message
    if column is not None:
        assert err.column == column, message
        assert f"column {column!r}" in message
    return err


def test_nonexistent_path_and_directory(tmp_path):
    fails(tmp_path / "missing.txt", "no such file")
    fails(tmp_path, "is a directory")


def test_empty_files(tmp_path):
    fails(write(tmp_path / "empty.txt", ""), "the file is empty")
    fails(write(tmp_path / "blank.csv", "\n  \n\t\n"), "the file is empty")
    fails(write(tmp_path / "header_only.txt", "n x y t\n"), "no data rows", line=1)
    fails(write(tmp_path / "header_only.csv", "track,x,y,t\n"), "no data rows")


def test_binary_files_are_not_text(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))
    fails(write(tmp_path / "image.txt", png), "not a text file: it looks like a PNG image")
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    fails(write(tmp_path / "noise.csv", noise), "not a text file")
    fails(
        write(tmp_path / "short_noise.txt", bytes([7, 200, 3, 150, 9, 1, 2, 250])),
        "not a text file",
    )
    fails(write(tmp_path / "book.csv", b"PK\x03\x04" + b"\x14" * 64), "xlsx")


def test_three_columns_are_untracked_locations(tmp_path):
    fails(write(tmp_path / "xyt.txt", "0.1 0.2 0.0\n0.2 0.3 0.02\n"), "not tracked", line=1)
    fails(write(tmp_path / "xyt_header.txt", "x y t\n0.1 0.2 0\n"), "not tracked")
    err = fails(write(tmp_path / "xyt.csv", "x,y,t\n0.1,0.2,0\n"), "not tracked")
    assert "x, y, t" in str(err)


def test_missing_time_column_lists_found_and_expected(tmp_path):
    err = fails(
        write(tmp_path / "no_t.csv", "track,x,y,intensity\n1,0,0,5\n1,1,1,6\n"),
        "no time or frame column",
    )
    msg = str(err)
    assert "track, x, y, intensity" in msg and "position_t" in msg and "frame_interval" in msg
    err = fails(write(tmp_path / "no_y.csv", "track,x,z,t\n1,0,0,0\n"), "no y column")
    assert "track, x, z, t" in str(err)


def test_text_in_a_number_column(tmp_path):
    fails(
        write(tmp_path / "a.txt", "n x y t\n1 0 0 0\n1 0.1 abc 0.02\n"),
        "'abc' is not a number",
        line=3,
        column="y",
    )
    fails(
        write(tmp_path / "b.txt", "1 0 0 0\n1 0.1 0.2 0.02\n1 0.2 0.3 0.04s\n"),
        "is not a number",
        line=3,
        column="t",
    )
    fails(
        write(tmp_path / "c.csv", "track,x,y,t\n1,0,0,0\n1,0.1,0.2,0.02\n1,oops,0.2,0.04\n"),
        "'oops' is not a number",
        line=4,
        column="x",
    )
    tm = (DATA / "trackmate_v7_spots.csv").read_text().replace("20.52", "20.52x", 1)
    fails(write(tmp_path / "tm.csv", tm), "'20.52x' is not a number", line=9, column="POSITION_X")
    tm = (DATA / "trackmate_v7_spots.csv").read_text().replace("20.52", "20,52", 1)
    fails(write(tmp_path / "tm2.csv", tm), "malformed row: Expected 15 fields", line=9)


def test_missing_values_in_x_y_t(tmp_path):
    fails(
        write(tmp_path / "nan.txt", "n x y t\n1 0 0 0\n1 nan 0.1 0.02\n"),
        "missing value",
        line=3,
        column="x",
    )
    fails(
        write(tmp_path / "short.txt", "n x y t\n1 0 0 0\n1 0.1 0.02\n"), "expected 4 values", line=3
    )
    fails(
        write(tmp_path / "empty_cell.csv", "track,x,y,t\n1,0,0,0\n1,0.1,,0.02\n"),
        "missing value",
        line=3,
        column="y",
    )
    fails(
        write(tmp_path / "na.csv", "track,x,y,t\n1,0,0,0\n1,0.1,0.2,NaN\n2,0,0,0\n"),
        "missing value",
        line=3,
        column="t",
    )
    fails(
        write(tmp_path / "inf.txt", "1 0 0 0\n1 inf 0 0.02\n"), "infinite value", line=2, column="x"
    )
    fails(
        write(tmp_path / "no_id.csv", "track,x,y,t\n1,0,0,0\n,0.1,0.2,0.02\n"),
        "missing value",
        line=3,
        column="track",
    )


def test_trajectory_ids_must_be_integers(tmp_path):
    fails(
        write(tmp_path / "id.txt", "1 0 0 0\n1.5 0 0 0.02\n"), "not an integer", line=2, column="n"
    )
    fails(
        write(tmp_path / "id.csv", "track,x,y,t\n1,0,0,0\n2.5,0,0,0.02\n"),
        "not an integer",
        line=3,
        column="track",
    )


def test_wrong_number_of_values_on_a_line(tmp_path):
    fails(
        write(tmp_path / "long.txt", "n x y t\n1 0 0 0\n1 0 0 0.02 9\n"),
        "expected 4 values",
        line=3,
    )
    fails(write(tmp_path / "six.txt", "1 2 3 4 5 6\n"), "expected 4 .* or 5", line=1)
    fails(
        write(tmp_path / "long.csv", "track,x,y,t\n1,0,0,0\n1,0,0,0.02,9\n"),
        "malformed row",
        line=3,
    )


def test_duplicate_times_name_the_trajectory(tmp_path):
    err = fails(
        write(tmp_path / "dup.csv", "track,x,y,t\n5,0,0,0\n5,1,1,0\n"), "trajectory 5", line=3
    )
    assert "lines 2 and 3" in str(err)


def test_xml_errors(tmp_path):
    fails(DATA / "trackmate_spots_only.xml", "no tracks")
    fails(
        write(
            tmp_path / "bad.xml",
            "<?xml version='1.0'?>\n<TrackMate version='7'>\n<Model>\n</TrackMate>\n",
        ),
        "malformed XML",
        line=4,
    )
    fails(write(tmp_path / "other.xml", "<svg width='10'></svg>"), "root element <svg>")


def test_frames_without_interval_and_pixels_without_size(tmp_path):
    fails(
        write(tmp_path / "frames.csv", "track,frame,x,y\n1,0,0,0\n1,1,0.1,0.1\n"),
        "frame_interval",
        column="frame",
    )
    fails(DATA / "trackpy_linked.csv", "pixel_size", column="x", frame_interval=0.1)
    fails(DATA / "isbi_challenge.xml", "pixel_size", pixel_size=None, frame_interval=0.1)


def test_invalid_options(tmp_path):
    path = DATA / "tramway_header.txt"
    fails(path, r"invalid settings: pixel_size: must be > 0.0 µm; got -1", pixel_size=-1)
    fails(path, "frame_interval: expected float, got 'fast'", frame_interval="fast")
    fails(path, "space_unit: must be one of µm, nm, px; got 'furlong'", space_unit="furlong")
    fails(path, "not both", space_unit="nm", space_scale=1e-3)
    fails(path, "format: must be one of tramway-text", format="excel")
    # every problem at once, each with its field
    err = fails(path, "invalid settings", pixel_size=0, time_unit="fortnight", columns={"q": "x"})
    assert all(f in str(err) for f in ("pixel_size:", "time_unit:", "columns:"))
    assert sorted(p.field for p in err.problems) == ["columns", "pixel_size", "time_unit"]
    fails(path, "columns= names 3 columns", columns=["n", "x", "y"])
    fails(path, "not a column of the file", columns={"n": "track"})
    fails(path, "unknown option.*pixelsize", pixelsize=0.1)


def test_wrong_extension_does_not_matter_for_errors(tmp_path):
    target = tmp_path / "tracks.xml"
    shutil.copy(DATA / "tramway_header.txt", target)
    assert read_trajectories(target).attrs["format"] == "tramway-text"


# --- not trajectories at all, and columns that are not recognised --------------------------------

PROSE = """The quick brown fox jumps over the lazy dog.
It was the best of times, it was the worst of times; it was the age of wisdom.
Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.
In the beginning the Universe was created. This has made a lot of people very angry.
"""
LOG = """2024-05-02 10:11:12,345 INFO starting napari 0.5.0
2024-05-02 10:11:13,001 WARNING plugin napari-foo: deprecated hook
2024-05-02 10:11:14,220 ERROR could not open /data/cell 3.tif: permission denied
2024-05-02 10:11:15,000 INFO done in 2.66 s
"""
PEOPLE = "name,age,city\nAda,36,London\nAlan,41,Wilmslow\nGrace,85,Arlington\n"


@pytest.mark.parametrize("name, content, found", [
    ("notes.txt", PROSE, "lines of words, not numbers"),
    ("napari.log", LOG, "lines of words, not numbers"),
    ("people.csv", PEOPLE, "at most 1 number per line"),
])
def test_text_that_is_not_trajectories_says_so(tmp_path, name, content, found):
    err = fails(write(tmp_path / name, content), "not a trajectory file")
    assert isinstance(err, NotTrajectoryFileError) and not isinstance(err, ColumnError)
    message = str(err)
    assert found in message and "line 2:" in message and "Columns found" not in message
    assert "\n" not in message  # one line


def test_unrecognised_columns_name_the_columns_and_how_to_map_them(tmp_path):
    path = write(tmp_path / "odd.csv", "traccia,px,py,tempo\n1,0.1,0.2,0\n1,0.2,0.3,0.02\n")
    err = fails(path, "no trajectory-id column")
    assert isinstance(err, ColumnError)
    message = str(err)
    assert "Columns found: traccia, px, py, tempo" in message
    columns = FILE_SETTINGS.parameter("columns")
    assert f"{columns.cli_flag} n=NAME,x=NAME,y=NAME,t=NAME (command line)" in message
    assert f'"{columns.label}" field (napari)' in message and "columns={'n': 'NAME'" in message
    # ... and mapping them works, by name or (without header) by position
    df = read_trajectories(path, columns={"n": "traccia", "x": "px", "y": "py", "t": "tempo"})
    assert df["x"].tolist() == [0.1, 0.2]
    headerless = write(tmp_path / "six.txt", "0 1 0.1 0.2 7 0.00\n0 1 0.2 0.3 7 0.02\n")
    err = fails(headerless, "6 values per line and no header")
    assert isinstance(err, ColumnError) and "--columns" in str(err)
    df = read_trajectories(headerless, columns=FILE_SETTINGS.parameter("columns").parse("n=1,x=2,y=3,t=5"))
    assert df["y"].tolist() == [0.2, 0.3]


def test_a_mapping_to_a_missing_column_names_the_columns_found(tmp_path):
    err = fails(DATA / "tramway_header.txt", "is not a column of the file", columns={"n": "track"})
    assert isinstance(err, ColumnError) and "Columns found: n, x, y, t" in str(err) and "--columns" in str(err)
