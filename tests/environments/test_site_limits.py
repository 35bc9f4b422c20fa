"""A site's limits on the REAL test cluster (MaxArraySize=101, associations enforced: hpcuser's
account ntwlab and QoS ntwqos, partitions debug and ntwlong): a run larger than an array may be is
split into several array jobs; the throttle holds across them; partition, QoS and account come from
the adapter, the spec and the command line; what sbatch refuses is one line with the site's own
reason, before anything is uploaded (or, without the pre-flight check, at submission)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cluster_helpers import HERE, make_spec, slurm_env, squeue_ids, wait_sacct
from test_remote_runs import assert_same_maps

from napari_tramway import Analysis
from napari_tramway.environments import ledger
from napari_tramway.environments.slurm import SiteCheckFailed, SiteError

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

ACCOUNT_REFUSED = "Invalid account or account/partition combination specified"
CLI = [sys.executable, "-m", "napari_tramway.cli"]


def sbatch_as_root(cluster, *args):
    return subprocess.run(["sbatch", *args], capture_output=True, text=True, timeout=30, env=slurm_env(cluster))


def test_a_run_above_max_array_size_is_split(site_setup, site, data_files, tmp_path, recorder):
    """110 units on a cluster whose arrays stop at task id 100: two array jobs (0-100 and 101-109 as
    task ids 0-9 with offset 101), the second after the first (a throttle of 4 holds for the whole
    run); tasks of both run and their units come back under the right labels."""
    cluster = site_setup
    limit = int(cluster["NTW_MAX_ARRAY_SIZE"])
    r = sbatch_as_root(cluster, "--test-only", f"--array=0-{limit}", "--wrap=true")
    assert r.returncode != 0 and "Invalid job array specification" in r.stderr  # one array is refused
    rois = [(0.3 + 0.85 * i, 0.5 + 0.9 * j, 0.3 + 0.85 * i + 0.75, 0.5 + 0.9 * j + 0.8)
            for i in range(11) for j in range(10)]
    spec = make_spec(data_files[:1], rois=rois)
    a = Analysis(spec, store=tmp_path / "store")
    env = site(sbatch_options={"hold": True}, worker_count=4)
    record = env.submit(a._job(None, False, None), emit=recorder)
    assert len(record["units"]) == 110 and record["limits"] == {"max_array_size": limit, "known": True}
    first, second = record["jobs"]
    assert (first["offset"], first["tasks"], first["array"]) == (0, f"0-{limit - 1}", f"0-{limit - 1}%4")
    assert (second["offset"], second["tasks"], second["array"]) == (limit, "0-8", "0-8%4")
    assert second["after_any"] == [first["name"]] and record["round_trips"]["submit"] == 2
    assert len(squeue_ids(cluster, [first["job_id"]])) == limit and len(squeue_ids(cluster, [second["job_id"]])) == 9
    # run a few tasks of each array job, cancel the others
    subprocess.run(["scancel", f"{first['job_id']}_[2-{limit - 1}]", f"{second['job_id']}_[2-7]"], check=True,
                   env=slurm_env(cluster))
    subprocess.run(["scontrol", "release", first["job_id"], second["job_id"]], check=True, env=slurm_env(cluster))
    env.follow(record, emit=recorder)
    done = sorted(lbl for lbl, st in record["states"].items() if st["kind"] == "done")
    labels = [e["unit"]["label"] for e in record["units"]]
    expected = [labels[i] for i in (0, 1, limit, limit + 1, 109)]
    assert done == sorted(expected), record["states"]
    assert sum(1 for st in record["states"].values() if st["kind"] == "cancelled") == 105
    wait_sacct(cluster, second["job_id"], lambda r: any(x["JobID"] == f"{second['job_id']}_8"
                                                        and x["State"] == "COMPLETED" for x in r), 60)
    ref = Analysis(spec, store=tmp_path / "inprocess")
    units = [u for u in ref.units() if u.label in expected]
    assert ref.run(env="inprocess", units=units).ok
    assert_same_maps(ref.store, a.store, expected)


def test_an_invalid_account_is_one_line_with_the_sites_reason(site_setup, site, data_files, tmp_path):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)])
    # before anything is uploaded: the pre-flight check (sbatch --test-only)
    env = site(sbatch_options={"account": "nosuch"})
    handle = Analysis(spec, store=tmp_path / "a").start(env=env)
    handle.wait(120)
    exc = handle.exception
    assert isinstance(exc, SiteCheckFailed) and "\n" not in str(exc), exc
    assert str(exc).endswith(f"(--account=nosuch): {ACCOUNT_REFUSED}")
    assert ledger.list_runs() == []
    # a QoS the account may not use, the same way
    (slurm,) = [r for r in site(sbatch_options={"qos": "nosuch"}).check() if r.name == "slurm"]
    assert slurm.ok is False and slurm.message.split("\n")[0].endswith("(--qos=nosuch): Invalid qos specification")
    # without the pre-flight check: sbatch itself refuses, nothing stays on scratch
    env = site(sbatch_options={"account": "nosuch"}, preflight=False)
    with pytest.raises(SiteError) as err:
        env.submit(Analysis(spec, store=tmp_path / "b")._job(None, False, None))
    assert str(err.value).endswith(f"failed: sbatch refused the job: {ACCOUNT_REFUSED} (--account=nosuch)")
    (record,) = ledger.list_runs()
    assert record["status"] == "submit-failed" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists()


@pytest.fixture
def lab_site(tmp_path):
    """A site adapter file as a user writes one: the test cluster with the lab's account."""
    path = tmp_path / "labsites.py"
    path.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        from sites_for_tests import TestCluster

        class LabCluster(TestCluster):
            @classmethod
            def sbatch_options(cls):
                return {{"account": "ntwlab", "time": "00:10:00"}}
    """))
    return f"{path}:LabCluster"


def test_partition_qos_and_account_from_adapter_spec_and_command_line(site_setup, lab_site, data_files, tmp_path):
    """The account from the adapter, the QoS from the spec, the partition from the command line:
    the job runs with all three (sacct), and a wrong account on the command line is one line."""
    from napari_tramway.pipeline import EnvironmentSpec

    cluster = site_setup
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0)])
    spec.environment = EnvironmentSpec(lab_site, {
        "username": cluster["NTW_SSH_USER"], "poll_interval": 0.5, "max_poll_interval": 2.0, "look_for_keys": False,
        "allow_agent": False, "qos": cluster["NTW_SLURM_QOS"]})
    spec_path = spec.save(tmp_path / "analysis.json")
    r = subprocess.run(CLI + ["run", str(spec_path), "--partition", "ntwlong", "--sbatch", "comment=ntw-limits"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    (record,) = ledger.list_runs()
    job_id = record["jobs"][0]["job_id"]
    # (sacct shows a placeholder record, named 'allocation', for a few seconds)
    recs = wait_sacct(cluster, job_id, lambda x: x[0]["State"] == "COMPLETED" and x[0]["JobName"].startswith("ntw-"), 60)
    sacct = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "Account,QOS,Partition,Comment"],
                           capture_output=True, text=True, timeout=30, env=slurm_env(cluster))
    assert sacct.stdout.split("\n")[0].split("|")[:3] == ["ntwlab", cluster["NTW_SLURM_QOS"], "ntwlong"], (recs, sacct)
    # the command line overrides the adapter: a wrong account, named in one line
    r = subprocess.run(CLI + ["run", str(spec_path), "--account", "nosuch", "--overwrite"], capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("napari-tramway run: error: site ")
    assert errors[0].endswith(f"): {ACCOUNT_REFUSED}") and "--account=nosuch" in errors[0], errors
