"""Any tracker's file from the command line, in the right units, and one line for every bad input.

The saSPT-style table (``tests/core/data/saspt_tracks.csv``: pixels of 0.16 µm, frames of 7.48 ms,
D = 2.5 µm²/s, written by ``make_saspt_tracks.py``) analysed with ``--pixel-size`` and
``--frame-interval``, or with a spec file giving the same settings, must give the D of the same
trajectories written in µm and s. Bad inputs go through the real entry point (a subprocess) where
what matters is the exact stderr (one line, no traceback), through ``main()`` elsewhere.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_tramway.cli import main

DATA = Path(__file__).parent / "core" / "data"
SASPT = DATA / "saspt_tracks.csv"
PIXEL, FRAME = 0.16, 0.00748
MESH = ["--mesh", "hexagon", "--resolution", "1", "--model", "d"]
CLI = [sys.executable, "-m", "napari_tramway.cli"]


def cli(*argv, timeout=300, **kwargs):
    return subprocess.run([*CLI, *map(str, argv)], capture_output=True, text=True, timeout=timeout, **kwargs)


def one_error_line(r, *needles):
    """The run failed with one line on stderr, no traceback, containing every needle."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def saspt_in_um(tmp_path_factory):
    """The same trajectories as saspt_tracks.csv, written as TRamWAy text in µm and s."""
    table = pd.read_csv(SASPT)
    out = pd.DataFrame({"n": table["trajectory"], "x": table["x"] * PIXEL, "y": table["y"] * PIXEL,
                        "t": table["frame"] * FRAME}).sort_values(["n", "t"], kind="stable")
    path = tmp_path_factory.mktemp("um") / "saspt_um.txt"
    out.to_csv(path, sep="\t", index=False, float_format="%.10g")
    return path


def cell_d(csv) -> pd.Series:
    return pd.read_csv(csv).set_index("cell")["diffusivity"]


@pytest.fixture(scope="module")
def reference_d(saspt_in_um, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert main(["analyze", str(saspt_in_um), *MESH, "-o", str(out)]) == 0
    return cell_d(out / "saspt_um" / "all.csv")


def assert_same_d(got: pd.Series, ref: pd.Series):
    ratio = float(np.median(got) / np.median(ref))
    print(f"median D {np.median(got):.4g} µm²/s vs {np.median(ref):.4g} in µm and s: ratio {ratio:.5f}")
    assert abs(ratio - 1) < 0.05
    assert list(got.index) == list(ref.index)  # the same mesh: positions in the same µm
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=0.05)


