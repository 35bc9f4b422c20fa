"""TRamWAy text files: header detection, columns, units, order, writing, chunked parsing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import napari_tramway
import napari_tramway.core.io.text as text_mod
from napari_tramway.core.errors import TrajectoryFormatError
from napari_tramway.core.io import read_trajectories, read_trajectory_file, write_trajectories_text

DATA = Path(__file__).parent / "data"


def write(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def test_header_file_is_read_sorted_typed_and_annotated():
    df = read_trajectories(DATA / "tramway_header.txt")
    assert list(df.columns) == ["n", "x", "y", "t"]
    assert df["n"].dtype == np.int64
    assert all(df[c].dtype == np.float64 for c in "xyt")
    assert list(df.index) == list(range(6))
    assert df["n"].tolist() == [1, 1, 1, 2, 2, 2]
    assert df["t"].tolist() == pytest.approx([0.0, 0.02, 0.04, 0.04, 0.06, 0.08])
    assert df["x"].tolist() == pytest.approx([0.1, 0.15, 0.18, 1.5, 1.45, 1.4])
    assert df.attrs["source"] == str((DATA / "tramway_header.txt").resolve())
    assert df.attrs["format"] == "tramway-text"
    # no frame interval in the file: estimated once, as the median time step, and flagged
    assert df.attrs["frame_interval"] == 0.02 and df.attrs["frame_interval_source"] == "estimated"
    assert df.attrs["localization_precision"] is None  # not given: the default is not copied
    assert df.attrs["pixel_size"] is None


def test_package_level_reader_is_the_same_function():
    assert napari_tramway.read_trajectories is read_trajectories


def test_scientific_notation_first_line_is_data_not_header():
    df = read_trajectories(DATA / "tramway_noheader.trxyt")
    assert len(df) == 5  # the first line is not swallowed
    assert df.iloc[0].tolist() == pytest.approx([1, 0.1, 0.2, 0.0])
    assert df["n"].tolist() == [1, 1, 1, 3, 3]


def test_five_columns_without_header_are_n_x_y_z_t():
    df = read_trajectories(DATA / "tramway_3d.txt")
    assert list(df.columns) == ["n", "x", "y", "z", "t"]
    assert df["z"].tolist() == pytest.approx([1.0, 1.1, 2.0, 2.2])


def test_separators_tabs_spaces_mixed_crlf_comments_and_blank_lines(tmp_path):
    expected = read_trajectories(DATA / "tramway_noheader.trxyt")
    rows = ["1 0.1 0.2 0", "1 0.15 0.26 0.02", "1 0.18 0.24 0.04", "3 5 5 0", "3 5.1 4.9 0.02"]
    variants = {
        "tabs.txt": "\n".join(r.replace(" ", "\t") for r in rows) + "\n",
        "spaces.txt": "\n".join(rows),  # no final newline
        "mixed.txt": "\n".join("  " + r.replace(" ", " \t  ") + "\t" for r in rows) + "\n",
        "crlf.txt": "\r\n".join(rows) + "\r\n",
        "comments.txt": "# exported by hand\n\n# units: um, s\n" + "\n\n".join(rows) + "\n\n",
    }
    for name, content in variants.items():
        df = read_trajectories(write(tmp_path / name, content))
        pd.testing.assert_frame_equal(df, expected, check_exact=False), name


def test_columns_list_and_dict_name_the_columns(tmp_path):
    path = write(tmp_path / "txyn.txt", "0.0 1.0 2.0 5\n0.1 1.1 2.1 5\n0.0 3.0 3.0 4\n")
    df = read_trajectories(path, columns=["t", "x", "y", "n"])
    assert df["n"].tolist() == [4, 5, 5]
    assert df["x"].tolist() == pytest.approx([3.0, 1.0, 1.1])
    path = write(tmp_path / "named.txt", "track  time  px  py\n2 0.5 1 2\n2 0.6 1.1 2.1\n")
    df = read_trajectories(path, columns={"x": "px", "y": "py"})
    assert df["t"].tolist() == pytest.approx([0.5, 0.6])
    assert df["x"].tolist() == pytest.approx([1.0, 1.1])


def test_keep_columns_appends_the_other_columns_after_t(tmp_path):
    path = write(tmp_path / "extra.txt", "n x y t photons\n1 0 0 0 100\n1 1 1 1 120\n")
    assert list(read_trajectories(path).columns) == ["n", "x", "y", "t"]
    df = read_trajectories(path, keep_columns=True)
    assert list(df.columns) == ["n", "x", "y", "t", "photons"]
    assert df["photons"].tolist() == [100.0, 120.0]


def test_unit_options_convert_to_um_and_s(tmp_path):
    path = write(tmp_path / "nm_ms.txt", "n x y t\n1 100 200 0\n1 150 260 20\n")
    df = read_trajectories(
        path, space_unit="nm", time_unit="ms", localization_precision=0.02, frame_interval=0.02
    )
    assert df["x"].tolist() == pytest.approx([0.1, 0.15])
    assert df["t"].tolist() == pytest.approx([0.0, 0.02])
    assert df.attrs["space_unit"] == "nm" and df.attrs["time_unit"] == "ms"
    assert df.attrs["localization_precision"] == 0.02 and df.attrs["frame_interval"] == 0.02
    df = read_trajectories(path, space_scale=1e-3, time_scale=1e-3)
    assert df["y"].tolist() == pytest.approx([0.2, 0.26])
    df = read_trajectories(
        path, space_unit="px", pixel_size=0.16, time_unit="frame", frame_interval=0.05
    )
    assert df["x"].tolist() == pytest.approx([16.0, 24.0])
    assert df["t"].tolist() == pytest.approx([0.0, 1.0])
    assert df.attrs["pixel_size"] == 0.16
    # the file states no unit: a pixel size alone says the positions are pixels
    df = read_trajectories(path, pixel_size=0.16)
    assert df["x"].tolist() == pytest.approx([16.0, 24.0]) and df.attrs["pixel_size"] == 0.16


def test_header_units_in_brackets_are_used(tmp_path):
    path = write(tmp_path / "units.txt", "n x[nm] y[nm] t[ms]\n1 100 200 0\n1 150 260 20\n")
    df = read_trajectories(path)
    assert df["x"].tolist() == pytest.approx([0.1, 0.15])
    assert df["t"].tolist() == pytest.approx([0.0, 0.02])


def test_unsorted_rows_are_sorted_stably_by_n_then_t(tmp_path):
    path = write(tmp_path / "unsorted.txt", "3 0 0 0.2\n1 0 0 0.1\n3 1 1 0.1\n1 2 2 0.0\n2 5 5 0\n")
    df = read_trajectories(path)
    assert df["n"].tolist() == [1, 1, 2, 3, 3]
    assert df["t"].tolist() == pytest.approx([0.0, 0.1, 0.0, 0.1, 0.2])
    assert df["x"].tolist() == pytest.approx([2, 0, 5, 1, 0])
    assert list(df.index) == list(range(5))


def test_duplicate_time_in_a_trajectory_names_it_and_the_lines(tmp_path):
    path = write(
        tmp_path / "dup.txt",
        "n x y t\n1 0 0 0\n2 0 0 0\n1 1 1 0.02\n2 1 1 0.02\n7 0 0 0.5\n7 1 1 0.5\n",
    )
    with pytest.raises(TrajectoryFormatError) as exc:
        read_trajectories(path)
    msg = str(exc.value)
    assert str(path) in msg and "trajectory 7" in msg and "lines 6 and 7" in msg
    assert exc.value.line == 7
    # unsorted duplicates are found too, with their original lines
    path = write(tmp_path / "dup2.txt", "4 0 0 0.1\n1 0 0 0\n4 1 1 0.1\n")
    with pytest.raises(TrajectoryFormatError, match=r"trajectory 4 .*lines 1 and 3"):
        read_trajectories(path)


def test_write_then_read_round_trips_to_1e6(tmp_path):
    rng = np.random.default_rng(1)
    n = np.repeat(np.arange(1, 51), 20)
    df = pd.DataFrame(
        {
            "n": n,
            "x": rng.uniform(-50, 50, n.size),
            "y": rng.uniform(0, 80, n.size),
            "z": rng.uniform(0, 1e-3, n.size),
            "t": np.tile(np.arange(20) * 0.013, 50) + 3.7,
        }
    )
    write_trajectories_text(df, tmp_path / "out.txt")
    first = (tmp_path / "out.txt").read_text().splitlines()[0]
    assert first.split("\t") == ["n", "x", "y", "z", "t"]
    back = read_trajectories(tmp_path / "out.txt")
    assert back["n"].tolist() == n.tolist()
    for c in "xyzt":
        assert np.max(np.abs(back[c].to_numpy() - df[c].to_numpy())) <= 5e-7 + 1e-12
    write_trajectories_text(df.drop(columns="z"), tmp_path / "out2d.txt")
    assert list(read_trajectories(tmp_path / "out2d.txt").columns) == ["n", "x", "y", "t"]


def _big_table(rows: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = np.repeat(np.arange(1, rows // 10 + 1), 10)
    t = np.tile(np.arange(10) * 0.02, rows // 10)
    return pd.DataFrame(
        {"n": n, "x": rng.uniform(0, 9, n.size), "y": rng.uniform(0, 9, n.size), "t": t}
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_chunked_parse_matches_single_read_and_locates_errors(tmp_path, monkeypatch, threads):
    table = _big_table(3000)
    path = tmp_path / "big.txt"
    write_trajectories_text(table, path)
    reference = read_trajectories(path)
    monkeypatch.setattr(text_mod, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(text_mod, "SMALL_FILE", 0)
    df = read_trajectories(path, threads=threads)
    pd.testing.assert_frame_equal(df, reference)
    assert len(df) == 3000
    # the estimate of the row count may be short: chunks then overflow and are placed at the end
    monkeypatch.setattr(text_mod, "_row_estimate", lambda *a: 100)
    pd.testing.assert_frame_equal(read_trajectories(path, threads=threads), reference)
    # a bad value deep in the file is reported on its own line, whichever chunk holds it
    lines = path.read_text().splitlines()
    lines[2501] = lines[2501].replace(lines[2501].split("\t")[2], "abc")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrajectoryFormatError) as exc:
        read_trajectories(path, threads=threads)
    assert (
        exc.value.line == 2502
        and exc.value.column == "y"
        and "'abc' is not a number" in str(exc.value)
    )
    lines[2501] = "\t".join(lines[2500].split("\t")[:3])  # a short line
    lines[1200] = lines[1200] + "\t7"  # an earlier long line, in another chunk
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrajectoryFormatError) as exc:
        read_trajectories(path, threads=threads)
    assert exc.value.line == 1201 and "expected 4 values" in str(exc.value)


def test_a_file_can_have_another_extension(tmp_path):
    target = tmp_path / "trajectories.csv"
    shutil.copy(DATA / "tramway_header.txt", target)
    assert read_trajectories(target).attrs["format"] == "tramway-text"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("short_estimate", [False, True])
def test_a_fractional_trajectory_id_deep_in_the_file_is_located(tmp_path, monkeypatch, threads, short_estimate):
    # every range is checked for integral ids, also the ranges stored late after an
    # underestimated row count; the earliest bad line is reported
    path = tmp_path / "big.txt"
    write_trajectories_text(_big_table(3000), path)
    lines = path.read_text().splitlines()
    for i in (2601, 1801):
        cells = lines[i].split("\t")
        lines[i] = "\t".join([cells[0] + ".5", *cells[1:]])
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(text_mod, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(text_mod, "SMALL_FILE", 0)
    if short_estimate:
        monkeypatch.setattr(text_mod, "_row_estimate", lambda *a: 100)
    with pytest.raises(TrajectoryFormatError, match="is not an integer") as exc:
        read_trajectories(path, threads=threads)
    assert exc.value.line == 1802 and exc.value.column == "n"


def test_writing_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    table = _big_table(20)
    write_trajectories_text(table, path)
    before = path.read_bytes()

    def broken(self, fh, **kw):
        fh.write(b"n\tx\n1\t")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_trajectories_text(table.iloc[:5], path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert path.read_bytes() == before and names == ["out.txt", "out.txt.meta.json"]
    assert read_trajectory_file(path).provenance.metadata_file == str(path) + ".meta.json"


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(DATA / "tramway_header.txt", tmp_path / "tracks.txt")
    df = read_trajectories("~/tracks.txt")
    assert len(df) == 6 and df.attrs["source"] == str(tmp_path / "tracks.txt")
