"""The command line, run as a user would (subprocesses for the entry point, main() for speed)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from napari_tramway.cli import main
from napari_tramway.core.roi import Rectangle, write_rois
from napari_tramway.core.simulate import standard_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df, _ = standard_dataset(30_000, seed=5)
    path = d / "cells.txt"
    df[["n", "x", "y", "t"]].to_csv(path, sep="\t", index=False)
    rois = d / "cells-roi.txt"
    write_rois(rois, [Rectangle(0.5, 0.5, 4.5, 9.5), Rectangle(5.5, 0.5, 9.5, 9.5)])
    return path, rois


def test_analyze_writes_one_csv_per_region_and_a_summary_line(data, tmp_path, capsys):
    path, rois = data
    rc = main(["analyze", str(path), "--roi", str(rois), "--mesh", "hexagon", "--resolution", "1",
               "--model", "d", "--localization-precision", "0.02", "--frame-interval", "0.02",
               "--output", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("cells/roi000: ") and "cells" in out[0]
    for region, d_true in (("roi000", 0.1), ("roi001", 0.5)):
        table = pd.read_csv(tmp_path / "cells" / f"{region}.csv")
        assert {"cell", "x", "y", "n", "diffusivity", "diffusivity sd"} <= set(table.columns)
        assert (tmp_path / "cells" / f"{region}.ntw").exists()
        assert abs(table["diffusivity"].median() - d_true) / d_true < 0.15


def test_analyze_without_roi_uses_region_all_and_dv_options(data, tmp_path, capsys):
    path, _ = data
    rc = main(["analyze", str(path), "--mesh", "grid", "--location-count", "200", "--model", "dv",
               "--potential-prior", "1", "--diffusivity-prior", "1", "--jeffreys", "--output", str(tmp_path)])
    assert rc == 0
    table = pd.read_csv(tmp_path / "cells" / "all.csv")
    assert {"potential", "force x", "force y"} <= set(table.columns)
    assert "cells/all:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mesh", "hexagon", "--model", "d", "--potential-prior", "1"], "do not apply to the model 'd'"),
        (["--mesh", "hexagon", "--model", "d", "--tilt", "1", "--resolution", "-1"], "resolution"),
        (["--mesh", "grid", "--model", "d", "--tilt", "1"], "do not apply to the mesh 'grid'"),
    ],
)
def test_analyze_bad_options_give_one_clear_line(data, tmp_path, capsys, argv, message):
    path, _ = data
    rc = main(["analyze", str(path), *argv, "--output", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_analyze_bad_file_names_it(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("n\tx\ty\tt\n1\t0\tzero\t0\n")
    rc = main(["analyze", str(bad), "--mesh", "grid", "--model", "d", "--output", str(tmp_path / "o")])
    assert rc == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "line 2" in err and "Traceback" not in err


def test_run_spec_and_list_results_with_the_entry_point(data, tmp_path):
    path, rois = data
    spec = {"format": "napari-tramway/spec", "version": 1,
            "files": [{"path": str(path), "frame_interval": 0.02, "localization_precision": 0.02}],
            "rois": [{"kind": "rectangle", "bounds": [0.5, 0.5, 4.5, 9.5]}, {"kind": "ellipse", "centre": [7, 5], "radii": [2, 3]}],
            "mesh": {"method": "hexagon", "parameters": {"resolution": 1.0}},
            "time_windows": {"duration": 10.0},
            "model": {"name": "df", "parameters": {}}}
    sp = tmp_path / "analysis.json"
    sp.write_text(json.dumps(spec))
    exe = [sys.executable, "-m", "napari_tramway.cli"]
    r = subprocess.run([*exe, "run", str(sp), "--env", "local", "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout and "failed" not in r.stdout
    store = tmp_path / "analysis.results"
    r = subprocess.run([*exe, "results", str(store)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("done")]
    assert len(lines) == 2 * 2 and "cells/roi001/t=" in r.stdout  # 2 ROIs × 2 windows (20 s of data)
    # a second run skips everything
    r = subprocess.run([*exe, "run", str(sp)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "4 skipped" in r.stdout


def test_run_reports_every_spec_problem(tmp_path):
    sp = tmp_path / "bad.json"
    sp.write_text(json.dumps({"files": [{"path": "x.txt", "frame_interval": "fast"}],
                              "mesh": {"method": "hexagon", "parameters": {"resolution": 0}}}))
    r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", "run", str(sp)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "files[0].frame_interval" in r.stderr and "mesh.parameters.resolution" in r.stderr
    assert "Traceback" not in r.stderr


def test_headless_demo_writes_figures_and_csvs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", "demo", "--headless", "--output", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert pngs == ["sample-results D.png", "sample-results V cell 1.png", "sample-results V cell 2.png",
                    "sample-results V cell 3.png", "sample-results force.png"]
    assert len(list((tmp_path / "figures").glob("*.pdf"))) == 5
    import imageio.v3 as iio

    img = iio.imread(tmp_path / "figures" / "sample-results D.png")
    assert img.shape[0] > 500 and img.shape[1] > 500 and img.std() > 10
    assert sorted(p.name for p in tmp_path.glob("maps-*.csv")) == ["maps-cell 1.csv", "maps-cell 2.csv", "maps-cell 3.csv"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--env", "inprocess", "--workers", "2"], "--workers applies to --env local"),
        (["--env", "local", "--sbatch", "partition=long"], "--sbatch applies to a cluster site"),
        (["--env", "Maestro", "--sbatch", "partition"], "expected KEY=VALUE"),
    ],
)
def test_run_option_mistakes_are_one_clear_line(data, tmp_path, capsys, extra, message):
    path, _ = data
    sp = tmp_path / "a.json"
    sp.write_text(json.dumps({"files": [str(path)], "mesh": {"method": "grid", "parameters": {"resolution": 2.0}}}))
    rc = main(["run", str(sp), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def _free_port() -> int:
    """A local TCP port where nothing listens (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def quiet_env(tmp_path):
    """The CLI's environment with its own ledger, settings and site profiles (the user's untouched)."""
    import os

    return dict(os.environ, NAPARI_TRAMWAY_DATA=str(tmp_path / "data"), NAPARI_TRAMWAY_CONFIG=str(tmp_path / "config"),
                NAPARI_TRAMWAY_SITES=str(tmp_path / "config" / "sites.toml"))


def test_an_unknown_site_is_one_line_naming_the_known_ones(data, tmp_path, quiet_env):
    path, _ = data
    sp = tmp_path / "a.json"
    sp.write_text(json.dumps({"files": [str(path)], "mesh": {"method": "grid", "parameters": {"resolution": 2.0}}}))
    for argv in (["run", str(sp), "--env", "nosuchsite"], ["check-site", "nosuchsite"]):
        r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", *argv], capture_output=True, text=True,
                           timeout=120, env=quiet_env)
        lines = [ln for ln in r.stderr.splitlines() if "nosuchsite" in ln]
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert "unknown site 'nosuchsite'; known sites: inprocess, local, SlurmOverSSH, SingularitySlurm, Maestro" \
            in lines[0]


