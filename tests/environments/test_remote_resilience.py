"""Remote runs that survive trouble, on the REAL test cluster: sshd going away while a run is
polled, accounting down or disabled, and the client process killed mid-run then reattached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import HERE, ctl, make_spec, squeue_ids, wait_sacct

from napari_tramway import Analysis
from napari_tramway.environments import ledger

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

SLEEP_IN_JOBS = 'export PATH=/usr/local/bin:$PATH; if [ -n "$SLURM_JOB_ID" ]; then sleep {}; fi'


def test_run_continues_when_sshd_restarts_while_polling(cluster, site, daemons, data_files, tmp_path, recorder):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
    env = site(remote_dependencies=SLEEP_IN_JOBS.format(8))
    handle = Analysis(spec, store=tmp_path / "store").start(env=env, events=recorder)
    recorder.wait_for(lambda e: e.kind == "started", 60)
    daemons.stop("sshd")
    time.sleep(4)
    daemons.start("sshd")
    summary = handle.wait(180)
    assert summary is not None and handle.exception is None
    assert summary.ok and summary.count("done") == 2, summary.errors
    messages = " | ".join(recorder.run_messages())
    assert "lost the connection" in messages and "back after" in messages
    assert env._session is None or env.session().reconnects >= 0
    assert ledger.load(summary.run_id)["status"] == "done"


def test_accounting_down_falls_back_to_squeue(cluster, site, daemons, data_files, tmp_path, recorder):
    daemons.stop("slurmdbd")
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
    summary = Analysis(spec, store=tmp_path / "store").run(env=site(), events=recorder)
    assert summary.ok and summary.count("done") == 2, summary.errors
    messages = " | ".join(recorder.run_messages())
    assert "sacct failed" in messages and "squeue/scontrol" in messages
    assert ledger.load(summary.run_id)["accounting"] == "failed"
    # the states still come (from squeue); a short task may go from pending to done between polls
    assert any(e.state in ("PENDING", "RUNNING") for e in recorder.events if e.kind in ("pending", "started"))


@pytest.mark.slow
def test_accounting_disabled_falls_back_to_squeue(cluster, site, data_files, tmp_path, recorder):
    ctl("accounting-off", timeout=240)
    try:
        spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
        summary = Analysis(spec, store=tmp_path / "store").run(env=site(), events=recorder)
    finally:
        ctl("accounting-on", timeout=240)
    assert summary.ok and summary.count("done") == 2, summary.errors
    messages = " | ".join(recorder.run_messages())
    assert "accounting is disabled" in messages and "squeue/scontrol" in messages
    assert ledger.load(summary.run_id)["accounting"] == "disabled"


def test_client_killed_then_attach_collects_everything(cluster, site, data_files, tmp_path):
    """The client (``napari-tramway run SPEC`` in a subprocess) is SIGKILLed mid-run; ``napari-tramway
    attach`` later collects every result, including those finished while nobody watched."""
    spec = make_spec(data_files[:1])
    from napari_tramway.pipeline import EnvironmentSpec

    spec.environment = EnvironmentSpec(f"{HERE / 'sites_for_tests.py'}:TestCluster", {
        "username": cluster["NTW_SSH_USER"], "poll_interval": 0.5, "max_poll_interval": 2.0,
        "look_for_keys": False, "allow_agent": False, "worker_count": 1,
        "remote_dependencies": SLEEP_IN_JOBS.format(2)})
    spec_path = spec.save(tmp_path / "analysis.json")
    store = tmp_path / "results"
    cli = [sys.executable, "-m", "napari_tramway.cli"]
    proc = subprocess.Popen(cli + ["run", str(spec_path), "--store", str(store)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        runs = ledger.runs_dir()
        deadline = time.time() + 90
        record = None
        while time.time() < deadline:
            recs = [json.loads(p.read_text()) for p in runs.glob("*.json")] if runs.exists() else []
            if recs and recs[0].get("jobs") and any(st.get("kind") == "started" for st in recs[0]["states"].values()):
                record = recs[0]
                break
            time.sleep(0.2)
        assert record is not None, "the client never reported a started unit"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    run_id, job_id = record["run_id"], record["jobs"][0]["job_id"]
    assert squeue_ids(cluster, [job_id]), "the jobs keep running without the client"
    wait_sacct(cluster, job_id, lambda r: len(r) == 3 and all(x["State"] == "COMPLETED" for x in r), 120)
    r = subprocess.run(cli + ["runs"], capture_output=True, text=True, timeout=60)
    assert run_id in r.stdout and r.returncode == 0
    # its summary before the results are collected: what is here, and how to get the rest
    for what in (run_id, str(store)):
        r = subprocess.run(cli + ["summary", what], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0 finished unit(s)" in r.stdout
        assert f"3 of 3 units of run {run_id} have no result here" in r.stderr, r.stderr
        assert f"'napari-tramway attach {run_id}' collects" in r.stderr
    r = subprocess.run(cli + ["attach", run_id[:15]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 done" in r.stdout
    r = subprocess.run(cli + ["summary", str(store)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "3 finished unit(s)" in r.stdout and "no result here" not in r.stderr, r.stderr
    record = ledger.load(run_id)
    assert record["status"] == "done" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists()
    a = Analysis(spec_path, store=store)
    assert set(a.status().values()) == {"done"}
    ref = Analysis(make_spec(data_files[:1]), store=tmp_path / "inprocess")
    ref.run(env="inprocess")
    import numpy as np

    for u in a.units():
        m1, _ = a.store.load_unit(u.label)
        m2, _ = ref.store.load_unit(u.label)
        assert list(m1.table.columns) == list(m2.table.columns)
        np.testing.assert_allclose(m1.table.to_numpy(dtype=float), m2.table.to_numpy(dtype=float), rtol=1e-10,
                                   atol=1e-12, equal_nan=True)
