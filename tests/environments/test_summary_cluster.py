"""The summary of a run over files in two conditions: the same table whether the units run in local
worker processes or on the REAL test Slurm cluster (sshd on 127.0.0.1, jobs in the STAND-IN
singularity), and refreshed while the cluster run goes (as its results are collected)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from napari_tramway import Analysis
from napari_tramway.core.io.text import write_trajectories_text
from napari_tramway.core.roi import Rectangle
from napari_tramway.core.simulate import simulate_conditions
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def conditions_spec(tmp_path_factory):
    """Eight files, four per condition (D 0.1 and 0.08 µm²/s), two labelled ROIs each: 16 units."""
    d = tmp_path_factory.mktemp("conditions")
    files = []
    for k, f in enumerate(simulate_conditions({"control": 0.1, "treated": 0.08}, 4, 5000, seed=16)):
        path = d / f"cell{k}.txt"
        write_trajectories_text(f["locations"], path, frame_interval=f["acquisition"].frame_interval,
                                localization_precision=f["acquisition"].localization_precision)
        files.append(DataFile(str(path), frame_interval=0.02, localization_precision=0.02,
                              labels={"condition": f["condition"], "replicate": str(f["replicate"])}))
    rois = [Rectangle(0.0, 0.0, 5.0, 10.0, labels={"half": "left"}), Rectangle(5.0, 0.0, 10.0, 10.0, labels={"half": "right"})]
    return AnalysisSpec(files=files, rois=rois, mesh=MeshSpec("hexagon", {"resolution": 1.5}), model=ModelSpec("d", {}),
                        discard_static=False)


def test_localhost_and_the_cluster_give_the_same_summary(cluster, site, conditions_spec, tmp_path, recorder):
    spec = conditions_spec
    local = Analysis(spec, store=tmp_path / "local")
    assert local.run(env="local:2").ok and local.summary_error is None
    n_units = len(local.units())
    assert n_units == 16

    remote = Analysis(spec, store=tmp_path / "remote")
    csv = tmp_path / "remote" / "summary.csv"
    rows_when_collected = []

    def hold_first_done(ev):
        """The run's thread waits in the first 'done' until the summary shows that unit: the table is
        refreshed while the cluster run is still going."""
        recorder(ev)
        if ev.kind == "done" and not rows_when_collected:
            end = time.time() + 30
            while time.time() < end:
                if csv.exists() and len(pd.read_csv(csv)) >= 1:
                    break
                time.sleep(0.1)
            rows_when_collected.append(len(pd.read_csv(csv)) if csv.exists() else 0)

    summary = remote.run(env=site(), events=hold_first_done)
    assert summary.ok and summary.count("done") == n_units, summary.errors
    assert remote.summary_error is None
    assert 1 <= rows_when_collected[0] < n_units, rows_when_collected
    _, meta = remote.results().unit(remote.units()[0].label)
    assert meta["environment"] == "slurm:TestCluster"

    a = pd.read_csv(tmp_path / "local" / "summary.csv")
    b = pd.read_csv(csv)
    print(f"\n{len(a)} rows × {len(a.columns)} columns; labels {a.columns[:3].tolist()}; LocalHost vs Slurm: "
          f"{'identical' if a.equals(b) else 'different'}")
    print(a[["condition", "replicate", "half", "unit", "translocations", "cells", "diffusivity median [µm²/s]"]]
          .to_string(index=False))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["condition"].value_counts().to_dict() == {"control": 8, "treated": 8}
    assert set(a["half"]) == {"left", "right"}

    # the comparison, from either store, is the same too
    ca = local.compare("diffusivity", "control", "treated", seed=3)
    cb = remote.compare("diffusivity", "control", "treated", seed=3)
    print(ca.describe())
    assert (ca.estimate, ca.low, ca.high) == (cb.estimate, cb.low, cb.high)
    assert ca.n_reference == ca.n_other == 4  # files are the replicates: two ROIs of a file are pooled
