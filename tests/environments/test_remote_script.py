"""Slurm state mapping, output parsers, and the remote scripts run by a local bash (no cluster)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from napari_tramway.environments.slurm import arrays, states
from napari_tramway.environments.slurm import commands as rs
from napari_tramway.pipeline.events import CANCELLED, DONE, FAILED, PENDING, STARTED

EXPECTED = {
    "PENDING": PENDING, "CONFIGURING": PENDING, "REQUEUED": PENDING, "REQUEUE_HOLD": PENDING,
    "REQUEUE_FED": PENDING, "RESV_DEL_HOLD": PENDING, "SUSPENDED": PENDING, "STOPPED": PENDING,
    "RUNNING": STARTED, "COMPLETING": STARTED, "RESIZING": STARTED, "SIGNALING": STARTED, "STAGE_OUT": STARTED,
    "COMPLETED": DONE,
    "FAILED": FAILED, "TIMEOUT": FAILED, "OUT_OF_MEMORY": FAILED, "NODE_FAIL": FAILED, "BOOT_FAIL": FAILED,
    "DEADLINE": FAILED, "PREEMPTED": FAILED, "SPECIAL_EXIT": FAILED, "LAUNCH_FAILED": FAILED,
    "CANCELLED": CANCELLED, "REVOKED": CANCELLED,
}


def test_every_slurm_state_is_mapped_explicitly():
    assert set(states.SLURM_STATES) == set(EXPECTED)
    for state, kind in EXPECTED.items():
        got, name, _ = states.map_state(state)
        assert (got, name) == (kind, state)
        assert states.TaskState(state).meaning
    assert states.map_state("CANCELLED by 1001") == (CANCELLED, "CANCELLED", "by 1001")
    assert states.map_state("PENDING", "(JobArrayTaskLimit)") == (PENDING, "PENDING", "JobArrayTaskLimit")
    assert states.map_state("PENDING", "None") == (PENDING, "PENDING", None)
    assert states.map_state("WEIRD_NEW_STATE")[0] is None
    assert states.TaskState("TIMEOUT").terminal and not states.TaskState("RUNNING").terminal


def test_task_ids_and_array_specs():
    assert states.parse_task_id("123_4") == ("123", [4])
    assert states.parse_task_id("123_[2-5%2]") == ("123", [2, 3, 4, 5])
    assert states.parse_task_id("123_[0,3,5-7]") == ("123", [0, 3, 5, 6, 7])
    assert states.parse_task_id("123") is None and states.parse_task_id("123.batch") is None
    assert rs.indices_spec(None, 100, 4) == "0-99%4"
    assert rs.indices_spec(None, 1, None) == "0"
    assert rs.indices_spec([9, 3, 4, 5, 7], 10, None) == "3-5,7,9"
    assert rs.indices_spec([1], 10, 2) == "1%2"


def one_job(script="job-s-1.sh", name="s-1-0"):
    """One array job of one task (what ``submit_script`` submits)."""
    return [arrays.ArrayJob(name, "s", script, 0, "0")]


def test_parsers_and_merge():
    sacct = states.parse_sacct([
        "11_0|COMPLETED|None|0:0|vm", "11_1|CANCELLED by 1001|None|0:15|vm", "11_2|RUNNING|None|0:0|vm",
        "11_[3-5%2]|PENDING|None|0:0|None assigned", "garbage"])
    assert sacct[("11", 0)].state == "COMPLETED" and sacct[("11", 1)].reason == "by 1001"
    assert [sacct[("11", i)].state for i in (3, 4, 5)] == ["PENDING"] * 3
    squeue = states.parse_squeue(["11_3|PENDING|JobArrayTaskLimit|", "11_2|COMPLETED|None|vm", "11_6|RUNNING|None|vm"])
    merged = states.merge_states(sacct, squeue)
    assert merged[("11", 3)].reason == "JobArrayTaskLimit"  # the live queue has the reason
    assert merged[("11", 2)].state == "COMPLETED"  # a terminal state wins over a lagging RUNNING
    assert merged[("11", 0)].state == "COMPLETED" and merged[("11", 6)].state == "RUNNING"
    sc = states.parse_scontrol([
        "JobId=17 ArrayJobId=17 ArrayTaskId=1 JobName=x JobState=TIMEOUT Reason=TimeLimit NodeList=vm ExitCode=0:0",
        "JobId=19 ArrayJobId=17 ArrayTaskId=2-3%2 JobState=PENDING Reason=Resources Dependency=(null) NodeList=(null)"])
    assert sc[("17", 1)] == states.TaskState("TIMEOUT", "TimeLimit", "vm", "0:0", "scontrol")
    assert sc[("17", 3)].reason == "Resources" and sc[("17", 3)].node is None


def test_parse_poll_accounting_disabled_and_markers():
    out = "\n".join([
        "@@SACCT", "sacct: error: Slurm accounting storage is disabled", "@@RC 1",
        "@@SQUEUE", "5_0|RUNNING|None|vm", "5_1|PENDING|Resources|", "@@RC 0",
        "@@FILE units/c/roi000.done.json\t1732.5", '{"sha256": "ab",', ' "size": 3}', "@@ENDFILE",
        "@@TAR .collect/batch.tar 10240", "@@END"])
    res = states.parse_poll(out)
    assert res.accounting == "disabled"
    assert res.states[("5", 1)].reason == "Resources"
    assert res.markers == [("units/c/roi000.done.json", "1732.5", '{"sha256": "ab",\n "size": 3}')]
    assert res.tar == (".collect/batch.tar", 10240)
    res = states.parse_poll("@@SACCT\nsacct: error: Problem talking to the database: Connection refused\n@@RC 1\n"
                        "@@SQUEUE\nslurm_load_jobs error: Invalid job id specified\n@@RC 1\n@@END\n")
    assert res.accounting == "failed" and "Connection refused" in res.accounting_error
    assert res.states == {} and res.queue_error == ""
    res = states.parse_poll("@@SACCT\n@@RC 124\n@@SQUEUE\n@@RC 0\n@@END\n")
    assert res.accounting == "failed" and "timed out" in res.accounting_error


def test_paths_are_quoted():
    assert rs.remote_path("/a b/c") == "'/a b/c'"
    assert rs.remote_path("~/x y") == "\"$HOME\"/'x y'"
    assert rs.remote_path("rel/img.sif") == '"$HOME"/rel/img.sif'
    assert rs.remote_path("/x;rm -rf /") == "'/x;rm -rf /'"
    with pytest.raises(ValueError):
        rs.cleanup_script("/home/u")
    with pytest.raises(ValueError):
        rs.cleanup_script("/scratch/napari-tramway/../..")
    assert "rm -rf -- '/s p/napari-tramway/20250101-000000-abcdef'" in rs.cleanup_script(
        "/s p/napari-tramway/20250101-000000-abcdef")


def _bash(script, stdin=b""):
    r = subprocess.run(["bash", "-c", script], input=stdin, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_poll_script_lists_new_markers_and_packs_results(tmp_path):
    run = tmp_path / "run dir"
    units = run / "store" / "units" / "cell0"
    units.mkdir(parents=True)
    blobs = {}
    for name in ("roi000", "roi001"):
        data = name.encode() * 100
        (units / f"{name}.ntw").write_bytes(data)
        (units / f"{name}.done.json").write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest(),
                                                            "size": len(data)}))
        blobs[name] = data
    (units / "roi002.failed.json").write_text(json.dumps({"error": "ValueError: boom", "traceback": "tb"}))
    script = rs.poll_script(run_dir=str(run), job_ids=[], deps="")
    rc, out, err = _bash(script)
    res = states.parse_poll(out)
    assert rc == 0 and not res.run_dir_missing, err
    paths = sorted(p for p, _, _ in res.markers)
    assert paths == ["units/cell0/roi000.done.json", "units/cell0/roi001.done.json", "units/cell0/roi002.failed.json"]
    assert res.tar is not None
    with tarfile.open(run / res.tar[0]) as tf:
        assert sorted(tf.getnames()) == ["units/cell0/roi000.ntw", "units/cell0/roi001.ntw"]
        assert tf.extractfile("units/cell0/roi000.ntw").read() == blobs["roi000"]
    # markers already seen are not sent again
    seen = "".join(f"{p}\t{m}\n" for p, m, _ in res.markers if "roi000" in p or "roi002" in p)
    rc, out, _ = _bash(script, seen.encode())
    res = states.parse_poll(out)
    assert [p for p, _, _ in res.markers] == ["units/cell0/roi001.done.json"]
    rc, out, _ = _bash(rs.poll_script(run_dir=str(tmp_path / "gone"), job_ids=[], deps=""))
    assert states.parse_poll(out).run_dir_missing


def test_submit_script_is_idempotent(tmp_path):
    """Extraction + checksum verification + sbatch, never submitting twice (sbatch faked)."""
    from napari_tramway.environments.bundle import BundleWriter

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text('#!/bin/bash\necho "$@" >> "$(dirname "$0")/calls"\necho 4242\n')
    (fake / "sbatch").chmod(0o755)
    w = BundleWriter()
    w.add("job-s-1.sh", "#!/bin/bash\ntrue\n")
    w.add("store/store.json", "{}")
    data, files = w.pack("SHA256SUMS-1")
    assert set(files) == {"job-s-1.sh", "store/store.json", "SHA256SUMS-1"}
    run = tmp_path / "scratch dir" / "napari-tramway" / "20250101-000000-abcdef"
    script = f'export PATH={fake}:$PATH\n' + rs.submit_script(run_dir=str(run), checksums="SHA256SUMS-1",
                                                             jobs=one_job(), deps="")
    for _ in range(2):
        rc, out, err = _bash(script, data)
        secs = {n: a for n, a, _ in states.sections(out)}
        assert rc == 0 and secs["JOB"] == "s-1-0 4242", out + err
        assert secs["RUNDIR"] == str(run)
    assert (fake / "calls").read_text().count("--parsable") == 1
    # a damaged upload is refused before sbatch
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in (("job-s-2.sh", b"#!/bin/bash\n"), ("SHA256SUMS-2", b"0" * 64 + b"  job-s-2.sh\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            tf.addfile(ti, io.BytesIO(content))
    rc, out, _ = _bash(f'export PATH={fake}:$PATH\n' + rs.submit_script(
        run_dir=str(run), checksums="SHA256SUMS-2", jobs=one_job("job-s-2.sh", "s-2-0"), deps=""),
        buf.getvalue())
    assert rc == 23 and "@@ERROR upload damaged" in out
    assert (fake / "calls").read_text().count("--parsable") == 1


def test_worker_code_cache_on_the_cluster(tmp_path):
    """The worker zip is stored in a cache (5 versions kept) and taken from it when not uploaded;
    its checksum is verified either way."""
    import os
    import time

    from napari_tramway.environments.bundle import BundleWriter

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text("#!/bin/bash\necho 77\n")
    (fake / "sbatch").chmod(0o755)
    cache_dir = tmp_path / "scratch" / "napari-tramway" / ".cache"
    cache_dir.mkdir(parents=True)
    for i in range(6):
        p = cache_dir / f"worker-old{i}.zip"
        p.write_text(str(i))
        os.utime(p, (time.time() - 600 + i, time.time() - 600 + i))
    zip_data = b"the worker code"
    sha = hashlib.sha256(zip_data).hexdigest()
    cache = rs.worker_cache_path(str(tmp_path / "scratch"), sha)

    def submit(run, uploaded, data=zip_data):
        w = BundleWriter()
        w.add("s.sh", "#!/bin/bash\n")
        if uploaded:
            w.add("napari_tramway.zip", data)
        else:
            w.expect("napari_tramway.zip", sha)
        bundle, _ = w.pack("S")
        script = f"export PATH={fake}:$PATH\n" + rs.submit_script(
            run_dir=str(tmp_path / "scratch" / "napari-tramway" / run), checksums="S", jobs=one_job("s.sh"),
            deps="", worker_cache=cache, worker_uploaded=uploaded)
        return _bash(script, bundle)

    rc, out, err = submit("20250101-000000-aaaaaa", True)
    assert rc == 0 and "@@JOB s-1-0 77" in out, out + err
    assert Path(cache).read_bytes() == zip_data
    assert len(list(cache_dir.glob("worker-*.zip"))) == 5  # the oldest pruned
    rc, out, _ = submit("20250101-000000-bbbbbb", False)
    assert rc == 0 and "@@JOB s-1-0 77" in out
    assert (tmp_path / "scratch" / "napari-tramway" / "20250101-000000-bbbbbb" / "napari_tramway.zip").read_bytes() == zip_data
    Path(cache).write_bytes(b"tampered")
    rc, out, _ = submit("20250101-000000-cccccc", False)
    assert rc == 23 and "@@ERROR upload damaged" in out


def _fake_bin(tmp_path, sbatch_body):
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "sbatch").write_text("#!/bin/bash\n" + sbatch_body)
    (fake / "sbatch").chmod(0o755)
    (fake / "squeue").write_text("#!/bin/bash\ntrue\n")
    (fake / "squeue").chmod(0o755)
    return fake


def test_failed_submission_leaves_nothing_on_scratch(tmp_path):
    """sbatch refusing the job (or a quota error while extracting) removes the run directory the
    command created; a resubmission into an existing directory never removes it, and refuses to
    recreate a directory that is gone."""
    from napari_tramway.environments.bundle import BundleWriter

    fake = _fake_bin(tmp_path, 'echo "sbatch: error: invalid partition specified: nosuch" >&2\nexit 1\n')
    w = BundleWriter()
    w.add("job-s-1.sh", "#!/bin/bash\ntrue\n")
    w.add("inputs/f0-roi000.ntw", b"x" * 1000)
    data, _ = w.pack("SHA256SUMS-1")
    run = tmp_path / "scratch" / "napari-tramway" / "20250101-000000-abcdef"

    def submit(**kw):
        return _bash(f"export PATH={fake}:$PATH\n" + rs.submit_script(
            run_dir=str(run), checksums="SHA256SUMS-1", jobs=one_job(), deps="", **kw), data)

    rc, out, _ = submit()
    secs = {n: a for n, a, _ in states.sections(out)}
    assert rc == 24 and "invalid partition" in secs["ERROR"] and "CLEANED" in secs
    assert not run.exists() and run.parent.exists()
    rc, out, _ = submit(existing=True)  # a resubmission never recreates a directory that is gone
    assert rc == 27 and "NORUN" in {n for n, _, _ in states.sections(out)} and not run.exists()
    run.mkdir(parents=True)
    (run / "keep.txt").write_text("results of the first job")
    rc, out, _ = submit(existing=True)
    assert rc == 24 and "CLEANED" not in out and (run / "keep.txt").exists()


def test_resubmission_removes_stale_markers_before_sbatch(tmp_path):
    from napari_tramway.environments.bundle import BundleWriter

    fake = _fake_bin(tmp_path, 'ls store/units/c >> "$(dirname "$0")/seen"; echo 9\n')
    run = tmp_path / "napari-tramway" / "20250101-000000-abcdef"
    (run / "store" / "units" / "c").mkdir(parents=True)
    for name in ("roi000.failed.json", "roi001.done.json", "roi001.ntw", "roi002.done.json"):
        (run / "store" / "units" / "c" / name).write_text("{}")
    w = BundleWriter()
    w.add("job-s-2.sh", "#!/bin/bash\ntrue\n")
    data, _ = w.pack("SHA256SUMS-2")
    rc, out, _ = _bash(f"export PATH={fake}:$PATH\n" + rs.submit_script(
        run_dir=str(run), checksums="SHA256SUMS-2", jobs=one_job("job-s-2.sh", "s-2-0"), deps="",
        existing=True, remove_first=["store/units/c/roi000.failed.json", "store/units/c/roi001.done.json"]), data)
    assert rc == 0 and "@@JOB s-2-0 9" in out
    assert (fake / "seen").read_text().split() == ["roi001.ntw", "roi002.done.json"]


def test_check_script_tries_the_sbatch_options(tmp_path):
    """The pre-flight ``slurm`` check runs ``sbatch --test-only`` with the site's options, so a
    partition or account the cluster refuses is named before anything is uploaded."""
    fake = _fake_bin(tmp_path, 'case "$*" in *--test-only*--partition=nosuch*) '
                     'echo "sbatch: error: invalid partition specified: nosuch" >&2; exit 1;; esac\n'
                     'echo "sbatch: Job 5 to start at 2025-01-01T00:00:00 using 1 processors on nodes vm" >&2\n')

    def slurm_check(options):
        script = rs.check_script(deps=f"export PATH={fake}:$PATH", scratch=str(tmp_path / "scratch"),
                                 python="true", sbatch_options=options)
        assert "--test-only" in script
        rc, out, err = _bash(script)
        (check,) = [(args, lines) for name, args, lines in states.sections(out) if name == "CHECK"
                    and args.startswith("slurm ")]
        return check[0].split()[1], "\n".join(check[1])

    # on the command line every value is one quoted shell word
    assert rs.sbatch_args({"p": "debug", "account": "lab;touch pwned", "exclusive": True}) == (
        "-p debug '--account=lab;touch pwned' --exclusive")
    status, message = slurm_check({"partition": "debug", "account": "lab", "time": "01:00:00"})
    assert status == "ok" and "Job 5 to start" in message
    status, message = slurm_check({"partition": "nosuch", "account": "lab"})
    assert status == "fail" and "--partition=nosuch --account=lab" in message
    assert "invalid partition specified: nosuch" in message


def test_commands_are_built_without_paramiko():
    """``napari-tramway sites``/``runs`` and building remote commands never import paramiko (it is
    imported when a site connects)."""
    code = ("import sys; from napari_tramway import analysis, cli; from napari_tramway.cli import clusters; "
            "from napari_tramway.environments.slurm import commands; cli.build_parser(); "
            "analysis.list_sites(); analysis.list_runs(); commands.remote_path('~/x'); "
            "sys.exit(3 if 'paramiko' in sys.modules else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr or "paramiko was imported"


def test_worker_code_is_one_snapshot():
    from napari_tramway.environments.bundle import worker_code, worker_zip_sha256

    data, sha = worker_code()
    assert hashlib.sha256(data).hexdigest() == sha == worker_zip_sha256()
