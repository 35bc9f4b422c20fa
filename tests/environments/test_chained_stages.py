"""Chained stages on the REAL test cluster (jobs in the STAND-IN singularity): ``tessellate_then_infer``
submits the meshes, then the maps with ``--dependency=afterok`` on them, in one submission; the run
goes on with no client; a failing mesh cancels the maps (Slurm's ``--kill-on-invalid-dep``) and
every unit says why, also after a reattach; a resubmission recomputes the mesh first."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import make_spec, slurm_env, squeue_ids, standin_calls, wait_sacct
from test_remote_runs import assert_same_maps

from napari_tramway import Analysis
from napari_tramway.environments import ledger
from napari_tramway.environments.slurm import attach, resubmit
from napari_tramway.pipeline import TimeWindowSpec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

CHAIN = "tessellate_then_infer"
REGIONS = [(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0), (1.0, 6.0, 4.0, 9.0)]


def release(cluster, record):
    ids = [j["job_id"] for j in record["jobs"]]
    subprocess.run(["scontrol", "release", *ids], check=True, env=slurm_env(cluster), capture_output=True)


def times(cluster, job_id) -> list[tuple[str, str]]:
    """(Start, End) of each task of an array job, from sacct (ISO times, comparable as text)."""
    r = subprocess.run(["sacct", "-n", "-P", "-X", "-j", str(job_id), "-o", "Start,End"], capture_output=True,
                       text=True, timeout=30, env=slurm_env(cluster))
    return [tuple(line.split("|")) for line in r.stdout.splitlines() if line.strip()]


def test_chain_goes_on_without_the_client(cluster, site, data_files, tmp_path, recorder):
    """Meshes then maps (2 regions × 2 time windows): both array jobs are submitted at once, the maps'
    waiting for the meshes' (afterok); nobody follows the run until both are over, then attach
    collects everything: the same maps as in-process."""
    spec = make_spec(data_files[:1], rois=REGIONS[:2])
    spec.time_windows = TimeWindowSpec(duration=10.0)
    a = Analysis(spec, store=tmp_path / "remote")
    env = site()
    record = env.submit(a._job(CHAIN, False, None), emit=recorder)
    env.close()  # the laptop is closed
    assert record["round_trips"]["submit"] == 2
    meshes, maps = record["jobs"]
    assert (meshes["stage"], maps["stage"]) == ("tessellate", "infer")
    assert meshes["after_ok"] == [] and maps["after_ok"] == [meshes["name"]]
    assert len(record["mesh_units"]) == 2 and len(record["units"]) == len(a.units()) >= 4
    # Slurm runs the maps once every mesh is done, with no client
    n = len(record["units"])
    wait_sacct(cluster, maps["job_id"], lambda recs: len(recs) == n and all(x["State"] == "COMPLETED" for x in recs),
               180)
    mesh_times, map_times = times(cluster, meshes["job_id"]), times(cluster, maps["job_id"])
    assert len(mesh_times) == 2 and len(map_times) == n
    assert min(start for start, _ in map_times) >= max(end for _, end in mesh_times)
    assert ledger.load(record["run_id"])["status"] == "submitted"  # nobody followed it

    summary = attach(record["run_id"], events=recorder, poll_interval=0.5, max_poll_interval=2.0)
    assert summary.ok and summary.count("done") == n, summary.errors
    ref = Analysis(make_spec(data_files[:1], rois=REGIONS[:2]), store=tmp_path / "inprocess")
    ref.spec.time_windows = TimeWindowSpec(duration=10.0)
    assert ref.run(env="inprocess").ok
    assert_same_maps(ref.store, a.store, [u.label for u in a.units()])
    # the meshes came back too, verified, for later runs of other models on them
    assert all(a.store.status(u, a.spec.unit_fingerprint(u, "mesh"), path=a.store.tessellation_path(u)).state
               == "done" for u in a.units())
    assert any("mesh cell0/roi001: done" in m for m in recorder.run_messages())
    final = ledger.load(record["run_id"])
    assert final["status"] == "done" and final["remote_removed"]
    assert ledger.summary_text(final) == f"{n} done; meshes: 2 done"


def test_failing_mesh_cancels_the_maps_and_every_unit_says_why(cluster, site, data_files, tmp_path, recorder):
    """roi001's input is damaged on the cluster: its mesh fails, Slurm cancels the maps' array job
    (DependencyNeverSatisfied), roi001's unit fails with the mesh's error and the others with the
    reason they did not run; a reattach from another process says the same per unit; once the
    input is repaired, resubmit runs roi001's mesh again, then the three maps after it."""
    spec = make_spec(data_files[:1], rois=REGIONS)
    a = Analysis(spec, store=tmp_path / "store")
    env = site(sbatch_options={"hold": True})
    record = env.submit(a._job(CHAIN, False, None), emit=recorder)
    run_id = record["run_id"]
    rdir = Path(record["remote_dir"])
    (bad,) = [e for e in record["mesh_units"] if e["unit"]["label"] == "cell0/roi001"]
    target = rdir / bad["input"]
    original = target.read_bytes()
    target.write_bytes(b"not an archive")
    release(cluster, record)
    env.follow(record, emit=recorder)
    meshes, maps = record["jobs"]
    states = {k: st["kind"] for k, st in record["states"].items()}
    assert states == {"mesh:cell0/roi000": "done", "mesh:cell0/roi001": "failed", "mesh:cell0/roi002": "done",
                      "cell0/roi000": "failed", "cell0/roi001": "failed", "cell0/roi002": "failed"}
    (own,) = recorder.of("cell0/roi001", "failed")
    assert own.error.startswith("not computed: the mesh of its region cell0/roi001 failed: ") and "rror" in own.error
    assert "Traceback (most recent call last)" in own.traceback
    for label in ("cell0/roi000", "cell0/roi002"):
        (ev,) = recorder.of(label, "failed")
        assert ev.error.startswith("not run: the mesh of cell0/roi001 failed (ArchiveError: "), ev.error
        assert "--dependency=afterok), so Slurm cancelled it" in ev.error and ev.state == "CANCELLED"
    # the maps' array job never ran: Slurm cancelled it
    assert not [c for c in standin_calls(cluster) if c.get("slurm_array_job_id") == maps["job_id"]]
    wait_sacct(cluster, maps["job_id"], lambda r: r and all(x["State"].startswith("CANCELLED") for x in r), 30)
    assert squeue_ids(cluster, [maps["job_id"]]) == []
    assert record["status"] == "failed" and not record["remote_removed"]
    assert a.store.status(a.units()[1]).state == "failed"

    # reattach from another process: each unit's reason again
    r = subprocess.run([sys.executable, "-m", "napari_tramway.cli", "attach", run_id], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cell0/roi001: failed (before attach) — not computed: the mesh of its region cell0/roi001 failed" in r.stderr
    assert "cell0/roi000: failed [CANCELLED" in r.stderr
    assert "(before attach) — not run: the mesh of cell0/roi001 failed (ArchiveError" in r.stderr
    assert "mesh cell0/roi001: failed (ArchiveError" in r.stderr and "mesh cell0/roi000: done (before attach)" in r.stderr
    assert "3 failed" in r.stdout

    target.write_bytes(original)
    summary = resubmit(run_id, events=recorder, sbatch_options={}, poll_interval=0.5, max_poll_interval=2.0)
    assert summary.ok and summary.count("done") == 3, summary.errors
    record = ledger.load(run_id)
    new_meshes, new_maps = record["jobs"][2:]
    assert (new_meshes["stage"], new_meshes["offset"], new_meshes["tasks"]) == ("tessellate", 1, "0")
    assert new_maps["after_ok"] == [new_meshes["name"]] and new_maps["tasks"] == "0-2"
    assert any("resubmitted 3 unit(s) and 1 mesh(es) they need" in m for m in recorder.run_messages())
    ref = Analysis(make_spec(data_files[:1], rois=REGIONS), store=tmp_path / "inprocess")
    assert ref.run(env="inprocess", stage=CHAIN).ok
    assert_same_maps(ref.store, a.store, [u.label for u in a.units()])
    assert record["status"] == "done" and record["remote_removed"]


def test_chain_in_process_reports_a_failed_mesh_per_unit(data_files, tmp_path):
    """The same rule on this computer: the meshes first (as run messages), then the maps; a region
    without data fails its mesh and its unit says so without running."""
    spec = make_spec(data_files[:1], rois=REGIONS[:2] + [(40.0, 40.0, 42.0, 42.0)])
    events = []
    t0 = time.time()
    summary = Analysis(spec, store=tmp_path / "store").run(env="inprocess", stage=CHAIN, events=events.append)
    assert summary.states == {"cell0/roi000": "done", "cell0/roi001": "done", "cell0/roi002": "failed"}
    assert summary.errors["cell0/roi002"].startswith("not computed: the mesh of its region cell0/roi002 failed: "
                                                     "ValueError")
    messages = [e.message for e in events if e.kind == "run"]
    assert [m.split(":")[0] for m in messages] == ["mesh cell0/roi000", "mesh cell0/roi001", "mesh cell0/roi002"]
    assert time.time() - t0 < 120
    again = []
    summary = Analysis(spec, store=tmp_path / "store").run(env="local:2", stage=CHAIN, events=again.append)
    assert summary.count("skipped") == 2 and summary.states["cell0/roi002"] == "failed"


def test_job_ids_lost_between_sbatch_and_the_ledger_are_found_again(cluster, site, data_files, tmp_path, recorder):
    """The client stopped after ``sbatch`` but before recording the job ids (the ledger holds the
    planned array jobs only): attach reads every id from the run directory and follows both stages."""
    spec = make_spec(data_files[:1], rois=REGIONS[:2])
    a = Analysis(spec, store=tmp_path / "store")
    env = site()
    record = env.submit(a._job(CHAIN, False, None), emit=recorder)
    env.close()
    ids = [j["job_id"] for j in record["jobs"]]
    pending = [{k: v for k, v in j.items() if k not in ("job_id", "job_name", "submitted")} for j in record["jobs"]]
    record.update(jobs=[], pending_jobs=pending, status="submitting")
    ledger.save(record)
    summary = attach(record["run_id"], events=recorder, poll_interval=0.5, max_poll_interval=2.0)
    assert summary.ok and summary.count("done") == 2, summary.errors
    final = ledger.load(record["run_id"])
    assert [j["job_id"] for j in final["jobs"]] == ids and "pending_jobs" not in final


def test_a_second_model_on_the_same_meshes(data_files, tmp_path):
    """A spec has one model; a second model fits on the meshes of a chain's run: its spec run with
    stage ``infer`` on a store holding those meshes (the meshes' fingerprint leaves the model out)."""
    first = Analysis(make_spec(data_files[:1], rois=REGIONS[:2]), store=tmp_path / "d")
    assert first.run(env="inprocess", stage=CHAIN).ok
    second = Analysis(make_spec(data_files[:1], rois=REGIONS[:2], model="df"), store=tmp_path / "df")
    second.store.initialise(second.spec)
    shutil.copytree(first.store.root / "tessellations", second.store.root / "tessellations")
    summary = second.run(env="inprocess", stage="infer")
    assert summary.ok and summary.count("done") == 2, summary.errors
    for u in second.units():
        maps, meta = second.results().unit(u.label)
        assert "load_mesh" in meta["timings"] and "mesh" not in meta["timings"]  # the stored mesh, not a new one
        assert "force" in " ".join(maps.table.columns) or "drift" in " ".join(maps.table.columns)
