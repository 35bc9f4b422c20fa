"""Benchmark of the models against the TRamWAy 0.7 figures measured on this kind of machine.

For 10k, 100k and 1M simulated locations (``core.simulate.standard_dataset``: 10×10 µm, D 0.1 /
0.5 µm²/s, an 8 kT well, σ 0.02 µm, Δt 0.02 s) on hexagons of 1 µm (and 0.7 µm for DV), prints
the time of each model after assignment (statistics included), with the default BLAS threads and
with one thread (threadpoolctl), the optimizer iterations, the peak memory of the fit
(tracemalloc), the cost of one DV objective+gradient evaluation (it must not depend on the number
of locations) and the ratios to TRamWAy's times (``docs/models.md`` reproduces the table).

    python benchmarks/models.py [--sizes 10000 100000 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

from napari_tramway.core.meshes import assign, build_mesh
from napari_tramway.core.models import fit, grad1_operator, penalty_matrix, step_statistics
from napari_tramway.core.models.joint import JointProblem
from napari_tramway.core.models.likelihood import CellLikelihood
from napari_tramway.core.simulate import WALK_ACQUISITION as ACQUISITION
from napari_tramway.core.simulate import standard_dataset
from napari_tramway.core.trajectories import translocations

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

# TRamWAy 0.7 on this machine (design/performance.md), seconds, with its cell counts
TRAMWAY = {
    ("d", 10_000): (0.26, "~120-180"), ("d", 100_000): (0.41, "~120-180"), ("d", 1_000_000): (1.67, "181"),
    ("dd", 10_000): (0.39, "~120-180"), ("dd", 100_000): (0.63, "~120-180"), ("dd", 1_000_000): (2.63, "181"),
    ("df", 10_000): (0.56, "~120-180"), ("df", 100_000): (0.81, "~120-180"), ("df", 1_000_000): (2.83, "181"),
    ("d smooth", 100_000): (2.8, "46"), ("dd smooth", 100_000): (15.3, "46"), ("df smooth", 100_000): (17.7, "46"),
    ("dv", 10_000): (507.0, "71"), ("dv", 100_000): (313.0, "46"),
    ("dv no prior", 100_000): (313.0, "46"), ("dv default", 100_000): (313.0, "46"),
}
TRAMWAY_DV_ITERATION = {46: 0.8, 153: 7.0, 286: 23.0}   # s per L-BFGS-B iteration (numerical gradient)

MODELS = [
    ("d", "d", 1.0, {}),
    ("dd", "dd", 1.0, {}),
    ("df", "df", 1.0, {}),
    ("d smooth", "d", 1.0, {"diffusivity_prior": 1.0}),
    ("dd smooth", "dd", 1.0, {"diffusivity_prior": 1.0, "drift_prior": 0.01}),
    ("df smooth", "df", 1.0, {"diffusivity_prior": 1.0, "force_prior": 0.1}),
    ("dv", "dv", 1.0, {"diffusivity_prior": 1.0, "potential_prior": 1.0}),
    ("dv", "dv", 0.7, {"diffusivity_prior": 1.0, "potential_prior": 1.0}),
    ("dv no prior", "dv", 2.0, {"potential_prior": 0.0}),
    ("dv default", "dv", 2.0, {}),
    ("dv default", "dv", 1.0, {}),
    ("dv default", "dv", 0.7, {}),
]


def _timed(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _peak_mib(fn):
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _dv_evaluation(mesh, assignment, steps, repeat=200):
    """Seconds per DV objective + gradient evaluation (the optimizer's inner cost)."""
    stats = step_statistics(assignment, steps, ACQUISITION.frame_interval)
    cells = np.flatnonzero(stats.n > 0)
    lik = CellLikelihood(stats, cells, 0.02)
    adj = mesh.adjacency[cells][:, cells]
    g = grad1_operator(mesh.centres[cells], adj)
    p = penalty_matrix("delta0", mesh.centres[cells], adj, mesh.areas[cells])
    prob = JointProblem("dv", lik, p_d=p, p_v=p, gradient=g)
    theta = np.concatenate([np.full(cells.size, 0.2), np.zeros(cells.size)])
    prob.value_grad(theta)
    t = time.perf_counter()
    for _ in range(repeat):
        prob.value_grad(theta)
    return (time.perf_counter() - t) / repeat, stats.n_entries


def _threads(limit):
    if limit is None or threadpool_limits is None:
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(limit)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"# napari-tramway models benchmark — Python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, {sys.platform}")
    # warm-up (imports, first-call costs)
    loc, _ = standard_dataset(5000, seed=1)
    st = translocations(loc)
    xy = st[["x", "y"]].to_numpy()
    m = build_mesh("hexagon", xy, resolution=1.0)
    a = assign(m, xy)
    for _, model, _, params in MODELS:
        fit(model, m, a, st, ACQUISITION, **params)

    rows, evals = [], {}
    for n in args.sizes:
        loc, _ = standard_dataset(n, seed=0)
        steps = translocations(loc)
        xy = steps[["x", "y"]].to_numpy()
        meshes = {}
        for res in (2.0, 1.0, 0.7):
            t = time.perf_counter()
            mesh = build_mesh("hexagon", xy, resolution=res)
            a = assign(mesh, xy)
            meshes[res] = (mesh, a, time.perf_counter() - t)
        t_stats, _ = _timed(lambda a=meshes[1.0][1], s=steps: step_statistics(a, s, ACQUISITION.frame_interval), args.repeat)
        print(f"\n{n:>9,} locations: {len(steps):,} steps; mesh+assignment {meshes[1.0][2]:.3f} s (1 µm), "
              f"{meshes[0.7][2]:.3f} s (0.7 µm); sufficient statistics {t_stats * 1000:.1f} ms")
        for label, model, res, params in MODELS:
            mesh, a, _ = meshes[res]

            def run(model=model, mesh=mesh, a=a, params=params, steps=steps):
                return fit(model, mesh, a, steps, ACQUISITION, **params)

            t_multi, maps = _timed(run, args.repeat)
            with _threads(1):
                t_one, maps1 = _timed(run, args.repeat)
            peak = _peak_mib(run)
            ref = TRAMWAY.get((label, n))
            rows.append((n, label, res, int(maps.fitted.sum()), t_multi, t_one, maps.iterations, maps.status, peak,
                         ref, maps1.info.get("optimizer_runtime"), maps1.info.get("priors", {}).get("fits")))
        mesh, a, _ = meshes[0.7]
        with _threads(1):
            evals[n] = (_dv_evaluation(mesh, a, steps), int((a.counts() > 0).sum()))

    print("\n| locations | model | hexagon (µm) | cells | time (s) | 1 thread (s) | iterations | status | "
          "peak (MiB) | TRamWAy (s, its cells) | TRamWAy / ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, label, res, cells, t_multi, t_one, it, status, peak, ref, _, _ in rows:
        best = min(t_multi, t_one)
        ref_txt = f"{ref[0]:g} ({ref[1]})" if ref else ""
        ratio = f"{ref[0] / best:,.0f}×" if ref else ""
        print(f"| {n:,} | {label} | {res:g} | {cells} | {t_multi:.4f} | {t_one:.4f} | {it} | {status} | "
              f"{peak:.1f} | {ref_txt} | {ratio} |")

    print("\nDV default: the priors chosen by marginal likelihood cost this many DV fits (warm-started Newton):")
    print("| locations | hexagon (µm) | cells | fits | 1 thread (s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r[1] == "dv default":
            print(f"| {r[0]:,} | {r[2]:g} | {r[3]} | {r[11]} | {r[5]:.3f} |")
    print("\nDV optimizer iteration (0.7 µm hexagons, one thread):")
    print("| locations | cells | (cell, Δt) groups | objective+gradient (ms) | Newton iteration (ms) | "
          "TRamWAy iteration (s, cells) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for n, ((t_eval, groups), cells) in evals.items():
        dv = [r for r in rows if r[0] == n and r[1] == "dv" and r[2] == 0.7][0]
        per_iter = dv[10] / max(dv[6], 1) if dv[10] else float("nan")
        nearest = min(TRAMWAY_DV_ITERATION, key=lambda c: abs(c - cells))
        ref = TRAMWAY_DV_ITERATION[nearest]
        print(f"| {n:,} | {cells} | {groups} | {t_eval * 1000:.3f} | {per_iter * 1000:.2f} | {ref:g} ({nearest}) | "
              f"{ref / per_iter:,.0f}× |")
    print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("times: median of repeats, after mesh building and assignment, statistics included; "
          "ratios use the faster of the two thread settings.")


if __name__ == "__main__":
    main()
