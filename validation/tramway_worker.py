"""Run TRamWAy 0.7 on one job; executed by the TRamWAy virtual environment's Python.

    <venv>/bin/python tramway_worker.py JOB.npz RESULT.npz

This file imports only TRamWAy, numpy, scipy and pandas (not napari_tramway: the two live in
different environments). JOB.npz holds the steps (n, x, y, t, dx, dy, dt; µm, s), our mesh
(centres, adjacency as row/col arrays, areas µm²), our assignment (point, cell) and a JSON
``job``: ``{"kind": "d" | "dv" | "count", "kwargs": {...}, "evaluate": [...]}``. TRamWAy's cells are
built from that mesh and assignment — TRamWAy computes nothing of its own about the geometry, so
both programs fit exactly the same data on exactly the same cells. RESULT.npz holds the cell index,
the maps' columns, the inference time (s) and, for DV, TRamWAy's objective at its solution and at
the (D, V) solutions listed in ``evaluate``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp


class _Identity:
    """A scaler that leaves coordinates as they are (µm)."""

    factor = None
    columns = None
    euclidean = None

    def scale_point(self, points, *args, **kwargs):
        return points

    def unscale_point(self, points, *args, **kwargs):
        return points

    def scaled(self, points, asarray=False):
        return np.asarray(points, dtype=float) if asarray else points


def _tessellation(z):
    from tramway.tessellation.base import Voronoi

    k = len(z["centres"])
    tess = Voronoi(scaler=_Identity())
    tess._cell_centers = np.asarray(z["centres"], float)
    tess._cell_adjacency = sp.csr_matrix((np.ones(len(z["adj_row"]), int), (z["adj_row"], z["adj_col"])),
                                         shape=(k, k))
    tess._cell_volume = np.asarray(z["areas"], float)
    return tess


def _cells(z):
    from tramway.inference.base import distributed
    from tramway.tessellation.base import Partition

    steps = pd.DataFrame({c: z[c] for c in ("n", "x", "y", "t", "dx", "dy", "dt")})
    return distributed(Partition(steps, _tessellation(z), (z["point"], z["cell"])))


def _dv_objective(cells, sigma, kwargs, solutions):
    """TRamWAy's DV objective (``dv_neg_posterior`` or its delta variant) at each (index, D, V)."""
    from tramway.inference import dv as tdv
    from tramway.inference.base import smooth_infer_init
    from tramway.inference.gradient import get_grad_kwargs

    s2 = sigma * sigma
    index, reverse, _, dt_mean, d0, dmin, _, _ = smooth_infer_init(cells, sigma2=s2)
    state = tdv.DV(d0, d0 * 0, kwargs.get("diffusivity_prior"), kwargs.get("potential_prior"), dmin)
    fun = tdv.dv_neg_posterior1 if str(kwargs.get("rgrad", "")).startswith("delta") else tdv.dv_neg_posterior
    out = []
    for idx, d, v in solutions:
        where = {int(c): i for i, c in enumerate(idx)}
        dd = np.array([d[where[i]] for i in index])
        vv = np.array([v[where[i]] for i in index])
        out.append(fun(np.r_[dd, vv], state, cells, s2, bool(kwargs.get("jeffreys_prior")), dt_mean, index,
                       reverse, get_grad_kwargs({}), 0.0, False, []))
    return np.array(out, float)


def run(job_path: str, result_path: str) -> None:
    warnings.simplefilter("ignore")
    z = np.load(job_path, allow_pickle=False)
    job = json.loads(str(z["job"]))
    kind, kwargs = job["kind"], dict(job.get("kwargs", {}))
    out = {}
    if kind == "count":       # TRamWAy's min_location_count on the locations (its own meaning)
        tess = _tessellation(z)
        points = pd.DataFrame({"x": z["loc_x"], "y": z["loc_y"]})
        index = tess.cell_index(points, min_location_count=int(kwargs["min_location_count"]))
        index = np.asarray(index)
        out["kept_cells"] = np.array([np.unique(index[index >= 0]).size])
    else:
        cells = _cells(z)
        sigma = float(kwargs.pop("sigma"))
        t0 = time.perf_counter()
        if kind == "d":
            from tramway.inference import d as td

            maps = td.infer_D(cells, sigma=sigma, **kwargs)
        elif kind == "dv":
            from tramway.inference import dv as tdv

            maps, posteriors = tdv.inferDV(cells, sigma=sigma, verbose=False, **kwargs)
            out["evaluations"] = np.array([len(posteriors)])
        else:
            raise ValueError(f"unknown job kind {kind!r}")
        out["time"] = np.array([time.perf_counter() - t0])
        out["index"] = maps.index.to_numpy().astype(np.int64)
        for column in maps.columns:
            out["col:" + column] = maps[column].to_numpy(dtype=float)
        if kind == "dv":
            own = (out["index"], maps["diffusivity"].to_numpy(float), maps["potential"].to_numpy(float))
            others = [(z[f"eval{i}_index"], z[f"eval{i}_d"], z[f"eval{i}_v"]) for i in range(len(job.get("evaluate", [])))]
            out["objective"] = _dv_objective(cells, sigma, kwargs, [own, *others])
    from importlib.metadata import version

    out["versions"] = np.array([f"tramway {version('tramway')}, numpy {np.__version__}, "
                                f"scipy {version('scipy')}, pandas {pd.__version__}"])
    np.savez(result_path, **out)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
