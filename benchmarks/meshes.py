"""Benchmark of the meshes: build, assignment, peak memory and a 4096×4096 raster.

Data: ``core.simulate.standard_dataset(n)`` locations (10×10 µm field), turned into translocations;
the mesh is built on the step origins (with the steps, for the mean step length) at resolution
1 µm, then every origin is assigned and a 4096×4096 raster of the field is drawn. Each case runs
in its own child process so that its peak memory (``ru_maxrss`` minus the RSS after loading the
data; and, in a second run, the tracemalloc peaks of build + assign and of the raster) is its own;
timings are wall-clock, first call in a fresh process, with every core (KD-tree ``workers=-1``) and with one
thread (``NAPARI_TRAMWAY_THREADS=1`` and BLAS limited to one thread by threadpoolctl; the meshes
make no BLAS call).

TRamWAy 0.7 figures (docs/../performance.md, same machine kind, one process, 1M locations):
hexagons built in 0.04 s, assigned in 5.1 s; k-means 57 s + 3.6 s; GWR 353 s + 15 s; GWR on 100k
locations 30 s; k-means on 100k 4.4 s; hexagons on 100k 0.006 s + 0.4 s.

    python benchmarks/meshes.py --sizes 100000 1000000 --methods grid hexagon kmeans gwr kdtree
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# TRamWAy 0.7, seconds: (n_locations, method) -> (build, assign)
TRAMWAY = {
    (100_000, "hexagon"): (0.006, 0.4),
    (1_000_000, "hexagon"): (0.04, 5.1),
    (100_000, "kmeans"): (4.4, None),
    (1_000_000, "kmeans"): (57.0, 3.6),
    (100_000, "gwr"): (30.0, None),
    (1_000_000, "gwr"): (353.0, 15.0),
}
RASTER = 4096


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    """One case: load the data, build, assign, rasterise; print a JSON line."""
    from threadpoolctl import threadpool_limits

    from napari_tramway.core.meshes import assign, build_mesh, rasterize

    data = np.load(args.data)
    xy, dxy = data["xy"], data["dxy"]
    limits = threadpool_limits(1) if args.threads == 1 else None
    base = _rss_mb()
    t0 = time.perf_counter()
    mesh = build_mesh(args.method, xy, steps=dxy, resolution=args.resolution)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = assign(mesh, xy)
    t_assign = time.perf_counter() - t0
    peak_build_assign = _maxrss_mb() - base
    x0, y0, x1, y1 = mesh.bounds
    p = max(x1 - x0, y1 - y0) / RASTER
    t0 = time.perf_counter()
    r = rasterize(mesh, origin=(x0, y0), pixel_size=p, shape=(RASTER, RASTER))
    t_raster = time.perf_counter() - t0
    peak_all = _maxrss_mb() - base
    t0 = time.perf_counter()
    assign(mesh, xy)
    t_assign_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    rasterize(mesh, origin=(x0, y0), pixel_size=p, shape=(RASTER, RASTER))
    t_raster_warm = time.perf_counter() - t0
    del mesh, a, r
    # second run under tracemalloc: peak of the numpy allocations of each step
    import tracemalloc

    tracemalloc.start()
    mesh = build_mesh(args.method, xy, steps=dxy, resolution=args.resolution)
    a = assign(mesh, xy)
    traced_build_assign = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    r = rasterize(mesh, origin=(x0, y0), pixel_size=p, shape=(RASTER, RASTER))
    traced_raster = (tracemalloc.get_traced_memory()[1] - before) / 2**20
    tracemalloc.stop()
    if limits is not None:
        limits.unregister()
    extra = {k: v for k, v in mesh.parameters.items() if k.startswith(("kmeans_", "gwr_"))}
    print(json.dumps({"method": args.method, "n_points": int(len(xy)), "cells": mesh.n_cells,
                      "assigned": int(a.point.size), "build": t_build, "assign": t_assign, "raster": t_raster,
                      "assign_warm": t_assign_warm, "raster_warm": t_raster_warm,
                      "raster_labelled": float((r >= 0).mean()), "rss_build_assign_mb": peak_build_assign,
                      "rss_all_mb": peak_all, "traced_build_assign_mb": traced_build_assign,
                      "traced_raster_mb": traced_raster, "threads": args.threads, **extra}))


def run_case(data: Path, method: str, threads: int, resolution: float) -> dict:
    env = dict(os.environ)
    if threads == 1:
        env["NAPARI_TRAMWAY_THREADS"] = "1"
    else:
        env.pop("NAPARI_TRAMWAY_THREADS", None)
    cmd = [sys.executable, __file__, "--child", "--data", str(data), "--method", method,
           "--threads", str(threads), "--resolution", str(resolution)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{method}: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ratio(ref, ours):
    if ref is None or not ours:
        return "—"
    return f"{ref / ours:,.0f}×" if ref / ours >= 10 else f"{ref / ours:.1f}×"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="numbers of locations")
    ap.add_argument("--methods", nargs="+", default=["grid", "hexagon", "kmeans", "gwr", "kdtree"])
    ap.add_argument("--resolution", type=float, default=1.0, help="mesh resolution (µm)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-single-thread", action="store_true", help="skip the one-thread runs")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0

    from napari_tramway.core.simulate import standard_dataset
    from napari_tramway.core.trajectories import translocations

    print(f"{os.cpu_count()} cores; resolution {args.resolution} µm; raster {RASTER}×{RASTER}; times in s "
          "(wall clock, first call in a fresh process; (warm): second call); MB b+a / MB rast: tracemalloc peaks of build+assign and of "
          "the raster; RSS MB: peak RSS of the case above the loaded data; 1t: one thread")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            locations, _ = standard_dataset(n, seed=args.seed)
            steps = translocations(locations)
            data = Path(tmp) / f"data_{n}.npz"
            np.savez(data, xy=steps[["x", "y"]].to_numpy(), dxy=steps[["dx", "dy"]].to_numpy())
            print(f"\n{n:,} locations → {len(steps):,} translocations")
            header = (f"{'method':8} {'cells':>6} {'build':>7} {'assign':>7} {'(warm)':>7} {'raster':>7} {'(warm)':>7} {'MB b+a':>7} "
                      f"{'MB rast':>7} {'RSS MB':>7} {'build 1t':>8} {'assign 1t':>9} | {'TRamWAy build':>13} "
                      f"{'ratio':>6} {'TRamWAy assign':>14} {'ratio':>6}")
            print(header)
            print("-" * len(header))
            for method in args.methods:
                r = run_case(data, method, -1, args.resolution)
                r1 = None if args.no_single_thread else run_case(data, method, 1, args.resolution)
                r["n_locations"] = n
                r["single_thread"] = r1
                results.append(r)
                ref_b, ref_a = TRAMWAY.get((n, method), (None, None))
                b1 = f"{r1['build']:8.3f}" if r1 else f"{'':8}"
                a1 = f"{r1['assign']:9.3f}" if r1 else f"{'':9}"
                print(f"{method:8} {r['cells']:6d} {r['build']:7.3f} {r['assign']:7.3f} {r['assign_warm']:7.3f} "
                      f"{r['raster']:7.3f} {r['raster_warm']:7.3f} "
                      f"{r['traced_build_assign_mb']:7.0f} {r['traced_raster_mb']:7.0f} {r['rss_all_mb']:7.0f} "
                      f"{b1} {a1} | {'' if ref_b is None else ref_b:>13} {_ratio(ref_b, r['build']):>6} "
                      f"{'' if ref_a is None else ref_a:>14} {_ratio(ref_a, r['assign']):>6}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
