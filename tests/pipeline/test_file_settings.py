"""The data-file settings in the spec and through the pipeline: generated fields, the older `reader`
layout, problems with their field paths, fingerprints, and typed values (not DataFrame.attrs) carried
to the static filter, the fit, the time windows and the result metadata."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from napari_tramway import Analysis
from napari_tramway.core.errors import UnitWarning
from napari_tramway.core.io import FILE_SETTINGS, FileSettings
from napari_tramway.core.simulate import standard_dataset
from napari_tramway.pipeline import (
    AnalysisSpec,
    DataFile,
    MeshSpec,
    ModelSpec,
    SpecError,
    TimeWindowSpec,
)
from napari_tramway.pipeline.units import Unit


def test_a_data_file_has_every_file_setting_and_nothing_else_describes_a_file():
    import dataclasses

    names = [f.name for f in dataclasses.fields(DataFile)]
    settings = [p.name for p in FILE_SETTINGS.parameters]
    assert set(settings) <= set(names)
    assert set(names) - set(settings) == {"path", "rois", "label", "labels", "remote_path", "reader"}
    f = DataFile("tracks.csv", pixel_size=0.16, frame_interval=0.00748, columns="n=track,x=X,y=Y,frame=F",
                 space_unit="pixel")
    assert isinstance(f.settings, FileSettings) and f.settings is f.settings  # made once, when checked
    assert (f.pixel_size, f.space_unit, f.columns) == (0.16, "px", {"n": "track", "x": "X", "y": "Y", "frame": "F"})
    assert f.to_dict() == {"path": "tracks.csv", "frame_interval": 0.00748,
                           "columns": {"n": "track", "x": "X", "y": "Y", "frame": "F"}, "space_unit": "px",
                           "pixel_size": 0.16}
    assert DataFile.from_dict(f.to_dict()) == f
    f.pixel_size = 0.1  # a field changed later is checked when the settings are asked for
    assert f.settings.pixel_size == 0.1


def test_problems_are_reported_with_their_field_paths():
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict({"files": ["a.txt", {"path": "b.csv", "pixel_size": -1, "time_unit": "fortnight",
                                                     "columns": "x=1,x2"}]})
    paths = [p for p, _ in err.value.problems]
    assert paths == ["files[1].columns", "files[1].pixel_size", "files[1].time_unit"]
    with pytest.raises(SpecError) as err:  # rules between fields
        AnalysisSpec.from_dict({"files": [{"path": "b.csv", "space_unit": "nm", "space_scale": 2.0}]})
    assert [p for p, _ in err.value.problems] == ["files[0].space_scale"]
    with pytest.raises(SpecError) as err:
        DataFile("b.csv", columns={"x": "A", "y": "A"})
    assert "column 'A' is given several roles" in str(err.value) and err.value.problems[0][0] == "file.columns"


def test_an_older_spec_with_a_reader_object_still_loads(tmp_path):
    old = {"format": "napari-tramway/spec", "version": 1,
           "files": [{"path": "cell2.csv", "frame_interval": 0.02,
                      "reader": {"columns": {"n": "TRACK_ID", "x": "POSITION_X", "y": "POSITION_Y", "frame": "FRAME"},
                                 "space_unit": "nm"}}]}
    spec = AnalysisSpec.from_dict(old)
    f = spec.files[0]
    assert f.space_unit == "nm" and f.columns["x"] == "POSITION_X" and f.frame_interval == 0.02
    assert "reader" not in f.to_dict()
    assert f.reader == {"columns": f.columns, "space_unit": "nm"}  # what the napari panel reads
    assert AnalysisSpec.from_dict(spec.to_dict()).files[0] == f
    bad = json.loads(json.dumps(old))
    bad["files"][0]["reader"].update({"threads": 2, "frame_interval": 0.05})
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict(bad)
    assert [p for p, _ in err.value.problems] == ["files[0].reader.threads", "files[0].reader.frame_interval"]


def test_changing_a_file_setting_makes_only_that_files_units_stale(tmp_path):
    paths = []
    for k in range(2):
        df, _ = standard_dataset(4_000, seed=30 + k)
        paths.append(tmp_path / f"c{k}.txt")
        df[["n", "x", "y", "t"]].to_csv(paths[-1], sep="\t", index=False)
    spec = AnalysisSpec(files=[DataFile(str(p), frame_interval=0.02) for p in paths],
                        mesh=MeshSpec("grid", {"resolution": 3.0}), model=ModelSpec("d", {}))
    units = [Unit(0, "c0", "all"), Unit(1, "c1", "all")]
    before = [spec.unit_fingerprint(u) for u in units]
    spec.files[1] = DataFile(str(paths[1]), frame_interval=0.02, space_unit="um")  # said, not assumed
    after = [spec.unit_fingerprint(u) for u in units]
    assert before[0] == after[0] and before[1] != after[1]
    a = Analysis(spec, store=tmp_path / "s")
    assert a.run().ok
    spec.files[0] = DataFile(str(paths[0]), frame_interval=0.02, localization_precision=0.05)
    assert Analysis(spec, store=tmp_path / "s").status() == {"c0/all": "stale", "c1/all": "done"}


def test_fingerprints_of_results_made_before_these_fields_are_unchanged():
    """The record keeps the earlier layout: frame interval, σ, and the other settings as 'reader'."""
    import hashlib

    spec = AnalysisSpec.from_dict({"files": [{"path": "a.csv", "frame_interval": 0.02, "localization_precision": 0.03,
                                              "reader": {"columns": {"n": "track"}}}]})
    keep = {"analysis": spec.fingerprint(), "file": {"frame_interval": 0.02, "localization_precision": 0.03,
                                                     "reader": {"columns": {"n": "track"}}}, "rois": []}
    earlier = hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert spec.unit_fingerprint(Unit(0, "a", "all")) == earlier


@pytest.fixture(scope="module")
def pixel_file(tmp_path_factory):
    """Trajectories in pixels (0.1 µm) and frames (0.02 s), D = 0.1 µm²/s, as a tracker writes them."""
    d = tmp_path_factory.mktemp("px")
    df, _ = standard_dataset(20_000, seed=4)
    frame = np.rint(df["t"].to_numpy() / 0.02).astype(int)
    table = pd.DataFrame({"track": df["n"], "X": df["x"] / 0.1, "Y": df["y"] / 0.1, "F": frame})
    path = d / "px.csv"
    table.to_csv(path, index=False)
    return path


def test_the_unit_metadata_records_how_the_file_was_read(tmp_path, pixel_file):
    f = DataFile(str(pixel_file), pixel_size=0.1, frame_interval=0.02, columns="n=track,x=X,y=Y,frame=F")
    a = Analysis(AnalysisSpec(files=[f], mesh=MeshSpec("grid", {"resolution": 2.0}), model=ModelSpec("d", {})),
                 store=tmp_path / "s")
    assert a.run().ok
    label = a.units()[0].label
    maps, meta = a.results().unit(label)
    prov = meta["provenance"]
    assert prov["space_unit"] == "px" and prov["space_factor"] == 0.1 and prov["space_unit_source"] == "pixel_size"
    assert prov["time_unit"] == "frame" and prov["time_factor"] == 0.02
    assert prov["frame_interval"] == 0.02 and prov["frame_interval_source"] == "given"
    assert prov["localization_precision"] == 0.03 and prov["localization_precision_source"] == "default"
    assert prov["columns"] == {"n": "track", "x": "X", "y": "Y", "frame": "F"} and prov["warnings"] == []
    # σ and the frame interval reached the fit typed, with their sources (the file's acquisition)
    assert maps.parameters["sigma"] == 0.03 and maps.info["sigma_source"] == "default"
    assert (maps.info["frame_interval"], maps.info["frame_interval_source"]) == (0.02, "given")
    d = maps.table["diffusivity"].to_numpy()  # two halves at 0.1 and 0.5 µm²/s (pixels read as µm: x100)
    assert 0.07 < np.nanquantile(d, 0.1) and np.nanquantile(d, 0.9) < 0.7


def test_sigma_of_the_file_reaches_the_fit_unless_the_model_sets_one(tmp_path, pixel_file):
    base = dict(pixel_size=0.1, frame_interval=0.02, columns="n=track,x=X,y=Y,frame=F")
    for sigma, model, expected in ((0.02, {}, 0.02), (0.02, {"sigma": 0.04}, 0.04)):
        spec = AnalysisSpec(files=[DataFile(str(pixel_file), localization_precision=sigma, **base)],
                            mesh=MeshSpec("grid", {"resolution": 3.0}), model=ModelSpec("d", model))
        a = Analysis(spec, store=tmp_path / f"s{expected}")
        assert a.run().ok
        maps = a.results().maps(a.units()[0].label)
        assert maps.parameters["sigma"] == expected


def test_time_windows_in_frames_use_the_frame_interval_the_reader_decided(tmp_path, pixel_file):
    """50 frames of 0.04 s (a frame interval given for this file, twice the data's time step) are
    2 s windows; the data's own step would give 1 s."""
    spec = AnalysisSpec(files=[DataFile(str(pixel_file), pixel_size=0.1, frame_interval=0.04,
                                        columns="n=track,x=X,y=Y,frame=F")],
                        mesh=MeshSpec("grid", {"resolution": 3.0}), model=ModelSpec("d", {}),
                        time_windows=TimeWindowSpec(50.0, frames=True))
    units = Analysis(spec, store=tmp_path / "s").units()
    lengths = {round(u.segment[1] - u.segment[0], 6) for u in units[:-1]}
    assert lengths == {2.0}


def test_the_pixel_warning_is_shown_once_when_the_units_are_planned(tmp_path):
    df, _ = standard_dataset(3_000, seed=2)
    path = tmp_path / "pixels.csv"
    pd.DataFrame({"n": df["n"], "x": np.round(df["x"] / 0.1), "y": np.round(df["y"] / 0.1),
                  "t": df["t"]}).to_csv(path, index=False)
    spec = AnalysisSpec(files=[DataFile(str(path))], mesh=MeshSpec("grid", {"resolution": 20.0}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = Analysis(spec, store=tmp_path / "s")
        a.units()
        assert a.run().ok  # the unit reads the cached file: no second warning
    unit_warnings = [w for w in caught if issubclass(w.category, UnitWarning)]
    assert len(unit_warnings) == 1 and str(path) in str(unit_warnings[0].message)
    assert "--pixel-size" in str(unit_warnings[0].message)
    maps, meta = a.results().unit(a.units()[0].label)
    assert meta["provenance"]["warnings"] == [str(unit_warnings[0].message)]
