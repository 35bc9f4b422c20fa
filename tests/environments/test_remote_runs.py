"""Remote runs on the REAL test cluster (Slurm + sshd on 127.0.0.1, jobs as ``hpcuser`` in the
STAND-IN singularity): same maps as in-process, failures, time limits, cancellation, tampering,
resubmission, and the cost of a submission."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import make_spec, slurm_env, squeue_ids, standin_calls, wait_sacct

from napari_tramway import Analysis
from napari_tramway.environments import ledger
from napari_tramway.environments.slurm import resubmit

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

SLEEP_IN_JOBS = 'export PATH=/usr/local/bin:$PATH; if [ -n "$SLURM_JOB_ID" ]; then sleep {}; fi'


def assert_same_maps(store_a, store_b, labels):
    for label in labels:
        a, _ = store_a.load_unit(label)
        b, _ = store_b.load_unit(label)
        assert list(a.table.columns) == list(b.table.columns)
        assert len(a.table) > 0
        for col in a.table.columns:
            np.testing.assert_allclose(a.table[col].to_numpy(dtype=float), b.table[col].to_numpy(dtype=float),
                                       rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=f"{label}: {col}")


def submit_only(env, spec, store, recorder, units=None):
    """Upload and sbatch without following (the test acts on the cluster in between)."""
    a = Analysis(spec, store=store)
    job = a._job(None, False, units)
    record = env.submit(job, emit=recorder)
    return a, job, record


def test_same_maps_as_in_process(cluster, site, dataset_spec, tmp_path, recorder):
    t0 = time.time()
    ref = Analysis(dataset_spec, store=tmp_path / "inprocess")
    assert ref.run(env="inprocess").ok
    a = Analysis(dataset_spec, store=tmp_path / "remote")
    env = site()
    summary = a.run(env=env, events=recorder)
    assert summary.ok and summary.count("done") == 6, summary.errors
    labels = [u.label for u in a.units()]
    assert len(labels) == 6
    assert_same_maps(ref.store, a.store, labels)

    record = ledger.load(summary.run_id)
    assert record["status"] == "done" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists()
    job_id = record["jobs"][0]["job_id"]
    # accounting: six array tasks of the test user, all COMPLETED, named after the run
    recs = wait_sacct(cluster, job_id, lambda r: len(r) == 6 and all(x["State"] == "COMPLETED" for x in r), 30)
    assert {x["User"] for x in recs} == {"hpcuser"}
    assert {x["JobName"] for x in recs} == {f"ntw-{summary.run_id}"}
    # the stand-in ran each task as hpcuser, with the worker from the uploaded zip
    calls = [c for c in standin_calls(cluster, t0) if c.get("slurm_array_job_id") == job_id]
    assert sorted(int(c["slurm_array_task_id"]) for c in calls) == list(range(6))
    for c in calls:
        assert c["user"] == "hpcuser" and c["subcommand"] == "exec" and c["status"] == "exec"
        assert c["image"] == cluster["NTW_CONTAINER"]
        assert c["command"][:5] == ["python3", "-s", "-m", "napari_tramway.pipeline.worker", "array"]
        assert c["options"]["home"] == "/home/hpcuser"
        assert [b["src"] for b in c["options"]["bind"]] == [cluster["NTW_SCRATCH"]]
        assert c["cwd"] == record["remote_dir"]
    from napari_tramway import __version__

    _, meta = a.results().unit(labels[0])
    assert meta["environment"] == "slurm:TestCluster" and meta["software"] == f"napari-tramway {__version__}"
    # each unit is done once; Slurm's states come with the events (a task shorter than the polling
    # interval may go from pending to done between two polls, so not every unit is seen running)
    for label in labels:
        assert len(recorder.of(label, "done")) == 1
        assert all(e.state in ("PENDING", "RUNNING") for e in recorder.of(label) if e.kind in ("pending", "started"))
    assert any(e.state == "RUNNING" for e in recorder.of(kind="started"))
    assert record["upload"]["input_bytes"] < record["upload"]["source_bytes"]


def test_failures_reported_with_traceback_and_resubmitted_alone(cluster, site, data_files, tmp_path, recorder):
    # roi001's input is damaged on the cluster before the job runs; roi003 lies where there is no data
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0), (1.0, 6.0, 4.0, 9.0),
                                           (40.0, 40.0, 42.0, 42.0)])
    env = site(sbatch_options={"hold": True})
    a, job, record = submit_only(env, spec, tmp_path / "store", recorder)
    run_id, job_id, rdir = record["run_id"], record["jobs"][0]["job_id"], Path(record["remote_dir"])
    labels = [e["unit"]["label"] for e in record["units"]]
    assert labels == ["cell0/roi000", "cell0/roi001", "cell0/roi002", "cell0/roi003"]
    target = rdir / record["units"][1]["input"]
    original = target.read_bytes()
    target.write_bytes(b"not an archive")

    def release_when_held():
        recorder.wait_for(lambda e: e.kind == "pending" and e.reason == "JobHeldUser", 60)
        subprocess.run(["scontrol", "release", job_id], check=True, env=slurm_env(cluster))

    t = threading.Thread(target=release_when_held)
    t.start()
    env.follow(record, emit=recorder)
    t.join()
    states = {lbl: st["kind"] for lbl, st in record["states"].items()}
    assert states == {"cell0/roi000": "done", "cell0/roi001": "failed", "cell0/roi002": "done",
                      "cell0/roi003": "failed"}
    for label, what in (("cell0/roi001", "rror"), ("cell0/roi003", "ValueError")):
        (ev,) = recorder.of(label, "failed")
        assert ev.state == "FAILED" and what in ev.error
        assert "Traceback (most recent call last)" in ev.traceback
        assert "--- last lines of the Slurm log logs/" in ev.traceback
        assert "napari-tramway task exit status 1" in ev.traceback
        assert a.store.status(a.units()[labels.index(label)]).state == "failed"
    assert "not a single step" in recorder.of("cell0/roi003", "failed")[0].error
    assert record["status"] == "failed" and not record["remote_removed"] and rdir.exists()

    # repaired input: resubmit roi001 alone, in the same directory, as a one-task array job
    target.write_bytes(original)
    rec2 = []
    summary = resubmit(run_id, ["cell0/roi001"], events=rec2.append, sbatch_options={})  # no --hold now
    assert summary.states["cell0/roi001"] == "done", summary.errors
    record = ledger.load(run_id)
    # one task (id 0) running the unit 1 of the units file (offset 1)
    assert len(record["jobs"]) == 2 and (record["jobs"][1]["offset"], record["jobs"][1]["tasks"]) == (1, "0")
    assert record["remote_dir"] == str(rdir)
    job2 = record["jobs"][1]["job_id"]
    # (sacct shows a placeholder record without the task index for a few seconds)
    wait_sacct(cluster, job2, lambda r: [(x["JobID"], x["State"]) for x in r] == [(f"{job2}_0", "COMPLETED")], 30)
    assert a.store.status(a.units()[1]).state == "done"
    assert record["states"]["cell0/roi003"]["kind"] == "failed" and record["status"] == "failed"
    from napari_tramway.environments.slurm import clean_run

    clean_run(run_id)
    assert not rdir.exists()


def test_tampered_result_is_rejected(cluster, site, data_files, tmp_path, recorder):
    spec = make_spec(data_files[:1])
    env = site(sbatch_options={"hold": True})
    a, job, record = submit_only(env, spec, tmp_path / "store", recorder)
    job_id, rdir = record["jobs"][0]["job_id"], Path(record["remote_dir"])
    subprocess.run(["scontrol", "release", job_id], check=True, env=slurm_env(cluster))
    wait_sacct(cluster, job_id, lambda r: len(r) == 3 and all(x["State"] == "COMPLETED" for x in r), 120)
    victim = rdir / "store" / "units" / "cell0" / "roi001.ntw"
    assert (rdir / "store" / "units" / "cell0" / "roi001.done.json").exists()
    with open(victim, "r+b") as fh:  # modified after its marker was written, before collection
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    env.follow(record, emit=recorder)
    (ev,) = recorder.of("cell0/roi001", "failed")
    assert "checksum mismatch" in ev.error and "rejected" in ev.error
    assert not (a.store.root / "units" / "cell0" / "roi001.ntw").exists()
    assert not list(a.store.root.rglob("*.part"))
    assert [u for u in ("cell0/roi000", "cell0/roi002") if record["states"][u]["kind"] != "done"] == []
    assert a.store.status(a.units()[0]).state == "done"
    from napari_tramway.environments.slurm import clean_run

    clean_run(record["run_id"])


@pytest.mark.slow
def test_time_limit_reported_as_timeout(cluster, site, data_files, tmp_path, recorder):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)])
    env = site(remote_dependencies=SLEEP_IN_JOBS.format(300), sbatch_options={"time": "1"}, poll_interval=1.0,
               max_poll_interval=3.0)
    summary = Analysis(spec, store=tmp_path / "store").run(env=env, events=recorder)
    (ev,) = recorder.of("cell0/roi000", "failed")
    assert ev.state == "TIMEOUT" and "time limit" in ev.error
    assert "DUE TO TIME LIMIT" in ev.traceback
    assert summary.states["cell0/roi000"] == "failed"
    assert ledger.load(summary.run_id)["states"]["cell0/roi000"]["slurm"] == "TIMEOUT"


def test_scancel_from_outside_is_reported_cancelled(cluster, site, data_files, tmp_path, recorder):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
    env = site(remote_dependencies=SLEEP_IN_JOBS.format(120))
    handle = Analysis(spec, store=tmp_path / "store").start(env=env, events=recorder)
    recorder.wait_for(lambda e: e.kind == "started", 60)
    record = ledger.load(handle.job.run_id)
    job_id = record["jobs"][0]["job_id"]
    subprocess.run(["scancel", job_id], check=True, env=slurm_env(cluster))
    summary = handle.wait(60)
    assert summary is not None and handle.exception is None
    assert summary.count("cancelled") == 2 and not summary.cancelled
    for label in ("cell0/roi000", "cell0/roi001"):
        (ev,) = recorder.of(label, "cancelled")
        # sacct says "CANCELLED by <uid>"; squeue, which may see it first, just "CANCELLED"
        assert ev.state == "CANCELLED" and (ev.reason is None or ev.reason.startswith("by "))
    assert ledger.load(handle.job.run_id)["status"] == "cancelled"


def test_cancel_from_the_client_leaves_nothing_in_the_queue(cluster, site, data_files, tmp_path, recorder):
    spec = make_spec(data_files[:1])
    env = site(remote_dependencies=SLEEP_IN_JOBS.format(120), worker_count=1)
    handle = Analysis(spec, store=tmp_path / "store").start(env=env, events=recorder)
    recorder.wait_for(lambda e: e.kind == "started", 60)
    record = ledger.load(handle.job.run_id)
    job_id = record["jobs"][0]["job_id"]
    assert squeue_ids(cluster, [job_id])
    handle.cancel()
    summary = handle.wait(90)
    assert summary is not None and summary.cancelled and summary.count("cancelled") == 3
    assert squeue_ids(cluster, [job_id]) == []
    record = ledger.load(handle.job.run_id)
    assert record["status"] == "cancelled" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists()
    wait_sacct(cluster, job_id, lambda r: all(x["State"].startswith("CANCELLED") for x in r), 30)
    pending = [e for e in recorder.of(kind="pending") if e.reason == "JobArrayTaskLimit"]
    assert pending, "the throttled tasks wait with reason JobArrayTaskLimit"


def test_submitting_100_units_costs_few_round_trips(cluster, site, data_files, tmp_path, recorder, capsys):
    rois = [(0.5 + 0.9 * i, 0.5 + 0.9 * j, 0.5 + 0.9 * i + 0.8, 0.5 + 0.9 * j + 0.8)
            for i in range(10) for j in range(10)]
    spec = make_spec(data_files[:1], rois=rois)
    env = site(sbatch_options={"hold": True})
    a, job, record = submit_only(env, spec, tmp_path / "store", recorder)
    try:
        assert len(record["units"]) == 100
        trips = record["round_trips"]["submit"]
        up = record["upload"]
        with capsys.disabled():
            print(f"\n[round trips] submitting 100 units: {trips} SSH round trips "
                  f"(session total {env.session().round_trips}); uploaded {env.session().bytes_uploaded} B "
                  f"(bundle {up['bundle_bytes']} B: cropped inputs {up['input_bytes']} B, worker code "
                  f"{up['worker_zip_bytes']} B) for {up['source_bytes']} B of data files")
        assert trips < 10
        assert env.session().bytes_uploaded == up["bundle_bytes"]
        job_id = record["jobs"][0]["job_id"]
        assert len(squeue_ids(cluster, [job_id])) == 100
    finally:
        env.cancel_jobs(record)
        env.remove_remote(record)
    assert squeue_ids(cluster, [record["jobs"][0]["job_id"]]) == []


def test_remote_paths_with_spaces(cluster, site, data_files, tmp_path, recorder):
    import shutil

    scratch = os.path.join(cluster["NTW_SCRATCH"], "dir with spaces")
    try:
        env = site(scratch=scratch)
        spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)])
        summary = Analysis(spec, store=tmp_path / "store with spaces").run(env=env, events=recorder)
        assert summary.ok, summary.errors
        record = ledger.load(summary.run_id)
        assert record["remote_dir"].startswith(scratch + "/napari-tramway/")
        assert record["remote_removed"] and not Path(record["remote_dir"]).exists()
        # the test cluster is shared and its job ids restart with it: this run's job only; and
        # accounting may lag behind the collected results on a loaded machine
        name = f"ntw-{summary.run_id}"
        recs = wait_sacct(cluster, record["jobs"][0]["job_id"],
                          lambda r: any(x["JobName"] == name and x["State"] == "COMPLETED" for x in r), 60)
        assert any(x["JobName"] == name and x["State"] == "COMPLETED" for x in recs), recs
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_data_already_on_the_cluster_is_not_uploaded(cluster, site, data_files, tmp_path, recorder):
    import shutil

    from napari_tramway.pipeline import DataFile

    remote = Path(cluster["NTW_SCRATCH"]) / f"ntw-test-data-{os.getpid()}.txt"
    shutil.copy(data_files[0], remote)
    remote.chmod(0o644)
    try:
        spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
        f = spec.files[0]
        spec.files[0] = DataFile(f.path, f.frame_interval, f.localization_precision, remote_path=str(remote))
        summary = Analysis(spec, store=tmp_path / "remote").run(env=site(), events=recorder)
        assert summary.ok, summary.errors
        up = ledger.load(summary.run_id)["upload"]
        assert up["inputs"] == 0 and up["input_bytes"] == 0 and up["source_bytes"] == 0
        ref = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)]),
                       store=tmp_path / "inprocess")
        assert ref.run(env="inprocess").ok
        assert_same_maps(ref.store, Analysis(spec, store=tmp_path / "remote").store,
                         ["cell0/roi000", "cell0/roi001"])
    finally:
        remote.unlink()


def test_refused_submission_leaves_nothing_on_scratch(cluster, site, data_files, tmp_path, recorder):
    """sbatch refuses the job after the upload (checks skipped here; a quota error while
    extracting takes the same path): the error is sbatch's, and the upload is removed."""
    from napari_tramway.environments.slurm import SiteError

    env = site(preflight=False, sbatch_options={"partition": "nosuch"})
    a = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)]), store=tmp_path / "store")
    with pytest.raises(SiteError, match=r"sbatch refused the job: Invalid partition name specified \(--partition=nosuch\)$"):
        env.submit(a._job(None, False, None), emit=recorder)
    (record,) = ledger.list_runs()
    assert record["status"] == "submit-failed" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists() and record["jobs"] == []


def test_one_site_object_runs_two_analyses_at_once(cluster, site, data_files, tmp_path, recorder):
    """Each run has its own connection: the first to finish does not cut the other one's."""
    env = site(remote_dependencies=SLEEP_IN_JOBS.format(3))
    h1 = Analysis(make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)]), store=tmp_path / "a").start(
        env=env, events=recorder)
    h2 = Analysis(make_spec(data_files[1:], rois=[(5.0, 5.0, 9.0, 9.0)]), store=tmp_path / "b").start(
        env=env, events=recorder)
    s1, s2 = h1.wait(120), h2.wait(120)
    assert s1 is not None and s2 is not None and h1.exception is None and h2.exception is None
    assert s1.ok and s2.ok and s1.run_id != s2.run_id, (s1.errors, s2.errors)
    assert not [m for m in recorder.run_messages() if "lost the connection" in m]
    assert env._runs == set()
