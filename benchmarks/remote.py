"""What a remote run costs: SSH round trips and bytes uploaded to submit N units, then (optionally)
the time to run them and the round trips spent following and collecting.

Needs the test cluster (``bash tests/cluster/install.sh && bash tests/cluster/start.sh``): a real
Slurm + sshd on 127.0.0.1, jobs as ``hpcuser`` in the STAND-IN singularity. Submissions are held
(``sbatch --hold``) and cancelled unless ``--run`` is given, so nothing heavy runs by default.

    python benchmarks/remote.py [--units 100] [--locations 20000] [--coverage 0.2] [--run]
                                [--stage tessellate_then_infer]

``--coverage`` is the fraction of the field of view covered by the ROIs: only each region's cropped
steps are uploaded, so the upload shrinks with it, whatever the size of the data files. More units
than the site's MaxArraySize (101 on the test cluster) are split into several array jobs, at the same
cost in round trips; a chained stage submits its two stages in the same command. It also prints what
keying units by their data file's content costs: one SHA-256 per file while it is unchanged.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "environments"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=100, help="number of ROIs (units) of one file")
    p.add_argument("--locations", type=int, default=20_000, help="locations in the simulated file")
    p.add_argument("--coverage", type=float, default=0.2, help="fraction of the 10×10 µm field covered by ROIs")
    p.add_argument("--run", action="store_true", help="let the jobs run and collect them (otherwise held, then cancelled)")
    p.add_argument("--stage", default=None, help="e.g. tessellate_then_infer (default: the spec's, tessellate_and_infer)")
    args = p.parse_args(argv)

    try:
        from sites_for_tests import TestCluster, cluster_info

        info = cluster_info()
    except (OSError, ValueError) as exc:
        print(f"the test cluster is not available ({exc}): bash tests/cluster/start.sh", file=sys.stderr)
        return 2

    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway.core.io.text import write_trajectories_text
    from napari_tramway.core.roi import Rectangle
    from napari_tramway.core.simulate import standard_dataset

    with tempfile.TemporaryDirectory(prefix="ntw-bench-remote-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("NAPARI_TRAMWAY_DATA", str(tmp / "data"))
        df, _ = standard_dataset(args.locations, seed=3)
        path = tmp / "cell.txt"
        write_trajectories_text(df, path, frame_interval=0.02, localization_precision=0.02)
        n = int(math.ceil(math.sqrt(args.units)))
        pitch = 9.0 / n
        side = min(pitch * 0.95, math.sqrt(args.coverage * 100.0 / args.units))
        rois = [Rectangle(0.5 + pitch * i, 0.5 + pitch * j, 0.5 + pitch * i + side, 0.5 + pitch * j + side)
                for i in range(n) for j in range(n)][: args.units]
        spec = AnalysisSpec(files=[DataFile(str(path), frame_interval=0.02, localization_precision=0.02)],
                            rois=rois, mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("d", {}))
        a = Analysis(spec, store=tmp / "store")
        from napari_tramway.pipeline import digests

        t0 = time.perf_counter()
        units = a.units()
        t_plan = time.perf_counter() - t0
        t0 = time.perf_counter()
        Analysis(spec, store=tmp / "store").units()
        t_replan = time.perf_counter() - t0
        digests._CACHE.clear()
        t0 = time.perf_counter()
        digests.file_digest(path)
        t_hash = time.perf_counter() - t0
        env = TestCluster(username=info["NTW_SSH_USER"], look_for_keys=False, allow_agent=False, poll_interval=0.5,
                          max_poll_interval=2.0, sbatch_options={} if args.run else {"hold": True})
        job = a._job(args.stage, False, units)
        t0 = time.perf_counter()
        record = env.submit(job)
        t_submit = time.perf_counter() - t0
        s = env.session()
        up = record["upload"]
        print(f"site: {env.describe()} (singularity is the test cluster's STAND-IN)")
        print(f"units: {len(units)} ROIs of {side:.2f} µm on one file of {args.locations} locations "
              f"({100 * len(units) * side * side / 100:.0f}% of the field); planned in {t_plan:.2f} s")
        size = path.stat().st_size
        print(f"content digest of the data file ({size / 1e6:.2f} MB): {t_hash * 1000:.1f} ms "
              f"({size / 1e6 / max(t_hash, 1e-9):.0f} MB/s), {100 * t_hash / max(t_plan, 1e-9):.1f}% of planning; "
              f"planning again with the file unchanged: {t_replan:.2f} s (hashed once per process)")
        print(f"submit: {record['round_trips']['submit']} SSH round trips (1 check + 1 upload/extract/verify/sbatch), "
              f"{t_submit:.2f} s")
        print(f"array jobs: {len(record['jobs'])} (site limit {record['limits']['max_array_size']} task ids): "
              + "; ".join(f"{j['stage']} --array={j['array']} offset {j['offset']}"
                          + (f" after {'ok' if j['after_ok'] else 'any'}" if j["after_ok"] or j["after_any"] else "")
                          for j in record["jobs"]))
        print(f"uploaded: {s.bytes_uploaded} B in one tar.gz = cropped inputs {up['input_bytes']} B "
              f"({up['inputs']} regions) + worker code {up['worker_zip_bytes']} B"
              f"{' (cached on the cluster: not sent)' if up.get('worker_cached') else ''} + spec/scripts; "
              f"source data file {up['source_bytes']} B "
              f"(inputs = {100 * up['input_bytes'] / max(up['source_bytes'], 1):.0f}% of it)")
        if not args.run:
            env.cancel_jobs(record)
            env.remove_remote(record)
            print("(held jobs cancelled, remote directory removed; --run to run them)")
            env.close()
            return 0
        before = s.round_trips
        t0 = time.perf_counter()
        env.follow(record)
        elapsed = time.perf_counter() - t0
        counts = {}
        for key, st in record["states"].items():
            kind = ("mesh " if key.startswith("mesh:") else "") + st["kind"]
            counts[kind] = counts.get(kind, 0) + 1
        print(f"follow + collect: {elapsed:.1f} s, {s.round_trips - before} SSH round trips "
              f"(polls + one download per batch of results + clean-up); units: {counts}")
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
