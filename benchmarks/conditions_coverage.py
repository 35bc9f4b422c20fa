"""Coverage of the conditions comparison against simulated truth (issue 14).

Each experiment simulates two conditions whose true D differ by 20 % (control 0.1 µm²/s, treated
0.08 µm²/s; per file a D drawn log-normally with a 10 % SD between cells), runs the whole pipeline
(hexagons of 2 µm, model D) and compares the conditions with the summary's bootstrap over files.
It prints the mean estimated ratio, the share of 95 % intervals that contain the true 0.8, and
their median width, for the bootstrap over files and the two-stage one (files, then cells within files).

    python benchmarks/conditions_coverage.py [EXPERIMENTS] [FILES_PER_CONDITION] [--discard-static]

Static steps are kept by default (the spec's default); ``--discard-static`` removes the steps
shorter than σ (the models then use truncation-aware likelihoods).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_tramway import Analysis
from napari_tramway.core.io.text import write_trajectories_text
from napari_tramway.core.simulate import simulate_conditions
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec

TRUE_RATIO = 0.8


def experiment(directory: Path, seed: int, files_per_condition: int, discard_static: bool, n_locations: int = 4000):
    files = []
    for k, f in enumerate(simulate_conditions({"control": 0.1, "treated": 0.08}, files_per_condition, n_locations,
                                              seed=seed)):
        path = directory / f"cell{k:02d}.txt"
        write_trajectories_text(f["locations"], path, frame_interval=f["acquisition"].frame_interval,
                                localization_precision=f["acquisition"].localization_precision)
        files.append(DataFile(str(path), frame_interval=0.02, localization_precision=0.02,
                              labels={"condition": f["condition"], "replicate": str(f["replicate"])}))
    spec = AnalysisSpec(files=files, mesh=MeshSpec("hexagon", {"resolution": 2.0}), model=ModelSpec("d", {}),
                        discard_static=discard_static)
    analysis = Analysis(spec, store=directory / "results")
    assert analysis.run(env="inprocess").ok
    plain = analysis.compare("diffusivity", "control", "treated", n_resamples=1999, seed=seed)
    two_stage = analysis.compare("diffusivity", "control", "treated", n_resamples=1999, seed=seed, resample_cells=True)
    return plain, two_stage


def main(n_experiments: int = 40, files_per_condition: int = 6, discard_static: bool = False) -> None:
    t0 = time.perf_counter()
    results = {"files": [], "files+cells": []}
    for seed in range(n_experiments):
        with tempfile.TemporaryDirectory() as d:
            plain, two_stage = experiment(Path(d), seed, files_per_condition, discard_static)
        results["files"].append(plain)
        results["files+cells"].append(two_stage)
    print(f"{n_experiments} experiments, {files_per_condition} files per condition, true ratio {TRUE_RATIO}, "
          f"static steps {'removed' if discard_static else 'kept'} ({time.perf_counter() - t0:.0f} s)")
    for name, cs in results.items():
        est = np.array([c.estimate for c in cs])
        covered = np.mean([c.covers(TRUE_RATIO) for c in cs])
        width = np.median([c.high - c.low for c in cs])
        print(f"  {name:11s}: mean ratio {est.mean():.3f} (sd {est.std(ddof=1):.3f}), 95 % intervals containing "
              f"{TRUE_RATIO}: {100 * covered:.0f} %, median width {width:.3f}")


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    main(*numbers[:2], discard_static="--discard-static" in sys.argv)
