import json

import pytest

from napari_tramway.core.roi import Ellipse, Polygon, Rectangle
from napari_tramway.pipeline import (
    AnalysisSpec,
    DataFile,
    EnvironmentSpec,
    MeshSpec,
    ModelSpec,
    SpecError,
    TimeWindowSpec,
)


def full_spec(tmp_path):
    return AnalysisSpec(
        files=[DataFile(str(tmp_path / "a.txt"), frame_interval=0.02, localization_precision=0.03,
                        reader={"columns": {"n": "track"}}),
               DataFile("b.csv", rois=[Ellipse((1, 1), (2, 1), 10)])],
        rois=[Rectangle(0, 0, 1, 1), Polygon([[0, 0], [2, 0], [1, 2]])],
        group_overlapping_rois=True,
        mesh=MeshSpec("hexagon", {"resolution": 0.8}),
        time_windows=TimeWindowSpec(30.0, 15.0),
        model=ModelSpec("dv", {"diffusivity_prior": 1.0, "potential_prior": 2.0}),
        name="test",
    )


def test_spec_round_trips_through_json_and_toml(tmp_path):
    spec = full_spec(tmp_path)
    p = spec.save(tmp_path / "spec.json")
    back = AnalysisSpec.load(p)
    assert back.to_dict() == spec.to_dict()
    assert back.base_dir == str(tmp_path.resolve())
    assert back.resolve_path(back.files[1]) == tmp_path.resolve() / "b.csv"
    toml = tmp_path / "spec.toml"
    toml.write_text(
        'version = 1\nstage = "tessellate_and_infer"\n[[files]]\npath = "x.txt"\nframe_interval = 0.02\n'
        '[mesh]\nmethod = "grid"\n[mesh.parameters]\nresolution = 0.5\n[model]\nname = "d"\n'
    )
    t = AnalysisSpec.load(toml)
    assert t.mesh.method == "grid" and t.files[0].frame_interval == 0.02


def test_every_problem_is_reported_with_its_field_path():
    bad = {
        "format": "napari-tramway/spec", "version": 1,
        "files": [{"path": "a.txt", "frame_interval": -1}, {"frame_interval": 0.1}],
        "rois": [{"kind": "rectangle", "bounds": [1, 0, 0, 1]}, {"kind": "blob"}],
        "mesh": {"method": "hexagon", "parameters": {"resolution": -2, "bogus": 1}},
        "model": {"name": "dv", "parameters": {"potential_prior": "high"}},
        "time_windows": {"duration": 0},
        "stage": "everything",
        "colour": "blue",
    }
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict(bad, source="spec.json")
    paths = [p for p, _ in err.value.problems]
    for expected in ("files[0].frame_interval", "files[1].path", "rois[0]", "rois[1].kind",
                     "mesh.parameters.resolution", "mesh.parameters.bogus", "model.parameters.potential_prior",
                     "time_windows.duration", "stage", "colour"):
        assert expected in paths, (expected, paths)
    assert "spec.json" in str(err.value)


def test_unknown_mesh_and_model_names():
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict({"files": ["a.txt"], "mesh": {"method": "voronoi"}, "model": {"name": "xyz"}})
    paths = [p for p, _ in err.value.problems]
    assert "mesh.method" in paths and "model.name" in paths


def test_newer_version_and_bad_json(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"version": 99, "files": ["a.txt"]}))
    with pytest.raises(SpecError, match="newer"):
        AnalysisSpec.load(p)
    p.write_text("{ not json")
    with pytest.raises(SpecError, match="line 1"):
        AnalysisSpec.load(p)


def test_file_labels_are_unique_and_safe():
    spec = AnalysisSpec(files=[DataFile("/x/cell 1.txt"), DataFile("/y/cell 1.txt"), DataFile("/z/a.b.csv")])
    assert spec.file_labels() == ["cell_1", "cell_1-2", "a"]


def test_fingerprint_tracks_settings_not_files():
    a = AnalysisSpec(files=[DataFile("a.txt")], model=ModelSpec("d", {}))
    b = AnalysisSpec(files=[DataFile("b.txt")], model=ModelSpec("d", {}))
    c = AnalysisSpec(files=[DataFile("a.txt")], model=ModelSpec("d", {"jeffreys_prior": True}))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.fingerprint("mesh") == c.fingerprint("mesh")


def test_cross_parameter_mesh_rules_are_checked_at_load():
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict({"files": ["a.txt"], "mesh": {"method": "grid",
                                "parameters": {"resolution": 1.0, "avg_location_count": 50}}})
    assert [p for p, _ in err.value.problems] == ["mesh.parameters.avg_location_count"]


def test_sections_are_checked_once_when_made_and_carried_typed():
    from napari_tramway.core.parameters import Settings

    mesh = MeshSpec("grid", {"resolution": 2, "knn": [3, 5]})
    assert isinstance(mesh.parameters, Settings) and mesh.parameters["resolution"] == 2.0
    assert isinstance(mesh.parameters["resolution"], float) and mesh.parameters["knn"] == (3, 5)
    assert mesh.to_dict() == {"method": "grid", "parameters": {"resolution": 2.0, "knn": [3, 5]}}
    with pytest.raises(TypeError):
        mesh.parameters["resolution"] = 3.0  # read-only: a new MeshSpec is validated again
    with pytest.raises(SpecError) as err:
        MeshSpec("grid", {"resolution": 1.0, "ref_distance": 2.0, "knn": [5, 2]})
    assert [p for p, _ in err.value.problems] == ["mesh.parameters.ref_distance", "mesh.parameters.knn"]
    with pytest.raises(SpecError) as err:
        DataFile("a.txt", frame_interval=0)
    assert [p for p, _ in err.value.problems] == ["file.frame_interval"]
    # a spec holding these sections takes them as they are
    spec = AnalysisSpec(files=[DataFile("a.txt")], mesh=mesh)
    assert spec.mesh is mesh and spec.mesh.parameters is mesh.parameters


def test_a_spec_assembled_field_by_field_is_checked_without_a_round_trip():
    spec = AnalysisSpec()
    with pytest.raises(SpecError, match="at least one data file"):
        spec.check()
    spec.files = [DataFile("a.txt")]
    spec.stage = "everything"
    spec.discard_static = "no"
    with pytest.raises(SpecError) as err:
        spec.check(source="the panel")
    assert [p for p, _ in err.value.problems] == ["stage"] and "the panel" in str(err.value)
    spec.stage = "infer"
    assert spec.check() is spec and spec.discard_static is False


def test_missing_sections_and_keys_take_the_declared_defaults():
    spec = AnalysisSpec.from_dict({"files": ["a.txt"]})
    assert spec.environment == EnvironmentSpec() and spec.model == ModelSpec() and spec.time_windows is None
    assert spec.stage == "tessellate_and_infer" and spec.discard_static is False
    # a spec file without mesh parameters means the registry defaults (count sizing), as in version 1
    assert dict(spec.mesh.parameters.given) == {} and spec.mesh.parameters["resolution"] is None
    assert MeshSpec().parameters.given == {"resolution": 1.0}  # a new spec starts at 1 µm cells
    s = AnalysisSpec.from_dict({"files": [{"path": "a.txt", "frame_interval": 0.05}], "environment": "local"})
    assert s.files[0].frame_interval == 0.05 and s.environment.name == "local"
    assert AnalysisSpec.from_dict(s.to_dict()) == s
