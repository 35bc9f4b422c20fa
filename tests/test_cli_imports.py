"""What the command line imports before it does anything (``benchmarks/cli_startup.py`` times it):
``--help`` and ``analyze`` up to the first read of the file import neither numpy, pandas, scipy,
shapely nor paramiko; the readers import numpy and pandas once the file is opened."""

import json
import os
import subprocess
import sys

import pytest

from napari_tramway.core.io.metadata import write_metadata

HEAVY = ("numpy", "pandas", "scipy", "shapely", "paramiko", "napari", "qtpy")

#: runs ``napari-tramway ARGS`` and prints the heavy modules imported when it first opens $STOP_AT
#: (or when it exits), as JSON on stderr
CHILD = r"""
import json, os, sys
HEAVY = @HEAVY@
def report():
    sys.__stderr__.write("@@" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)) + "\n")
    sys.__stderr__.flush()
stop = os.environ.get("STOP_AT")
if stop:
    def hook(event, args):
        if event == "open" and args and str(args[0]) == stop:
            report()
            os._exit(0)
    sys.addaudithook(hook)
import atexit
atexit.register(report)
sys.argv = ["napari-tramway"] + sys.argv[1:]
from napari_tramway.cli import main
try:
    main()
except SystemExit:
    pass
""".replace("@HEAVY@", repr(HEAVY))


def imported(argv, tmp_path, stop_at=None) -> list[str]:
    env = dict(os.environ, NAPARI_TRAMWAY_DATA=str(tmp_path / "data"), NAPARI_TRAMWAY_CONFIG=str(tmp_path / "config"))
    if stop_at:
        env["STOP_AT"] = str(stop_at)
    r = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], capture_output=True, text=True, env=env,
                       timeout=120)
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("@@")), None)
    assert line is not None, r.stderr[-2000:]
    return json.loads(line[2:])


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
