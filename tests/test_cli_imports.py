"""What the command line imports before it does anything (``benchmarks/cli_startup.py`` times it):
``--help`` and ``analyze`` up to the first read of the file import neither numpy, pandas, scipy,
shapely nor paramiko; the readers import numpy and pandas once the file is opened."""

import os
import sys
from pathlib import Path

import pytest

from napari_tramway.core.io.metadata import write_metadata

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cli_startup import probe  # noqa: E402 (the benchmark's probe: one copy of it)


def imported(argv, tmp_path, stop_at=None) -> list[str]:
    """The heavy modules ``napari-tramway ARGV`` imported before it first opened ``stop_at`` (or exited)."""
    env = dict(os.environ, NAPARI_TRAMWAY_DATA=str(tmp_path / "data"), NAPARI_TRAMWAY_CONFIG=str(tmp_path / "config"))
    return probe(argv, env, stop_at)["heavy"]


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["analyze", "--help"]])
def test_help_imports_nothing_heavy(argv, tmp_path):
    assert imported(argv, tmp_path) == []


def test_analyze_imports_nothing_heavy_before_it_reads_the_file(tmp_path):
    data = tmp_path / "cells.txt"
    data.write_text("n\tx\ty\tt\n" + "".join(f"{i // 10}\t{i % 7}.5\t{i % 5}.25\t{i * 0.02:.2f}\n" for i in range(200)))
    meta = write_metadata(data, {"space_unit": "µm", "time_unit": "s", "frame_interval": 0.02})  # read after the table
    argv = ["analyze", data, "--mesh", "grid", "--resolution", "1", "--model", "d", "--output", tmp_path / "out"]
    assert imported(argv, tmp_path, stop_at=data) == []
    # the reader's own imports, once the file is open: numpy and pandas, not the models' scipy
    after = imported(argv, tmp_path, stop_at=meta)
    assert {m.split(".")[0] for m in after} >= {"numpy", "pandas"} and "scipy.optimize" not in after
