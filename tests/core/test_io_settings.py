"""The data-file settings registry: one description that every face (spec, CLI, GUI) can express."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path

import pytest

from napari_tramway.core.errors import ParameterError, SettingsError
from napari_tramway.core.io import (
    FILE_SETTINGS,
    OPTION_NAMES,
    FileSettings,
    how_to_give,
    read_trajectories,
)
from napari_tramway.core.io.columns import ROLES
from napari_tramway.core.io.sniff import FORMATS
from napari_tramway.core.parameters import Parameter

DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def test_file_settings_class_is_generated_from_the_registry():
    fields = dataclasses.fields(FileSettings)
    assert [f.name for f in fields] == [p.name for p in FILE_SETTINGS.parameters]
    assert [f.default for f in fields] == [p.default for p in FILE_SETTINGS.parameters]
    assert dataclasses.is_dataclass(FileSettings) and FileSettings.__dataclass_params__.frozen
    # read_trajectories takes exactly the registry's names (plus two reading options)
    assert set(OPTION_NAMES) == {p.name for p in FILE_SETTINGS.parameters} | {"keep_columns", "threads"}
    assert FILE_SETTINGS.parameter("format").choices == FORMATS
    assert FILE_SETTINGS.parameter("columns").keys == ROLES
    units = {p.name: p.unit for p in FILE_SETTINGS.parameters}
    assert units["pixel_size"] == "µm" and units["frame_interval"] == "s" and units["localization_precision"] == "µm"


def test_settings_are_validated_once_when_built_and_frozen():
    s = FileSettings(pixel_size=0.16, space_unit="Pixel", time_unit="msec", columns={"y": "Y", "x": "X"})
    assert s.space_unit == "px" and s.time_unit == "ms"  # aliases stored in canonical spelling
    assert list(s.columns) == ["x", "y"]  # in role order, read-only
    with pytest.raises(TypeError):
        s.columns["t"] = "T"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.pixel_size = 1.0
    with pytest.raises(SettingsError, match="pixel_size: must be > 0"):
        FileSettings(pixel_size=0)
    assert FileSettings(space_unit="µm") == FileSettings(space_unit="um") == FileSettings(space_unit="\u03bcm")
    assert pickle.loads(pickle.dumps(s)) == s and hash(s) == hash(FileSettings.from_dict(s.to_dict()))


def test_validate_reports_every_problem_with_its_field_path():
    problems = FileSettings.validate(
        {"pixel_size": -1, "space_unit": "furlong", "frame_interval": "fast", "bogus": 1,
         "columns": {"q": "a"}},
        where="files[2]",
    )
    fields = sorted(p.field for p in problems)
    assert fields == ["files[2].bogus", "files[2].columns", "files[2].frame_interval", "files[2].pixel_size",
                      "files[2].space_unit"]
    assert all(isinstance(p, ParameterError) for p in problems)
    with pytest.raises(SettingsError) as exc:
        FileSettings.from_dict({"pixel_size": -1, "time_unit": "fortnight"}, where="files[0]")
    assert [p.field for p in exc.value.problems] == ["files[0].pixel_size", "files[0].time_unit"]
    # problems between fields
    fields = {p.field for p in FileSettings.validate({"space_unit": "nm", "space_scale": 1e-3,
                                                      "columns": {"x": "a", "y": "a"}})}
    assert fields == {"space_scale", "columns"}
    assert FileSettings.validate({"pixel_size": 0.16}) == []


def test_dict_and_text_round_trips():
    s = FileSettings(columns={"n": "TRACK_ID", "x": "POSITION_X", "y": 2, "z": None}, pixel_size=0.16,
                     frame_interval=0.00748, time_unit="frame")
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d  # plain JSON types, only what differs from the defaults
    assert d == {"columns": {"n": "TRACK_ID", "x": "POSITION_X", "y": 2, "z": None}, "pixel_size": 0.16,
                 "time_unit": "frame", "frame_interval": 0.00748}
    assert FileSettings.from_dict(d) == s
    text = s.to_text()
    assert text["columns"] == "n=TRACK_ID,x=POSITION_X,y=2,z="
    assert FileSettings.from_text(text) == s
    assert FileSettings.from_dict({}) == FileSettings() and FileSettings().to_dict() == {}


def test_mapping_parameter_parses_command_line_and_json_text():
    p = FILE_SETTINGS.parameter("columns")
    assert p.parse("x=POSITION_X, y=POSITION_Y,t=POSITION_T,n=TRACK_ID") == {
        "n": "TRACK_ID", "x": "POSITION_X", "y": "POSITION_Y", "t": "POSITION_T"}
    assert p.parse("n=0,x=1,y=2,frame=5") == {"n": 0, "x": 1, "y": 2, "frame": 5}
    assert p.parse('{"x": "X [nm]", "z": null}') == {"x": "X [nm]", "z": None}
    assert p.parse("") is None and p.parse("auto") is None
    for bad, why in (("x", "not key=value"), ("q=a", "unknown key 'q'"), ("{oops", "not a JSON object"),
                     ("[1, 2]", "not key=value")):
        with pytest.raises(ParameterError, match=why) as exc:
            p.parse(bad, where="files[0]")
        assert exc.value.field == "files[0].columns"
    with pytest.raises(ParameterError, match="expected a name or a 0-based position"):
        p.validate({"x": 1.5})


def test_scalar_parameters_parse_and_format_text():
    fi = FILE_SETTINGS.parameter("frame_interval")
    assert fi.parse("0.00748") == 0.00748 and fi.parse(" ") is None and fi.format(0.00748) == "0.00748"
    unit = FILE_SETTINGS.parameter("space_unit")
    assert unit.parse("microns") == "µm" and unit.parse("PX") == "px" and unit.parse("nanometres") == "nm"
    with pytest.raises(ParameterError, match="must be one of µm, nm, px"):
        unit.parse("mm")  # other units: space_scale
    flag = Parameter("keep", "bool", False, "a flag")
    assert flag.parse("yes") is True and flag.format(True) == "true"
    pair = Parameter("knn", "int_pair", None, "neighbours")
    assert pair.parse("3,") == (3, None) and pair.format((3, None)) == "3,"
    count = Parameter("count", "int", 3, "a count", minimum=1)
    with pytest.raises(ParameterError, match="a value is required"):
        count.parse("")


def test_how_to_give_names_every_face_from_the_registry():
    cols = FILE_SETTINGS.parameter("columns")
    hint = how_to_give("columns")
    assert f"{cols.cli_flag} n=NAME,x=NAME,y=NAME,t=NAME (command line)" in hint
    assert f'"{cols.label}" field (napari)' in hint and "columns={'n': 'NAME'" in hint
    assert how_to_give("pixel_size").startswith("--pixel-size PIXEL_SIZE (command line)")
    assert how_to_give("space_unit", "µm") == (
        "--space-unit µm (command line), \"space unit\" = µm (napari), space_unit='µm' (Python)")


def test_read_trajectories_options_are_the_registry_settings(tmp_path):
    path = tmp_path / "px.csv"
    path.write_text("track,frame,x,y\n1,0,10,20\n1,1,11,20\n")
    by_dict = read_trajectories(path, pixel_size=0.1, frame_interval=0.5)
    by_text = read_trajectories(path, **FileSettings.from_text({"pixel_size": "0.1", "frame_interval": "0.5"}).to_dict())
    assert by_dict.equals(by_text) and by_dict["x"].tolist() == pytest.approx([1.0, 1.1])


def test_docs_table_is_the_registry_table():
    text = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- registry:file-settings -->\n(.*?)\n<!-- /registry -->", text, re.S)
    assert m, "docs/formats.md lacks the file-settings table markers"
    assert m.group(1).strip() == FILE_SETTINGS.table().strip()


def test_docs_worked_examples_run_as_written(monkeypatch):
    import doctest

    monkeypatch.chdir(Path(__file__).parent / "data")
    text = DOCS.read_text(encoding="utf-8").replace("\n```", "\n\n```")  # a fence ends an example's output
    test = doctest.DocTestParser().get_doctest(text, {}, "formats.md", str(DOCS), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False) == (0, len(test.examples)) and len(test.examples) >= 10