def test_an_unreachable_site_is_one_line_with_host_port_and_cause(data, tmp_path, quiet_env):
    path, _ = data
    port = _free_port()
    (tmp_path / "mysite.py").write_text(
        "from napari_tramway.environments import SingularitySlurm\n\n"
        "class Nowhere(SingularitySlurm):\n"
        "    @classmethod\n    def hostname(cls): return '127.0.0.1'\n"
        f"    @classmethod\n    def port(cls): return {port}\n"
        "    @classmethod\n    def scratch(cls, username): return '/tmp/scratch'\n")
    sp = tmp_path / "a.json"
    sp.write_text(json.dumps({"files": [str(path)], "mesh": {"method": "grid", "parameters": {"resolution": 2.0}}}))
    r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", "run", str(sp), "--env",
                        f"{tmp_path / 'mysite.py'}:Nowhere", "--container", "/c.sif"],
                       capture_output=True, text=True, timeout=120, env=quiet_env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "127.0.0.1" in ln]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith("napari-tramway run: error: site ")
    assert f"cannot reach 127.0.0.1 port {port}" in errors[0] and "Connection refused" in errors[0]
    assert "nothing was submitted" in errors[0] and "run run" not in r.stderr
    assert not (tmp_path / "data" / "runs").exists() or not list((tmp_path / "data" / "runs").glob("*.json"))


@pytest.mark.parametrize(
    "env, extra, message",
    [
        ("local", ["--partition", "long"], "--partition applies to a cluster site, not to 'local'"),
        ("SlurmOverSSH", ["--container", "x.sif"], "--container applies to a cluster site with a container"),
        ("inprocess", ["--nice", "3"], "--nice applies to --env local, not to 'inprocess'"),
        ("Maestro", ["--poll-interval", "0"], "environment.options.poll_interval: must be > 0"),
    ],
)
def test_generated_environment_options_say_where_they_apply(data, tmp_path, capsys, env, extra, message):
    path, _ = data
    sp = tmp_path / "a.json"
    sp.write_text(json.dumps({"files": [str(path)], "mesh": {"method": "grid", "parameters": {"resolution": 2.0}}}))
    rc = main(["run", str(sp), "--env", env, *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err


def test_help_lists_the_environment_settings_of_the_registry(capsys):
    from napari_tramway.analysis import environment_kinds

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for entry in environment_kinds().values():
        for p in entry.parameters:
            flag = {"worker_count": "--workers", "username": "--user"}.get(p.name, "--" + p.name.replace("_", "-"))
            assert flag in out, flag
