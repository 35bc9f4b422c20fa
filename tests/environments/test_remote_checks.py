"""Pre-flight checks and host keys through a site, on the REAL test cluster: what is missing is
named before anything is submitted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cluster_helpers import make_spec, slurm_env, standin_calls

from napari_tramway import Analysis
from napari_tramway.environments import ledger
from napari_tramway.environments.slurm import SiteCheckFailed
from napari_tramway.environments.ssh import fingerprint

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

CHECKS = ["connection", "dependencies", "slurm", "container-executable", "container-image", "python",
          "container-version", "scratch"]


def test_all_checks_pass_in_one_command(cluster, site):
    env = site()
    results = env.check()
    assert [r.name for r in results] == CHECKS
    assert all(r.ok for r in results), [r.line() for r in results]
    assert env.session().round_trips == 1
    by = {r.name: r for r in results}
    assert "numpy" in by["python"].message and by["python"].message.startswith("Python 3.")
    assert "free" in by["scratch"].message
    assert by["container-image"].message == cluster["NTW_CONTAINER"]


def jobs_named(cluster, name):
    r = subprocess.run(["sacct", "-n", "-X", "-P", "-a", "-S", "now-1hour", "--name", name, "-o", "JobID"],
                       capture_output=True, text=True, timeout=30, env=slurm_env(cluster))
    q = subprocess.run(["squeue", "-h", "-a", "-n", name, "-o", "%i"], capture_output=True, text=True, timeout=30,
                       env=slurm_env(cluster))
    return (r.stdout + q.stdout).split()


def refused_run(cluster, env, data_files, tmp_path):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)])
    handle = Analysis(spec, store=tmp_path / "store").start(env=env)
    summary = handle.wait(120)
    assert summary is not None
    assert isinstance(handle.exception, SiteCheckFailed), handle.exception
    run_id = handle.job.run_id
    assert run_id and ledger.list_runs() == []  # nothing recorded: nothing submitted
    assert jobs_named(cluster, f"ntw-{run_id}") == []
    assert not (Path(env._check_info.get("scratch", "/nonexistent")) / run_id).exists()
    assert summary.states == {"cell0/roi000": "queued"}
    return handle.exception


def test_missing_container_image_is_named_before_submission(cluster, site, data_files, tmp_path):
    t0 = time.time()
    missing = "/home/hpcuser/containers/no-such-image.sif"
    exc = refused_run(cluster, site(container=missing), data_files, tmp_path)
    assert "container-image" in str(exc) and missing in str(exc)
    failed = [r.name for r in exc.results if r.ok is False]
    assert failed == ["container-image"]
    assert [r.name for r in exc.results if r.ok is None] == ["python"]  # needs the image: skipped
    # no job ever ran through the stand-in for it
    assert [c for c in standin_calls(cluster, t0) if c.get("slurm_job_id")] == []


def test_broken_dependencies_line_is_named_before_submission(cluster, site, data_files, tmp_path):
    exc = refused_run(cluster, site(remote_dependencies="module load singularity/3.8"), data_files, tmp_path)
    (dep,) = [r for r in exc.results if r.name == "dependencies"]
    assert dep.ok is False and "status 127" in dep.message and "module" in dep.message
    assert "dependencies" in str(exc)


def test_python_without_numpy_is_named(cluster, site, tmp_path):
    images = Path(cluster["NTW_SCRATCH"]) / "ntw-test-images"
    images.mkdir(exist_ok=True)
    img = images / f"no-numpy-{os.getpid()}.sif"
    manifest = json.loads(Path(cluster["NTW_CONTAINER"]).read_text())
    manifest.update(name="no-numpy", python="/usr/bin/python3", path=["/nonexistent"])
    img.write_text(json.dumps(manifest))
    try:
        r = subprocess.run(["/usr/bin/python3", "-c", "import numpy"], capture_output=True)
        if r.returncode == 0:
            pytest.skip("the host's /usr/bin/python3 has numpy")
        shutil.chown(images, "hpcuser", "hpcuser")
        results = site(container=str(img)).check()
        (py,) = [r for r in results if r.name == "python"]
        assert py.ok is False and "numpy" in py.message
    finally:
        shutil.rmtree(images, ignore_errors=True)


def test_wrong_host_key_refused_with_fingerprint(cluster, site, tmp_path, data_files):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    kt, blob = (tmp_path / "other.pub").read_text().split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{cluster['NTW_SSH_PORT']} {kt} {blob}\n")
    import base64

    import paramiko

    t, b = Path(cluster["NTW_SSH_HOST_KEY_PUB"]).read_text().split()[:2]
    real = fingerprint(paramiko.PKey.from_type_string(t, base64.b64decode(b)))
    env = site(known_hosts=[str(kh)], confirm_host_key=lambda *a: True)
    results = env.check()
    assert results[0].name == "connection" and results[0].ok is False
    assert "MISMATCH" in results[0].message and real in results[0].message
    exc = refused_run(cluster, site(known_hosts=[str(kh)]), data_files, tmp_path)
    assert real in str(exc)


def test_unknown_host_key_asked_refused_or_accepted_and_remembered(cluster, site, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    asked = []
    results = site(known_hosts=[str(empty)], confirm_host_key=lambda *a: asked.append(a) or False).check()
    assert results[0].ok is False and "not accepted" in results[0].message
    assert asked and asked[0][2].startswith("SHA256:") and asked[0][2] in results[0].message
    own = Path(os.environ["NAPARI_TRAMWAY_CONFIG"]) / "known_hosts"
    assert not own.exists()
    results = site(known_hosts=[str(empty)], confirm_host_key=lambda *a: True).check()
    assert all(r.ok for r in results)
    assert f"[127.0.0.1]:{cluster['NTW_SSH_PORT']} ssh-ed25519" in own.read_text()
    results = site(known_hosts=[str(empty)]).check()  # remembered: nobody asked
    assert all(r.ok for r in results)


def test_sbatch_options_the_cluster_refuses_are_named_before_submission(cluster, site, data_files, tmp_path):
    """A wrong partition (or account, qos...) is found by ``sbatch --test-only`` in the same check
    command, before anything is uploaded."""
    env = site(sbatch_options={"partition": cluster["NTW_SLURM_PARTITION"], "time": "00:10:00"})
    results = env.check()
    assert all(r.ok for r in results) and env.session().round_trips == 1
    exc = refused_run(cluster, site(sbatch_options={"partition": "nosuch"}), data_files, tmp_path)
    (sl,) = [r for r in exc.results if r.name == "slurm"]
    assert sl.ok is False and "--partition=nosuch" in sl.message and "invalid partition" in sl.message
    assert [r.name for r in exc.results if r.ok is False] == ["slurm"]
