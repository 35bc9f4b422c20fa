"""Labels in the spec: per data file and per ROI, validated with field paths, round-tripped, and
never part of a unit's fingerprint (relabelling recomputes nothing)."""

import pytest

from napari_tramway.core.roi import Rectangle
from napari_tramway.pipeline import AnalysisSpec, DataFile, SpecError
from napari_tramway.pipeline.labels import LabelError, format_labels, parse_labels
from napari_tramway.pipeline.units import Unit


def labelled_spec(tmp_path):
    return AnalysisSpec(
        files=[DataFile(str(tmp_path / "a.txt"), frame_interval=0.02, labels={"condition": "control", "replicate": "1"}),
               DataFile("b.csv", labels={"condition": "treated"},
                        rois=[Rectangle(0, 0, 2, 2, labels={"compartment": "nucleus"})])],
        rois=[Rectangle(0, 0, 1, 1, labels={"compartment": "membrane"}), Rectangle(2, 2, 3, 3)],
    )


def test_labels_round_trip_through_json_and_toml(tmp_path):
    spec = labelled_spec(tmp_path)
    back = AnalysisSpec.load(spec.save(tmp_path / "spec.json"))
    assert back.to_dict() == spec.to_dict()
    assert back.files[0].labels == {"condition": "control", "replicate": "1"}
    assert back.files[1].rois[0].labels == {"compartment": "nucleus"}
    assert back.rois[0].labels == {"compartment": "membrane"} and back.rois[1].labels is None
    toml = tmp_path / "spec.toml"
    toml.write_text('[[files]]\npath = "x.txt"\nlabels = { condition = "treated", replicate = 2 }\n'
                    '[[rois]]\nkind = "rectangle"\nbounds = [0, 0, 1, 1]\nlabels = { compartment = "nucleus" }\n')
    t = AnalysisSpec.load(toml)
    assert t.files[0].labels == {"condition": "treated", "replicate": "2"}  # an integer is kept as text
    assert t.rois[0].labels == {"compartment": "nucleus"}
    assert "labels" not in AnalysisSpec(files=[DataFile("x.txt")]).to_dict()["files"][0]


def test_bad_labels_are_reported_with_their_field_paths():
    bad = {"files": [{"path": "a.txt"}, {"path": "b.txt", "labels": {"condition": 3.5}},
                     {"path": "c.txt", "labels": {"cell line": "x", "file": "y", "replicate": " ", "ok": "fine"}},
                     {"path": "d.txt", "labels": ["condition=treated"]}],
           "rois": [{"kind": "rectangle", "bounds": [0, 0, 1, 1], "labels": {"compartment": True}}]}
    with pytest.raises(SpecError) as err:
        AnalysisSpec.from_dict(bad, source="spec.json")
    problems = dict(err.value.problems)
    assert set(problems) == {"files[1].labels.condition", "files[2].labels.cell line", "files[2].labels.file",
                             "files[2].labels.replicate", "files[3].labels", "rois[0].labels.compartment"}
    assert "string" in problems["files[1].labels.condition"]
    assert "reserved" in problems["files[2].labels.file"] and "non-empty" in problems["files[2].labels.replicate"]
    assert "files[2].labels.file" in str(err.value) and str(err.value).startswith("spec.json: ")


def test_relabelling_changes_no_fingerprint(tmp_path):
    spec = labelled_spec(tmp_path)
    units = [Unit(0, "a", "roi000"), Unit(0, "a", "roi001"), Unit(1, "b", "roi000")]
    before = [spec.unit_fingerprint(u) for u in units] + [spec.unit_fingerprint(u, "mesh") for u in units]
    spec.files[0].labels = {"condition": "treated", "cell": "c7"}
    spec.files[1].labels = {}
    spec.rois[0].labels = {"compartment": "nucleus"}
    spec.rois[1].labels = {"compartment": "cytoplasm"}
    spec.files[1].rois[0].labels = None
    after = [spec.unit_fingerprint(u) for u in units] + [spec.unit_fingerprint(u, "mesh") for u in units]
    assert after == before
    spec.rois[0] = Rectangle(0, 0, 1.5, 1, labels={"compartment": "nucleus"})  # a moved ROI does change it
    assert spec.unit_fingerprint(units[0]) != before[0] and spec.unit_fingerprint(units[1]) == before[1]


def test_label_text_is_parsed_for_the_cli_and_the_gui():
    assert parse_labels("condition=treated, replicate=2") == {"condition": "treated", "replicate": "2"}
    assert parse_labels(" condition = treated ;cell=c 7 ,") == {"condition": "treated", "cell": "c 7"}
    assert parse_labels("") == {} and parse_labels("  , ") == {}
    labels = {"condition": "treated", "replicate": "2"}
    assert parse_labels(format_labels(labels)) == labels
    for text, words in (("treated", "not KEY=VALUE"), ("condition=", "non-empty"), ("2x=a", "label key"),
                        ("file=a.txt", "reserved"), ("condition=a, condition=b", "twice")):
        with pytest.raises(LabelError, match=words) as err:
            parse_labels(text, where="--label")
        assert str(err.value).startswith("--label: ")