def test_pixels_and_frames_with_the_flags_give_d_in_um2_per_s(tmp_path, reference_d, capsys):
    rc = main(["analyze", str(SASPT), "--pixel-size", str(PIXEL), "--frame-interval", str(FRAME), *MESH,
               "-o", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 0 and "warning" not in captured.err, captured.err
    assert_same_d(cell_d(tmp_path / "saspt_tracks" / "all.csv"), reference_d)
    assert 2.0 < np.median(reference_d) < 3.0  # the simulated D, 2.5 µm²/s


def test_a_spec_file_with_the_same_settings_gives_the_same_d(tmp_path, reference_d):
    spec = {"files": [{"path": str(SASPT), "pixel_size": PIXEL, "frame_interval": FRAME}],
            "mesh": {"method": "hexagon", "parameters": {"resolution": 1.0}}, "model": {"name": "d"}}
    path = tmp_path / "saspt.json"
    path.write_text(json.dumps(spec))
    assert main(["run", str(path)]) == 0
    from napari_tramway import open_results

    res = open_results(tmp_path / "saspt.results")
    maps = res.maps("saspt_tracks/all")
    got = maps.table.loc[maps.fitted, "diffusivity"]
    assert_same_d(got, reference_d)
    # the same settings given to `run` on the command line, for a spec that has none
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({**spec, "files": [str(SASPT)]}))
    assert main(["run", str(bare), "--pixel-size", str(PIXEL), "--frame-interval", str(FRAME)]) == 0
    maps = open_results(tmp_path / "bare.results").maps("saspt_tracks/all")
    assert_same_d(maps.table.loc[maps.fitted, "diffusivity"], reference_d)


def test_without_the_pixel_size_the_user_sees_the_pixel_warning(tmp_path):
    r = cli("analyze", SASPT, "--frame-interval", FRAME, *MESH, "-o", tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"napari-tramway analyze: warning: {SASPT}: the positions look like pixels")
    assert "--pixel-size PIXEL_SIZE" in lines[0]
    # and without the frame interval either: one line asking for it, nothing computed
    r = cli("analyze", SASPT, *MESH, "-o", tmp_path / "b")
    one_error_line(r, str(SASPT), "frame numbers", "--frame-interval")
    assert not (tmp_path / "b" / "saspt_tracks" / "all.csv").exists()


def test_run_options_apply_to_every_file_and_conflicts_are_one_line(tmp_path, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"files": [{"path": str(SASPT), "space_scale": 0.16, "frame_interval": FRAME}],
                                "mesh": {"method": "grid", "parameters": {"resolution": 5.0}}}))
    rc = main(["run", str(spec), "--space-unit", "um"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "files[0]" in err and "give space_unit or space_scale, not both" in err
    rc = main(["run", str(spec), "--pixel-size", "-0.1", "--columns", "x"])
    err = capsys.readouterr().err
    assert rc == 2 and "--pixel-size -0.1: must be > 0.0 µm" in err and "--columns x:" in err
    assert len(err.strip().splitlines()) == 1


# -- the worked examples of docs/formats.md ------------------------------------------------------

def doc_commands() -> list[str]:
    text = (Path(__file__).parents[1] / "docs" / "formats.md").read_text(encoding="utf-8")
    examples = text[text.index("## Worked examples"):text.index("## Recognition")]
    commands = [line.strip() for line in examples.splitlines() if line.strip().startswith("napari-tramway ")]
    generic = text[text.index("### Generic tables"):]
    return commands + [f"napari-tramway analyze odd.csv {c} --mesh grid --resolution 5 --model d -o results"
                       for c in re.findall(r"`(--columns [^`]+)`", generic)]


def test_the_docs_give_a_command_line_for_each_tracker():
    files = {shlex.split(c)[2] for c in doc_commands()}
    assert {"trackmate_v7_spots.csv", "trackmate_v6_spots.csv", "trackmate_v7.xml", "trackmate_v3.xml",
            "thunderstorm_tracked.csv", "trackpy_linked.csv", "saspt_tracks.csv", "odd.csv"} <= files


@pytest.mark.parametrize("command", doc_commands())
def test_each_worked_example_runs_as_written(command, tmp_path, capsys):
    argv = shlex.split(command)[1:]
    name = argv[1]
    if name == "odd.csv":  # the generic table of the columns example
        (tmp_path / name).write_text("traccia,px,py,tempo\n1,0.1,0.2,0\n1,0.15,0.3,0.02\n1,0.2,0.25,0.04\n")
        argv[1] = str(tmp_path / name)
    else:
        argv[1] = str(DATA / name)
    argv[argv.index("-o") + 1] = str(tmp_path / "results")
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.err == "", captured.err  # no warning: the settings given say everything
    assert " D median " in captured.out


# -- bad inputs: one line, no traceback, nothing lost ---------------------------------------------

def test_a_text_that_is_not_trajectories(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes\nIt was the best of times, it was the worst of times.\nSee you.\n")
    one_error_line(cli("analyze", notes, *MESH, "-o", tmp_path / "o"), str(notes), "not a trajectory file")


def test_wrong_columns_name_the_columns_found_and_the_option(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("traccia,px,py,tempo\n1,0.1,0.2,0\n1,0.15,0.3,0.02\n1,0.2,0.25,0.04\n")
    line = one_error_line(cli("analyze", odd, *MESH, "-o", tmp_path / "o"), str(odd),
                          "Columns found: traccia, px, py, tempo", "--columns n=NAME,x=NAME,y=NAME,t=NAME")
    assert "(command line)" in line
    # a mapping naming a column the file does not have
    line = one_error_line(cli("analyze", odd, "--columns", "n=traccia,x=px,y=py,t=time", *MESH, "-o", tmp_path / "o"),
                          str(odd), "'time'")


def test_units_that_cannot_be_determined_ask_for_the_option(tmp_path):
    one_error_line(cli("analyze", DATA / "trackpy_linked.csv", "--frame-interval", "0.05", *MESH, "-o", tmp_path),
                   "trackpy_linked.csv", "pixels", "--pixel-size PIXEL_SIZE")


@pytest.mark.parametrize("argv, needles", [
    (["--pixel-size", "abc"], ["--pixel-size abc: expected float"]),
    (["--space-unit", "furlong"], ["--space-unit furlong: must be one of µm, nm, px"]),
    (["--columns", "x=1,q=2"], ["--columns x=1,q=2: ", "unknown key 'q'"]),
    (["--columns", "x=A,y=A"], ["--columns: column 'A' is given several roles (x, y)"]),
])
def test_bad_file_options_are_one_line_naming_the_option(argv, needles, tmp_path, capsys):
    rc = main(["analyze", str(SASPT), *argv, *MESH, "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("output, cause", [("/bin/ls", "it is a file, not a directory"),
                                           ("/bin/ls/sub", "/bin/ls is a file, not a directory"),
                                           ("/proc/napari-tramway", "cannot create this directory")])
def test_unwritable_or_special_output_paths_are_one_line(output, cause, tmp_path):
    one_error_line(cli("analyze", SASPT, "--pixel-size", PIXEL, "--frame-interval", FRAME, *MESH, "-o", output),
                   f"-o/--output {output}: {cause}")


def test_a_read_only_output_folder_is_one_line_and_loses_nothing(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    data = tmp_path / "tracks.csv"
    shutil.copy(SASPT, data)
    before = data.read_bytes()
    argv = [*CLI, "analyze", str(data), "--pixel-size", str(PIXEL), "--frame-interval", str(FRAME), *MESH,
            "-o", str(readonly)]
    if os.geteuid() != 0:
        readonly.chmod(0o555)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    else:  # root writes anywhere: mount a read-only file system there, in a private mount namespace
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: no read-only folder to try")
        script = 'mount -t tmpfs -o ro tmpfs "$0" || exit 99; exec "$@"'
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, str(readonly), *argv], capture_output=True,
                           text=True, timeout=300)
        if r.returncode == 99:
            pytest.skip(f"cannot mount a read-only file system here: {r.stderr.strip()}")
    one_error_line(r, f"-o/--output {readonly}: cannot write in this directory")
    assert data.read_bytes() == before and list(readonly.iterdir()) == []


def test_the_demo_without_qt_bindings_says_what_to_install(tmp_path):
    block = ("import sys, importlib.abc\n"
             "class NoQt(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in ('PyQt5', 'PyQt6', 'PySide2', 'PySide6'):\n"
             "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
             "sys.meta_path.insert(0, NoQt())\n"
             "from napari_tramway.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", block, "demo", "--output", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=300)
    line = one_error_line(r, "napari-tramway demo: napari cannot open a window: no Qt bindings",
                          "pip install 'napari[pyqt6]'", "napari-tramway demo --headless")
    assert r.returncode == 1 and line
    assert list((tmp_path / "demo").iterdir()) == []  # nothing computed before saying so
