"""Start-up time of the ``napari-tramway`` command (goal: under 0.5 s).

Each case starts a fresh interpreter the way the console script does (``from napari_tramway.cli
import main``) and prints the wall time from spawning it to:

- the end of ``--help`` / ``run --help`` / ``analyze --help`` / ``sites`` (the process exits);
- ``analyze FILE ...``: the moment the trajectory file is first opened (an audit hook on ``open``
  stops the process there), i.e. everything the command imports and builds before reading;
- ``analyze FILE ...``, to the file parsed: the moment its metadata file is opened, just after
  the table was parsed (numpy and pandas imported by the reader, 2,000 rows read): the read's own
  cost, for comparison.

It also prints which heavy modules each case imported (numpy, pandas, scipy, shapely, paramiko, napari).

    python benchmarks/cli_startup.py [--repeat 7] [--src path/to/src]

``--src`` measures another checkout (e.g. ``--src /work/main/src`` for the code before a change).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("numpy", "pandas", "scipy", "shapely", "paramiko", "napari", "qtpy")

#: runs ``napari-tramway ARGS`` in a fresh interpreter and reports (JSON on stderr) the time, the
#: number of modules and the heavy ones (their submodules too) when it first opens
#: $NTW_STOP_AT_OPEN, or when it exits. tests/test_cli_imports.py uses the same probe.
CHILD = r"""
import json, os, sys, time
HEAVY = @HEAVY@
target = os.environ.get("NTW_STOP_AT_OPEN")
def report():
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    sys.__stderr__.write("@@PROBE " + json.dumps({"time": time.time(), "modules": len(sys.modules),
                                                   "heavy": heavy}) + "\n")
    sys.__stderr__.flush()
if target:
    def hook(event, args):
        if event == "open" and args and str(args[0]) == target:
            report()
            os._exit(0)
    sys.addaudithook(hook)
import atexit
atexit.register(report)
sys.argv = ["napari-tramway"] + sys.argv[1:]
from napari_tramway.cli import main
try:
    code = main()
except SystemExit as exc:
    code = exc.code
sys.exit(code)
""".replace("@HEAVY@", repr(HEAVY))


def probe(argv, env: dict, stop_at=None) -> dict:
    """``{"seconds", "modules", "heavy"}`` of ``napari-tramway ARGV`` up to the first open of
    ``stop_at`` (or its exit): seconds from spawning it, modules imported, heavy modules imported."""
    env = dict(env, NTW_STOP_AT_OPEN=str(stop_at)) if stop_at else env
    t0 = time.time()
    r = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], capture_output=True, text=True, env=env,
                       timeout=120)
    line = next((ln for ln in r.stderr.splitlines() if ln.startswith("@@PROBE ")), None)
    if line is None:
        raise RuntimeError(f"{argv}: no report (status {r.returncode}): {r.stderr[-800:]}")
    out = json.loads(line[len("@@PROBE "):])
    out["seconds"] = out.pop("time") - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=args.src)
    with tempfile.TemporaryDirectory() as tmp:
        env.update(NAPARI_TRAMWAY_DATA=str(Path(tmp) / "data"), NAPARI_TRAMWAY_CONFIG=str(Path(tmp) / "config"))
        data = Path(tmp) / "cells.txt"
        data.write_text("n\tx\ty\tt\n" + "".join(f"{i // 10}\t{i % 7}.5\t{i % 5}.25\t{i * 0.02:.2f}\n"
                                                    for i in range(2000)))
        sys.path.insert(0, args.src)
        from napari_tramway.core.io.metadata import metadata_path, write_metadata

        write_metadata(data, {"space_unit": "µm", "time_unit": "s", "frame_interval": 0.02})
        analyze = ["analyze", str(data), "--mesh", "grid", "--resolution", "1", "--model", "d",
                   "--output", str(Path(tmp) / "out")]
        cases = {
            "--help": (["--help"], None),
            "run --help": (["run", "--help"], None),
            "analyze --help": (["analyze", "--help"], None),
            "sites": (["sites"], None),
            "analyze, to the first read": (analyze, str(data)),
            "analyze, to the file parsed": (analyze, metadata_path(data)),
        }
        print(f"napari-tramway start-up ({args.src}), {args.repeat} runs each; goal < 0.5 s")
        print(f"{'case':<28} {'median':>8} {'min':>8} {'modules':>8}  heavy modules imported")
        for name, (argv, stop_at) in cases.items():
            runs = [probe(argv, env, stop_at) for _ in range(args.repeat)]
            times = [r["seconds"] for r in runs]
            heavy = ",".join(sorted({m.split(".")[0] for m in runs[-1]["heavy"]}))
            print(f"{name:<28} {statistics.median(times):7.3f}s {min(times):7.3f}s {runs[-1]['modules']:8d}  "
                  f"{heavy or '-'}")


if __name__ == "__main__":
    main()
