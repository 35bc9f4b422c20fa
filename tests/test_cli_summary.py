"""Labels on the command line (--label, --sample-sheet) and ``napari-tramway summary``: the table, the
comparison, the figure in three formats, and one clear line for each mistake."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from napari_tramway.cli import main
from napari_tramway.core.io.text import write_trajectories_text
from napari_tramway.core.simulate import simulate_conditions
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """Six unlabelled files (three per condition) and a spec of them; the conditions are in a sample sheet."""
    d = tmp_path_factory.mktemp("conditions")
    rows = []
    files = []
    for k, f in enumerate(simulate_conditions({"control": 0.1, "treated": 0.08}, 3, 3000, seed=3)):
        path = d / f"cell{k}.txt"
        write_trajectories_text(f["locations"], path, frame_interval=f["acquisition"].frame_interval,
                                localization_precision=f["acquisition"].localization_precision)
        files.append(DataFile(path.name, frame_interval=0.02, localization_precision=0.02))
        rows.append(f"{path.name},{f['condition']},{f['replicate']}")
    spec = AnalysisSpec(files=files, mesh=MeshSpec("hexagon", {"resolution": 2.0}), model=ModelSpec("d", {}),
                        discard_static=False)
    spec.save(d / "analysis.json")
    (d / "samples.csv").write_text("file,condition,replicate\n" + "\n".join(rows) + "\n")
    return d


def test_run_with_a_sample_sheet_and_a_label_then_summary_with_figures(experiment, tmp_path, capsys):
    d = experiment
    store = tmp_path / "results"
    assert main(["run", str(d / "analysis.json"), "--store", str(store), "--sample-sheet", str(d / "samples.csv"),
                 "--label", "operator=ada", "--label", "batch=7"]) == 0
    table = pd.read_csv(store / "summary.csv")
    assert list(table.columns[:5]) == ["condition", "replicate", "operator", "batch", "unit"]
    assert table["condition"].tolist() == ["control", "treated"] * 3
    assert set(table["operator"]) == {"ada"} and set(table["batch"]) == {7}
    capsys.readouterr()
    figures = [tmp_path / f"fig.{ext}" for ext in ("png", "svg", "pdf")]
    for fig in figures:
        assert main(["summary", str(store), "--figure", str(fig), "--seed", "2", "--resamples", "999"]) == 0
    out = capsys.readouterr().out
    assert "6 finished unit(s)" in out and "diffusivity [µm²/s] per condition" in out
    assert "diffusivity: treated / control = " in out and "3 control and 3 treated files" in out and "fragile" in out
    assert figures[0].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in figures[1].read_bytes()[:500] and figures[2].read_bytes()[:5] == b"%PDF-"
    # the spec file as RUN: its own labels (none) unless a sample sheet is given
    assert main(["summary", str(d / "analysis.json"), "--store", str(store), "--sample-sheet", str(d / "samples.csv"),
                 "--compare", "treated,control", "--seed", "2", "--resamples", "999", "--resample-cells"]) == 0
    assert "control / treated" in capsys.readouterr().out
    assert main(["summary", str(d / "analysis.json"), "--store", str(store)]) == 0
    assert "no label 'condition' to group by (labels: none)" in capsys.readouterr().out


def test_the_entry_point_prints_the_summary(experiment, tmp_path):
    d = experiment
    store = tmp_path / "results"
    subprocess.run([sys.executable, "-m", "napari_tramway.cli", "run", str(d / "analysis.json"), "--store", str(store),
                    "--sample-sheet", str(d / "samples.csv")], check=True, capture_output=True, timeout=300)
    r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", "summary", str(store), "--seed", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "diffusivity: treated / control" in r.stdout


@pytest.mark.parametrize("argv, sheet, message", [
    (["--label", "treated"], None, "--label 'treated': 'treated' is not KEY=VALUE"),
    (["--label", "file=x"], None, "reserved"),
    (["--sample-sheet", "{d}/samples.csv"], "file,condition\ncell0.txt,control\ncell9.txt,treated\n",
     "samples.csv, line 3: 'cell9.txt' is not a data file of the analysis"),
    (["--sample-sheet", "{d}/samples.csv"], "name,condition\ncell0.txt,control\n", "samples.csv, line 1: no 'file' column"),
    (["--sample-sheet", "{d}/samples.csv"], "file,cell line\ncell0.txt,x\n", "line 1, column 'cell line'"),
    (["--sample-sheet", "{d}/samples.csv"], "file,condition\ncell0.txt,a,b\n", "line 2: 3 fields for 2 columns"),
    (["--sample-sheet", "{d}/nope.csv"], None, "nope.csv: cannot read the sample sheet"),
])
def test_label_mistakes_are_one_clear_line(experiment, tmp_path, capsys, argv, sheet, message):
    d = tmp_path
    spec = AnalysisSpec.load(experiment / "analysis.json")
    for f in spec.files:
        f.path = str(experiment / f.path)
    spec.save(d / "analysis.json")
    if sheet is not None:
        (d / "samples.csv").write_text(sheet)
    rc = main(["run", str(d / "analysis.json"), "--store", str(d / "results")] + [a.format(d=d) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc in (1, 2) and len(err) == 1 and message in err[0], err
    assert not (d / "results").exists()  # nothing ran


@pytest.mark.parametrize("extra, message", [
    (["--figure", "{t}/fig.jpg"], "unknown figure format .jpg; use .png, .svg or .pdf"),
    (["--compare", "control"], "expected REFERENCE,OTHER"),
    (["--compare", "control,mutant"], "no condition='mutant' in this run; its values: control, treated"),
    (["--quantity", "speed"], "unknown quantity 'speed'"),
    (["--confidence", "95"], "expected a level between 0 and 1"),
])
def test_summary_mistakes_are_one_clear_line(experiment, tmp_path, capsys, extra, message):
    store = tmp_path / "results"
    assert main(["run", str(experiment / "analysis.json"), "--store", str(store), "--sample-sheet",
                 str(experiment / "samples.csv")]) == 0
    capsys.readouterr()
    rc = main(["summary", str(store), "--resamples", "199"] + [a.format(t=tmp_path) for a in extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc in (1, 2) and len(err) == 1 and message in err[0], err


def test_summary_of_something_that_is_not_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NAPARI_TRAMWAY_DATA", str(tmp_path / "data"))
    assert main(["summary", str(tmp_path / "nothing")]) == 2
    assert "neither a result store, a spec file nor a recorded run" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["summary", str(tmp_path / "empty")]) == 1
    assert "not a napari-tramway result store" in capsys.readouterr().err
