"""Benchmark: from a unit's result to its layers on screen, for 1k, 10k and 100k cells.

For each size, a synthetic square-grid mesh over the sample image's 25.6×25.6 µm field (0.1 µm
pixels) carries DV-like maps (D, V, force, their standard deviations). The unit's result is a
maps file on disk, as in a result store. Timed, per size, in a real napari viewer (run under
``xvfb-run``):

* ``read``: load the maps (mesh included) from the file;
* ``layers``: :func:`napari_tramway._layers.layers_from_maps` — the cell-id raster (once per mesh),
  ``values[cell_id]`` per scalar map, the Labels features table, the Vectors (this runs in the
  run's worker thread in the widget);
* ``add``: the visible layers (D, force, cells) added to the viewer (GUI thread);
* ``draw``: the canvas rendered (``viewer.screenshot(canvas_only=True)``, which includes a read-back);
* ``on screen``: read + layers + add + draw, i.e. result file → maps on screen;
* ``all``: ``on screen`` + the hidden layers (potential, uncertainties) added too.

Twice per size: ``cold`` (new layers: vispy builds their visuals and shaders) and ``warm`` (the
layers exist and get the new unit's data, as for every unit after the first in a run). The aim is
``total`` < 1 s at 100k cells.

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/layers.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_maps(n_cells: int, seed: int = 0):
    from napari_tramway.core.maps import Maps
    from napari_tramway.core.meshes import build_mesh
    from napari_tramway.core.roi import FullRegion

    box = (0.0, 0.0, 25.6, 25.6)
    resolution = 25.6 / math.sqrt(n_cells)
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 25.6, (1000, 2))
    mesh = build_mesh("grid", pts, region=FullRegion(box), resolution=resolution)
    k = mesh.n_cells
    c = np.asarray(mesh.centres)
    d = 0.05 + 0.3 * np.exp(-((c[:, 0] - 12) ** 2 + (c[:, 1] - 12) ** 2) / 40)
    v = 5 * np.exp(-((c[:, 0] - 8) ** 2 + (c[:, 1] - 16) ** 2) / 10)
    table = pd.DataFrame({
        "x": c[:, 0], "y": c[:, 1], "n": rng.integers(1, 40, k), "diffusivity": d * rng.lognormal(0, 0.1, k),
        "force x": -(c[:, 0] - 8) / 5 * v, "force y": -(c[:, 1] - 16) / 5 * v, "potential": -v,
        "diffusivity sd": 0.1 * d, "force x sd": 0.1 + 0 * d, "force y sd": 0.1 + 0 * d, "potential sd": 0.2 + 0 * d,
    }, index=pd.Index(np.arange(k), name="cell"))
    return Maps(mesh=mesh, table=table, model="dv")


def run(sizes, repeat_warm: int = 1):
    import napari
    from napari.layers import Layer
    from qtpy.QtWidgets import QApplication

    from napari_tramway._layers import ImageGrid, harmonize_maps, layers_from_maps
    from napari_tramway._sample_data import make_sample_data
    from napari_tramway._widgets.common import LayerFeeder, find_layer, update_layer
    from napari_tramway.core.maps import Maps

    def add_or_update(viewer, data, kwargs, kind):
        """As the panel's layer feeder does it (in one go here): the layer of the same key gets the
        new data, else a layer is added."""
        layer = find_layer(viewer, LayerFeeder.key_of(kwargs))
        if layer is not None:
            update_layer(layer, data, kwargs, kind)
        else:
            viewer.add_layer(Layer.create(data, kwargs, kind))

    app = QApplication.instance() or QApplication([])
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="ntw-bench-layers-"))
    for n in sizes:
        viewer = napari.Viewer(show=True)
        viewer.window.resize(1280, 900)
        for data, kwargs, kind in make_sample_data()[:1]:  # the wide-field image
            getattr(viewer, f"add_{kind}")(data, **kwargs)
        for _ in range(5):
            app.processEvents()
        viewer.screenshot(canvas_only=True)
        grid = ImageGrid.from_layer(viewer.layers[0])
        files = []
        for seed in range(1 + repeat_warm):
            m = synthetic_maps(n, seed)
            path = tmp / f"maps-{n}-{seed}.ntw"
            m.save(path)
            files.append(path)
        for i, path in enumerate(files):
            t0 = time.perf_counter()
            maps = Maps.load(path)
            t1 = time.perf_counter()
            layers = layers_from_maps(maps, grid, unit=f"bench {n}", meta={"software": "benchmark"})
            t2 = time.perf_counter()
            shown = [ld for ld in layers if ld[1].get("visible", True)]
            hidden = [ld for ld in layers if not ld[1].get("visible", True)]
            for data, kwargs, kind in shown:
                add_or_update(viewer, data, kwargs, kind)
            harmonize_maps(viewer)
            app.processEvents()
            t3 = time.perf_counter()
            viewer.screenshot(canvas_only=True)
            t4 = time.perf_counter()
            for data, kwargs, kind in hidden:
                add_or_update(viewer, data, kwargs, kind)
            app.processEvents()
            t5 = time.perf_counter()
            raster = layers[0][0].shape
            rows.append({"cells": maps.mesh.n_cells, "run": "cold" if i == 0 else "warm", "raster": f"{raster[0]}×{raster[1]}",
                         "read": t1 - t0, "layers": t2 - t1, "add": t3 - t2, "draw": t4 - t3, "total": t4 - t0,
                         "all": t5 - t0})
        viewer.close()
        for _ in range(5):
            app.processEvents()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--warm", type=int, default=2, help="warm repetitions per size (layers updated in place)")
    args = p.parse_args(argv)
    rows = run(args.sizes, args.warm)
    print("| cells | run | raster (px) | read (s) | layers (s) | add (s) | draw (s) | on screen (s) | all (s) |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['cells']:,} | {r['run']} | {r['raster']} | {r['read']:.3f} | {r['layers']:.3f} | {r['add']:.3f} | "
              f"{r['draw']:.3f} | {r['total']:.3f} | {r['all']:.3f} |")
    return rows


if __name__ == "__main__":
    main()
