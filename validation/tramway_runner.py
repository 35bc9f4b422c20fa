"""TRamWAy 0.7 in its own virtual environment, driven through files.

:func:`environment` creates ``validation/.venv-tramway`` on first use (``python -m venv``, then
``pip install -r tramway-requirements.txt``: TRamWAy 0.7 with the numpy/scipy/pandas it was
validated with — it needs pandas < 3, so it cannot live in the project's environment).
:func:`run` writes a job (steps, our mesh and assignment, the model and its parameters) to a
``.npz`` file, runs :mod:`.tramway_worker` with that environment's Python, and reads the maps back
as a table indexed by mesh cell. Results are cached under ``validation/.cache/`` by a hash of the
job, so a report can be regenerated without re-running TRamWAy's slow DV.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-tramway"
CACHE = HERE / ".cache"
REQUIREMENTS = HERE / "tramway-requirements.txt"
WORKER = HERE / "tramway_worker.py"


class TramwayUnavailable(RuntimeError):
    """TRamWAy's environment could not be created (the message says why)."""


def python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def environment(log=print) -> Path:
    """The TRamWAy environment's Python, creating the environment first if needed."""
    exe = python()
    if exe.exists():
        return exe
    log(f"creating {VENV} (TRamWAy 0.7, once)")
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [[base, "-m", "venv", str(VENV)],
             [str(exe), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)]]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise TramwayUnavailable(f"{' '.join(cmd[:4])}… failed:\n{done.stderr[-2000:]}")
    return exe


def _job_arrays(case, kind: str, kwargs: dict, evaluate=()) -> dict:
    steps = case.steps
    adj = sp.coo_matrix(case.mesh.adjacency)
    keep = adj.row != adj.col
    arrays = {c: steps[c].to_numpy() for c in ("n", "x", "y", "t", "dx", "dy", "dt")}
    arrays.update(centres=np.asarray(case.mesh.centres, float), areas=np.asarray(case.mesh.areas, float),
                  adj_row=adj.row[keep], adj_col=adj.col[keep], point=case.assignment.point,
                  cell=case.assignment.cell)
    for i, (index, d, v) in enumerate(evaluate):
        arrays[f"eval{i}_index"], arrays[f"eval{i}_d"], arrays[f"eval{i}_v"] = index, d, v
    arrays["job"] = np.array(json.dumps({"kind": kind, "kwargs": kwargs, "evaluate": list(range(len(evaluate)))}))
    return arrays


def _key(arrays: dict) -> str:
    h = hashlib.sha1(REQUIREMENTS.read_bytes() + WORKER.read_bytes())
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()[:20]


def _execute(arrays: dict, log=print) -> dict:
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{_key(arrays)}.npz"
    if not cached.exists():
        exe = environment(log)
        with tempfile.TemporaryDirectory(prefix="ntw-tramway-") as tmp:
            job, result = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
            np.savez(job, **arrays)
            done = subprocess.run([str(exe), str(WORKER), str(job), str(result)], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"TRamWAy worker failed:\n{done.stderr[-3000:]}")
            os.replace(result, cached)
    with np.load(cached, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def run(case, kind: str, log=print, evaluate=(), **kwargs) -> tuple[pd.DataFrame, dict]:
    """TRamWAy's ``kind`` ('d' or 'dv') on ``case``: ``(table indexed by mesh cell, extras)``.

    ``kwargs`` are TRamWAy's parameters (``sigma`` µm, ``diffusivity_prior``…); ``evaluate`` lists
    (cell index, D, V) solutions at which TRamWAy's DV objective is also computed.
    """
    out = _execute(_job_arrays(case, kind, kwargs, evaluate), log)
    index = out["index"]
    table = pd.DataFrame({name[4:]: out[name] for name in out if name.startswith("col:")},
                         index=pd.Index(index, name="cell"))
    extras = {"time": float(out["time"][0]), "versions": str(out["versions"][0])}
    if "objective" in out:
        extras["objective"] = out["objective"].tolist()
        extras["evaluations"] = int(out["evaluations"][0])
    return table, extras


def kept_cells(case, locations_xy: np.ndarray, min_location_count: int, log=print) -> int:
    """Cells TRamWAy keeps with ``min_location_count`` when it assigns ``locations_xy`` to our mesh."""
    arrays = _job_arrays(case, "count", {"min_location_count": int(min_location_count)})
    arrays["loc_x"], arrays["loc_y"] = locations_xy[:, 0], locations_xy[:, 1]
    return int(_execute(arrays, log)["kept_cells"][0])
