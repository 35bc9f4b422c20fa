"""Benchmark: reading a big TRamWAy text file and building its translocations.

Usage::

    python benchmarks/io_reading.py                # 10 million rows
    python benchmarks/io_reading.py --rows 200000  # smaller
    python benchmarks/io_reading.py --repeat 5 --threads 2

The ``n x y t`` file (tab-separated, as written by ``write_trajectories_text``: random walks of
10 points on average, D = 0.1 µm²/s, dt = 20 ms, 6 decimals) is generated once into the temporary
directory and reused. Each read runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``, minus the interpreter and libraries loaded before the read) is the read's own.

Aims: at least 5 million rows/s, and a peak below 3x the table's float64 size
(rows x 4 columns x 8 bytes).
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

import numpy as np
import pandas as pd

AIM_ROWS_PER_S = 5e6
AIM_MEMORY_RATIO = 3.0

_CHILD = r"""
import json, resource, sys, time
import numpy, pandas
from napari_tramway.core.io import read_trajectories
path, threads = sys.argv[1], (int(sys.argv[2]) if sys.argv[2] != "auto" else None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
df = read_trajectories(path, threads=threads)
elapsed = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": len(df), "seconds": elapsed, "peak_kib": after - before,
                  "columns": list(df.columns)}))
"""


def generate(rows: int, path: Path, seed: int = 0) -> None:
    """Write ``rows`` locations of 2D random walks (µm, s) to ``path``."""
    from napari_tramway.core.io import write_trajectories_text

    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1 / 10, size=rows // 5 + 10)
    lengths = lengths[np.cumsum(lengths) <= rows]
    lengths = np.append(lengths, rows - lengths.sum()) if lengths.sum() < rows else lengths
    lengths = lengths[lengths > 0]
    n = np.repeat(np.arange(1, lengths.size + 1), lengths)
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    step = np.arange(rows) - start
    dt, d = 0.02, 0.1
    t = (step + np.repeat(rng.integers(0, 5000, lengths.size), lengths)) * dt
    x = np.repeat(rng.uniform(0, 50, lengths.size), lengths)
    y = np.repeat(rng.uniform(0, 50, lengths.size), lengths)
    jumps = rng.normal(0, np.sqrt(2 * d * dt), (2, rows))
    jumps[:, start == np.arange(rows)] = 0.0
    for arr, jump in ((x, jumps[0]), (y, jumps[1])):
        c = np.cumsum(jump)
        arr += c - np.repeat(c[np.cumsum(lengths) - lengths], lengths)
    df = pd.DataFrame({"n": n, "x": x, "y": y, "t": t})
    tmp = path.with_suffix(".partial")
    write_trajectories_text(df, tmp)
    tmp.replace(path)


def translocation_time(df: pd.DataFrame) -> tuple[float, str]:
    """Seconds to build the translocations, and which implementation was timed."""
    try:
        from napari_tramway.core.trajectories import translocations
    except ImportError:
        translocations = None
    t0 = time.perf_counter()
    if translocations is not None:
        steps = translocations(df)
        label = "napari_tramway.core.trajectories.translocations"
    else:
        n = df["n"].to_numpy()
        same = n[1:] == n[:-1]
        steps = {c: (df[c].to_numpy()[1:] - df[c].to_numpy()[:-1])[same] for c in ("x", "y", "t")}
        label = "numpy (n[1:] == n[:-1] and differences)"
    elapsed = time.perf_counter() - t0
    del steps
    return elapsed, label


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="reads (fresh subprocesses)")
    parser.add_argument("--threads", default="auto", help="parser threads, or 'auto'")
    parser.add_argument(
        "--dir", default=os.path.join(tempfile.gettempdir(), "napari_tramway_bench")
    )
    args = parser.parse_args(argv)

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"nxyt_{args.rows}.txt"
    if not path.exists():
        print(f"generating {args.rows:,} rows into {path} (once) ...", flush=True)
        t0 = time.perf_counter()
        # In a subprocess: a child's ru_maxrss starts from its parent's resident size at fork,
        # so this process must stay small for the measured reads.
        code = "import sys; from benchmarks.io_reading import generate; generate(int(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]))"
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        subprocess.run([sys.executable, "-c", code, str(args.rows), str(path)], check=True, env=env)
        print(f"  written in {time.perf_counter() - t0:.1f} s", flush=True)
    size_mb = path.stat().st_size / 1e6
    table_mb = args.rows * 4 * 8 / 1e6
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"file: {path} ({size_mb:.0f} MB), table float64 size {table_mb:.0f} MB")
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average (1 min): {load:.2f}")

    results = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(args.threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert all(r["rows"] == args.rows for r in results), results
    seconds = [r["seconds"] for r in results]
    peaks = [r["peak_kib"] * 1024 / 1e6 for r in results]
    best, median = min(seconds), statistics.median(seconds)
    rate = args.rows / best
    ratio = max(peaks) / table_mb
    print(
        f"read_trajectories: best {best:.2f} s, median {median:.2f} s over {len(seconds)} runs "
        f"({', '.join(f'{s:.2f}' for s in seconds)})"
    )
    print(
        f"  {rate / 1e6:.2f} M rows/s (best), {args.rows / median / 1e6:.2f} M rows/s (median); "
        f"aim >= {AIM_ROWS_PER_S / 1e6:.0f} M rows/s -> ratio {rate / AIM_ROWS_PER_S:.2f}"
    )
    print(
        f"  peak memory of the read: {max(peaks):.0f} MB = {ratio:.2f} x the table; "
        f"aim < {AIM_MEMORY_RATIO:.0f} x -> ratio {ratio / AIM_MEMORY_RATIO:.2f}"
    )

    try:
        from napari_tramway.core.io import read_trajectory_file
    except ImportError:  # before the typed reader existed
        read_trajectory_file = None
    if read_trajectory_file is not None:
        tf = read_trajectory_file(path, warn=False)
        p = tf.provenance
        print(f"  read as: positions {p.space_unit} ({p.space_unit_source}), times {p.time_unit} "
              f"({p.time_unit_source}), frame interval {p.frame_interval} s ({p.frame_interval_source}), "
              f"{len(p.warnings)} warning(s)")
        df = tf.locations
    else:
        from napari_tramway.core.io import read_trajectories

        df = read_trajectories(path)
    elapsed, label = translocation_time(df)
    print(f"translocations ({label}): {elapsed:.2f} s, {args.rows / elapsed / 1e6:.2f} M rows/s")
    ok = rate >= AIM_ROWS_PER_S and ratio < AIM_MEMORY_RATIO
    print("aims met" if ok else "aims NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
