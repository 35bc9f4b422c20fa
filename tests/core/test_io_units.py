"""Units are never silently wrong: each tracker's file in µm and s, with a typed record of the read."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_tramway.core import defaults
from napari_tramway.core.errors import TrajectoryFormatError, UnitError, UnitWarning
from napari_tramway.core.io import (
    FILE_SETTINGS,
    FileSettings,
    TrajectoryFile,
    read_trajectories,
    read_trajectory_file,
    write_trajectories_text,
)
from napari_tramway.core.trajectories import estimate_frame_interval, translocations

DATA = Path(__file__).parent / "data"
SASPT = DATA / "saspt_tracks.csv"
PIXEL, DT = 0.16, 0.00748  # saSPT's U2OS sample: µm per pixel, s per frame


def read_quietly(path, **settings) -> TrajectoryFile:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitWarning)
        return read_trajectory_file(path, settings)


# --- saSPT / Spot-On track tables: pixels and frames, units stated nowhere ------------------------

def test_saspt_table_in_pixels_and_frames_equals_the_same_data_in_um_and_s(tmp_path):
    tf = read_quietly(SASPT, pixel_size=PIXEL, frame_interval=DT)
    raw = pd.read_csv(SASPT)
    # the same data, written in µm and s
    um = pd.DataFrame({"trajectory": raw["trajectory"], "t": raw["frame"] * DT,
                       "x": raw["x"] * PIXEL, "y": raw["y"] * PIXEL})
    um_path = tmp_path / "saspt_um.csv"
    um.to_csv(um_path, index=False, float_format="%.17g")
    ref = read_quietly(um_path, space_unit="µm", frame_interval=DT)
    loc, ref_loc = tf.locations, ref.locations
    assert len(loc) == len(raw) and loc["n"].tolist() == ref_loc["n"].tolist()
    for c in ("x", "y", "t"):
        np.testing.assert_allclose(loc[c].to_numpy(), ref_loc[c].to_numpy(), rtol=1e-15, atol=0)
    p = tf.provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("px", "pixel_size", PIXEL)
    assert (p.time_unit, p.time_unit_source, p.time_factor) == ("frame", "frame_column", DT)
    assert (p.frame_interval, p.frame_interval_source) == (DT, "given")
    assert p.columns == {"n": "trajectory", "x": "x", "y": "y", "frame": "frame"}
    assert p.warnings == ()


def test_saspt_table_gives_the_simulated_diffusivity_in_um2_per_s():
    tf = read_quietly(SASPT, pixel_size=PIXEL, frame_interval=DT)
    steps = translocations(tf.locations)
    steps = steps[np.isclose(steps["dt"], DT)]
    sigma, truth = 0.03, 2.5  # tests/core/data/make_saspt_tracks.py
    d = float(((steps["dx"] ** 2 + steps["dy"] ** 2).mean() - 4 * sigma**2) / (4 * DT))
    assert len(steps) > 900 and d == pytest.approx(truth, rel=0.08)


def test_saspt_table_without_pixel_size_gives_the_pixel_warning():
    with pytest.warns(UnitWarning) as record:
        tf = read_trajectory_file(SASPT, {"frame_interval": DT})
    message = str(record[0].message)
    assert message.startswith(str(SASPT)) and "look like pixels" in message
    assert FILE_SETTINGS.parameter("pixel_size").cli_flag in message and "pixel_size=" in message
    assert "a range of" in message and "median step" in message
    assert tf.provenance.warnings == (message,)
    assert (tf.provenance.space_unit, tf.provenance.space_unit_source) == ("µm", "assumed")
    # saying the unit silences it
    read_quietly(SASPT, frame_interval=DT, space_unit="µm")


def test_saspt_table_without_frame_interval_is_an_error():
    with pytest.raises(UnitError, match="frame numbers") as exc:
        read_trajectory_file(SASPT, {"pixel_size": PIXEL})
    assert "--frame-interval" in str(exc.value) and exc.value.column == "frame"


# --- each tracker's units -------------------------------------------------------------------------

def test_trackmate_csv_units_row():
    p = read_quietly(DATA / "trackmate_v7_spots.csv").provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("µm", "file", 1.0)
    assert (p.time_unit, p.time_unit_source) == ("s", "file")
    assert (p.frame_interval, p.frame_interval_source) == (0.05, "inferred")


def test_old_trackmate_csv_states_no_unit_and_says_so():
    with pytest.warns(UnitWarning, match="does not state its units"):
        p = read_trajectory_file(DATA / "trackmate_v6_spots.csv").provenance
    assert p.space_unit_source == "assumed" and len(p.warnings) == 1
    p = read_quietly(DATA / "trackmate_v6_spots.csv", space_unit="µm", time_unit="s").provenance
    assert (p.space_unit_source, p.time_unit_source) == ("given", "given")


def test_trackmate_xml_carries_its_units_and_calibration():
    tf = read_quietly(DATA / "trackmate_v7.xml", pixel_size=0.2)
    p = tf.provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("µm", "file", 1.0)  # micron
    assert (p.time_unit, p.time_unit_source) == ("s", "file")  # sec
    assert p.frame_interval == pytest.approx(0.05) and p.frame_interval_source == "file"
    # positions already in µm: a pixel size given is recorded, not applied, and the note says so
    assert p.pixel_size == 0.2 and p.pixel_size_source == "given"
    assert any("not applied" in n for n in p.notes)
    assert tf.locations["x"].iloc[0] == pytest.approx(1.0)
    # TrackMate 3 in pixels: the pixel size is needed, and applied
    with pytest.raises(UnitError, match="pixels \\(as the file states\\)"):
        read_trajectory_file(DATA / "trackmate_v3.xml")
    p = read_quietly(DATA / "trackmate_v3.xml", pixel_size=0.16).provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("px", "file", 0.16)
    assert p.frame_interval == 1.0 and p.frame_interval_source == "file"


def test_thunderstorm_header_says_nm():
    tf = read_quietly(DATA / "thunderstorm_tracked.csv", frame_interval=0.03)
    p = tf.provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("nm", "file", 1e-3)
    assert (p.time_unit, p.time_unit_source, p.time_factor) == ("frame", "frame_column", 0.03)
    assert tf.locations["x"].iloc[0] == pytest.approx(5.2304)
    with pytest.raises(UnitError, match="frame numbers"):
        read_trajectory_file(DATA / "thunderstorm_tracked.csv")


def test_trackpy_is_pixels_and_frames():
    with pytest.raises(UnitError, match="pixels \\(trackpy convention\\)"):
        read_trajectory_file(DATA / "trackpy_linked.csv", {"frame_interval": 0.05})
    p = read_quietly(DATA / "trackpy_linked.csv", pixel_size=0.1, frame_interval=0.05).provenance
    assert (p.space_unit, p.space_unit_source, p.space_factor) == ("px", "format", 0.1)
    assert (p.time_unit, p.time_factor) == ("frame", 0.05)


def test_isbi_challenge_is_pixels_and_trackmate_track_export_is_calibrated():
    p = read_quietly(DATA / "isbi_challenge.xml", pixel_size=0.1, frame_interval=0.1).provenance
    assert (p.space_unit_source, p.space_factor) == ("format", 0.1)
    p = read_quietly(DATA / "trackmate_tracks_export.xml").provenance
    assert (p.space_unit, p.space_unit_source) == ("µm", "file")
    assert (p.frame_interval, p.frame_interval_source) == (0.05, "file")


# --- the rules ------------------------------------------------------------------------------------

def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pixel_size_with_no_stated_unit_means_pixels_and_the_provenance_says_so(tmp_path):
    path = write(tmp_path / "a.txt", "n x y t\n1 100 200 0\n1 110 200 0.02\n")
    tf = read_quietly(path, pixel_size=0.1)
    assert tf.locations["x"].tolist() == pytest.approx([10.0, 11.0])
    assert tf.provenance.space_unit_source == "pixel_size"
    assert any("pixel size was given" in line for line in tf.provenance.describe())
    # a header stating µm wins: the pixel size is only recorded
    path = write(tmp_path / "b.txt", "n x[µm] y[µm] t\n1 10 20 0\n1 11 20 0.02\n")
    tf = read_quietly(path, pixel_size=0.1)
    assert tf.locations["x"].tolist() == pytest.approx([10.0, 11.0]) and tf.provenance.notes


def test_frame_interval_sources_and_the_one_estimate(tmp_path):
    path = write(tmp_path / "t.txt", "n x y t\n1 0 0 0\n1 0.1 0 0.04\n1 0.2 0 0.08\n2 1 1 1.0\n2 1 1.1 1.04\n")
    tf = read_quietly(path)
    assert tf.frame_interval == 0.04 and tf.provenance.frame_interval_source == "estimated"
    assert tf.provenance.frame_interval_estimated
    n, t = tf.locations["n"].to_numpy(), tf.locations["t"].to_numpy()
    assert estimate_frame_interval(n, t) == tf.frame_interval  # the same function, one place
    # the analysis takes it typed, with its source, decided once here
    assert (tf.acquisition.frame_interval, tf.acquisition.frame_interval_source) == (0.04, "estimated")
    assert tf.acquisition is tf.acquisition
    given = read_quietly(path, frame_interval=0.05)
    assert (given.frame_interval, given.provenance.frame_interval_source) == (0.05, "given")
    assert (given.acquisition.frame_interval, given.acquisition.frame_interval_source) == (0.05, "given")
    single = write(tmp_path / "single.txt", "n x y t\n1 0 0 0\n2 1 1 0.5\n")
    tf = read_quietly(single)
    assert tf.frame_interval is None and tf.provenance.frame_interval_source is None
    with pytest.raises(TrajectoryFormatError, match=r"single.txt: frame_interval: unknown .* give the frame interval"):
        tf.acquisition  # noqa: B018  (an error naming the field, not a default)


def test_frame_interval_estimate_on_big_tables_is_sampled_in_blocks():
    rng = np.random.default_rng(0)
    n = np.repeat(np.arange(300_000), 5)
    t = np.tile(np.arange(5) * 0.02, 300_000) + np.repeat(rng.integers(0, 100, 300_000) * 0.02, 5)
    assert estimate_frame_interval(n, t) == 0.02
    assert estimate_frame_interval(np.arange(3), np.zeros(3)) is None


def test_sigma_given_file_or_default(tmp_path):
    path = write(tmp_path / "a.txt", "n x y t\n1 0 0 0\n1 0.1 0 0.02\n")
    tf = read_quietly(path)
    assert tf.localization_precision == defaults.LOCALIZATION_PRECISION
    assert tf.provenance.localization_precision_source == "default"
    assert tf.locations.attrs["localization_precision"] is None  # the default is not copied to attrs
    assert (tf.acquisition.localization_precision, tf.acquisition.localization_precision_source) == (
        defaults.LOCALIZATION_PRECISION, "default")
    tf = read_quietly(path, localization_precision=0.02)
    assert (tf.localization_precision, tf.provenance.localization_precision_source) == (0.02, "given")
    assert tf.acquisition.localization_precision == 0.02


def test_times_that_look_like_frames_give_a_warning(tmp_path):
    path = write(tmp_path / "f.csv", "track,x,y,t\n1,0.1,0.2,0\n1,0.2,0.2,1\n1,0.3,0.2,2\n2,1,1,5\n2,1.1,1,6\n")
    with pytest.warns(UnitWarning, match="look like frame numbers") as record:
        read_trajectory_file(path)
    assert "--time-unit frame" in str(record[0].message)
    read_quietly(path, time_unit="s")  # said: no warning
    read_quietly(path, time_unit="frame", frame_interval=0.02)


def test_unit_errors_are_format_errors_naming_the_file(tmp_path):
    path = write(tmp_path / "u.csv", "track,x [furlong],y [furlong],t\n1,0,0,0\n1,1,1,1\n")
    with pytest.raises(UnitError, match="unknown space unit 'furlong'") as exc:
        read_trajectory_file(path)
    assert isinstance(exc.value, TrajectoryFormatError) and str(exc.value).startswith(str(path))
    assert "--space-scale" in str(exc.value)


def test_read_trajectories_keeps_attrs_as_a_copy_of_the_record():
    df = read_trajectories(DATA / "trackmate_v7.xml")
    tf = read_trajectory_file(DATA / "trackmate_v7.xml")
    assert df.equals(tf.locations)
    assert df.attrs["frame_interval"] == tf.frame_interval and df.attrs["pixel_size"] == tf.pixel_size
    assert df.attrs["frame_interval_source"] == "file" and df.attrs["format"] == tf.provenance.format
    assert isinstance(tf.settings, FileSettings) and tf.settings == FileSettings()
    d = tf.provenance.to_dict()
    assert d["space_unit"] == "µm" and d["frame_interval_source"] == "file"


# --- the metadata file written beside TRamWAy text -------------------------------------------------

def test_written_text_keeps_sigma_frame_interval_and_units(tmp_path):
    tf = read_quietly(SASPT, pixel_size=PIXEL, frame_interval=DT, localization_precision=0.025)
    out = tmp_path / "tracks.txt"
    write_trajectories_text(tf.locations, out, frame_interval=tf.frame_interval,
                            localization_precision=tf.localization_precision)
    back = read_quietly(out)  # bare re-read
    p = back.provenance
    assert (back.frame_interval, p.frame_interval_source) == (DT, "file")
    assert (back.localization_precision, p.localization_precision_source) == (0.025, "file")
    assert (p.space_unit, p.space_unit_source) == ("µm", "file") and p.metadata_file == str(out) + ".meta.json"
    np.testing.assert_allclose(back.locations["x"], tf.locations["x"], atol=5e-7)
    # the data file is still what TRamWAy reads: a header line, then numbers
    assert out.read_text().splitlines()[0] == "n\tx\ty\tt"
    # given settings win over the file's
    assert read_quietly(out, localization_precision=0.01).localization_precision == 0.01


def test_an_estimated_frame_interval_is_not_recorded_as_a_fact(tmp_path):
    path = write(tmp_path / "a.txt", "n x y t\n1 0 0 0\n1 0.1 0 0.04\n")
    out = tmp_path / "b.txt"
    write_trajectories_text(read_trajectories(path), out)
    assert read_quietly(out).provenance.frame_interval_source == "estimated"


def test_a_stale_or_broken_metadata_file_is_ignored_with_a_warning(tmp_path):
    out = tmp_path / "tracks.txt"
    df = pd.DataFrame({"n": [1, 1, 1], "x": [0.0, 0.1, 0.2], "y": 0.0, "t": [0.0, 0.02, 0.04]})
    write_trajectories_text(df, out, frame_interval=0.02, localization_precision=0.02)
    out.write_text(out.read_text() + "1\t0.3\t0.0\t0.06\n")  # changed by another program
    with pytest.warns(UnitWarning, match="describes another version"):
        tf = read_trajectory_file(out)
    assert tf.provenance.localization_precision_source == "default" and tf.provenance.metadata_file is None
    (tmp_path / "tracks.txt.meta.json").write_text("{not json")
    with pytest.warns(UnitWarning, match="cannot be read"):
        read_trajectory_file(out)
