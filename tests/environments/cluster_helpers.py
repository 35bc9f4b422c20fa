"""Fixtures for the remote-environment tests, most of them against the REAL test cluster
(``tests/cluster/start.sh``: Slurm + sshd on 127.0.0.1:2222, user ``hpcuser``, and a stand-in
``singularity`` that runs the host's tools under bubblewrap — it is not Singularity).

Cluster tests are skipped when the cluster is not running, unless ``NTW_REQUIRE_CLUSTER=1`` (CI),
where they fail loudly. Tests that stop sshd or slurmdbd restore them in finalizers, through
``tests/cluster/ctl.sh`` (which stops daemons by pid file, never by name).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CTL = REPO / "tests" / "cluster" / "ctl.sh"
sys.path.insert(0, str(HERE))

CLUSTER_TEST_NAMES = ("cluster", "site", "dataset_spec", "site_setup")


def cluster_dir() -> Path:
    return Path(os.environ.get("NTW_CLUSTER_DIR", "/tmp/napari-tramway-cluster"))


def _cluster_problem() -> tuple[dict | None, str]:
    path = cluster_dir() / "cluster.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"{path} not found: the test cluster is not started (bash tests/cluster/start.sh)"
    except (OSError, ValueError) as exc:
        return None, f"{path}: unreadable ({exc})"
    try:
        with socket.create_connection((info["NTW_SSH_HOST"], int(info["NTW_SSH_PORT"])), timeout=3) as s:
            banner = s.recv(64)
        if not banner.startswith(b"SSH-"):
            return info, f"no SSH server on {info['NTW_SSH_HOST']}:{info['NTW_SSH_PORT']}"
    except OSError as exc:
        return info, f"cannot reach the test sshd ({exc}): is the cluster running?"
    env = dict(os.environ, SLURM_CONF=info.get("SLURM_CONF", ""))
    try:
        r = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return info, f"scontrol ping failed ({exc})"
    if "UP" not in r.stdout:
        return info, f"slurmctld is not up: {r.stdout.strip()} {r.stderr.strip()}"
    return info, ""


@pytest.fixture(scope="session")
def cluster():
    """The test cluster's settings (cluster.json); skip (or, with NTW_REQUIRE_CLUSTER=1, fail)."""
    info, problem = _cluster_problem()
    if problem:
        if os.environ.get("NTW_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"NTW_REQUIRE_CLUSTER=1 but the test cluster is not usable: {problem}", pytrace=False)
        pytest.skip(f"test cluster not running: {problem}")
    return info


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents and any(n in getattr(item, "fixturenames", ()) for n in CLUSTER_TEST_NAMES):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Own known_hosts, ledger and site profiles per test: the user's files are never touched."""
    cfg = tmp_path / "config"
    data = tmp_path / "data"
    monkeypatch.setenv("NAPARI_TRAMWAY_CONFIG", str(cfg))
    monkeypatch.setenv("NAPARI_TRAMWAY_DATA", str(data))
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(cfg / "sites.toml"))
    from napari_tramway.environments import sites

    sites.set_default_callbacks()
    yield tmp_path
    _clean_leftover_runs(data / "runs")


def _clean_leftover_runs(runs_dir: Path) -> None:
    """Cancel the jobs and remove the remote directories of runs a test left behind (as root, on
    this machine, which is the cluster)."""
    import shutil

    if not runs_dir.exists():
        return
    info = json.loads((cluster_dir() / "cluster.json").read_text()) if (cluster_dir() / "cluster.json").exists() else {}
    for p in runs_dir.glob("*.json"):
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        ids = [j["job_id"] for j in rec.get("jobs", [])]
        if ids and info:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30, env=slurm_env(info))
        rdir = rec.get("remote_dir") or ""
        if "/napari-tramway/" in rdir and rdir.rstrip("/").endswith(rec.get("run_id", "?")) and os.path.isdir(rdir):
            shutil.rmtree(rdir, ignore_errors=True)


def _site_setup_problem(info) -> str:
    """What differs from the site set up by this checkout's tests/cluster scripts, or ''."""
    env = dict(os.environ, SLURM_CONF=info.get("SLURM_CONF", ""))
    want = str(info.get("NTW_MAX_ARRAY_SIZE", ""))
    r = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, env=env)
    conf = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    conf = {k.strip(): v.strip() for k, v in conf.items()}
    if not want or conf.get("MaxArraySize") != want:
        return f"MaxArraySize is {conf.get('MaxArraySize')}, not {want or '(not in cluster.json)'}"
    if "associations" not in conf.get("AccountingStorageEnforce", ""):
        return "associations are not enforced"
    r = subprocess.run(["sinfo", "-h", "-p", "ntwlong", "-o", "%P"], capture_output=True, text=True, timeout=30, env=env)
    if "ntwlong" not in r.stdout:
        return "no partition ntwlong"
    if not daemon_running("bastion"):
        return "the bastion sshd is not running"
    return ""


@pytest.fixture
def site_setup(cluster):
    """The test cluster as this checkout's ``tests/cluster`` scripts set it up: MaxArraySize 101,
    associations enforced (hpcuser's account ntwlab, QoS ntwqos), partition ntwlong, the bastion.
    The cluster is shared: when another version of the scripts rewrote its configuration,
    ``start.sh`` (idempotent) sets it up again."""
    problem = _site_setup_problem(cluster)
    if problem:
        r = subprocess.run(["bash", str(REPO / "tests" / "cluster" / "start.sh")], capture_output=True, text=True,
                           timeout=300)
        info, _ = _cluster_problem()
        problem = _site_setup_problem(info or cluster)
        if problem:
            pytest.fail(f"the test cluster is not set up as tests/cluster/start.sh does ({problem}): "
                        f"{r.stderr[-2000:]}", pytrace=False)
        return info
    return cluster


# -- helpers on the cluster side (as root, on this machine) ---------------------------------------

def slurm_env(info) -> dict:
    return dict(os.environ, SLURM_CONF=info["SLURM_CONF"])


def sacct(info, job_id) -> list[dict]:
    """sacct records (allocations) of a job: JobID, State, User, JobName, ExitCode."""
    r = subprocess.run(["sacct", "-n", "-P", "-X", "-j", str(job_id), "-o", "JobID,State,User,JobName,ExitCode"],
                       capture_output=True, text=True, timeout=30, env=slurm_env(info))
    out = []
    for line in r.stdout.splitlines():
        p = line.split("|")
        if len(p) >= 5:
            out.append({"JobID": p[0], "State": p[1], "User": p[2], "JobName": p[3], "ExitCode": p[4]})
    return out


def squeue_ids(info, job_ids) -> list[str]:
    """Tasks of these jobs still in the queue (pending, running, completing...)."""
    r = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(map(str, job_ids)), "-o", "%i|%T"],
                       capture_output=True, text=True, timeout=30, env=slurm_env(info))
    return [ln for ln in r.stdout.splitlines() if ln.strip()]


def wait_sacct(info, job_id, predicate, timeout=120.0, interval=0.5):
    """Poll sacct until ``predicate(records)``; return the records."""
    end = time.time() + timeout
    recs = []
    while time.time() < end:
        recs = sacct(info, job_id)
        if recs and predicate(recs):
            return recs
        time.sleep(interval)
    raise AssertionError(f"sacct for job {job_id} did not reach the expected state in {timeout} s: {recs}")


def standin_calls(info, since: float = 0.0) -> list[dict]:
    calls = []
    with open(info["NTW_STANDIN_LOG"], encoding="utf-8") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("time", 0) >= since:
                calls.append(d)
    return calls


def ctl(*args, check=True, timeout=180):
    r = subprocess.run(["bash", str(CTL), *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"ctl.sh {' '.join(args)} failed ({r.returncode}): {r.stdout}\n{r.stderr}")
    return r


def daemon_running(name) -> bool:
    r = ctl("status", check=False)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name and parts[1] in ("running", "stopped"):
            return parts[1] == "running"
    return False


@pytest.fixture
def daemons(cluster):
    """Stop/start cluster daemons in a test; every daemon stopped is started again afterwards."""
    stopped: list[str] = []

    class Ctl:
        def stop(self, name):
            ctl(f"stop-{name}")
            stopped.append(name)

        def start(self, name):
            ctl(f"start-{name}")
            if name in stopped:
                stopped.remove(name)

    yield Ctl()
    for name in reversed(stopped):
        ctl(f"start-{name}", check=False)
    for name in ("sshd", "slurmdbd"):
        if not daemon_running(name):
            ctl(f"start-{name}", check=False)


# -- the site and the data -------------------------------------------------------------------------

@pytest.fixture
def site(cluster):
    """A factory of the test cluster's site (the adapter of sites_for_tests.py), polling fast."""
    from sites_for_tests import TestCluster

    made = []

    def make(cls=TestCluster, **settings):
        opts = dict(username=cluster["NTW_SSH_USER"], poll_interval=0.5, max_poll_interval=2.0,
                    look_for_keys=False, allow_agent=False, ssh_backoff=0.5, completion_grace=5.0)
        opts.update(settings)
        env = cls(**opts)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


@pytest.fixture(scope="session")
def data_files(tmp_path_factory):
    """Two simulated trajectory files (20 000 locations each, ~10×10 µm), tab-separated ``n x y t``."""
    from napari_tramway.core.io.text import write_trajectories_text
    from napari_tramway.core.simulate import standard_dataset

    d = tmp_path_factory.mktemp("spt")
    paths = []
    for k in range(2):
        df, _ = standard_dataset(20_000, seed=100 + k)
        p = d / f"cell{k}.txt"
        write_trajectories_text(df, p, frame_interval=0.02, localization_precision=0.02)  # the simulation's
        paths.append(p)
    return paths


ROIS = [(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0), (1.0, 6.0, 4.0, 9.0)]


def make_spec(paths, rois=ROIS, model="d", **model_params):
    from napari_tramway.core.roi import Rectangle
    from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec

    return AnalysisSpec(files=[DataFile(str(p), frame_interval=0.02, localization_precision=0.02) for p in paths],
                        rois=[Rectangle(*r) for r in rois], mesh=MeshSpec("hexagon", {"resolution": 1.0}),
                        model=ModelSpec(model, dict(model_params)))


@pytest.fixture
def dataset_spec(data_files):
    """2 files × 3 ROIs, D model on hexagons of 1 µm."""
    return make_spec(data_files)


class Recorder:
    """Collects events (thread-safe enough for list.append) and answers questions about them."""

    def __init__(self, echo=False):
        self.events = []
        self.echo = echo
        self.t0 = time.time()

    def __call__(self, ev):
        self.events.append(ev)
        if self.echo:
            print(f"{time.time() - self.t0:7.2f} {ev.describe()[:400]}", flush=True)

    def of(self, label=None, kind=None):
        return [e for e in self.events if (label is None or e.unit == label) and (kind is None or e.kind == kind)]

    def run_messages(self):
        return [e.message for e in self.events if e.kind == "run"]

    def wait_for(self, predicate, timeout=120.0):
        end = time.time() + timeout
        while time.time() < end:
            if any(predicate(e) for e in list(self.events)):
                return True
            time.sleep(0.1)
        raise AssertionError(f"no matching event within {timeout} s; got: "
                             + "; ".join(e.describe()[:120] for e in self.events[-20:]))


@pytest.fixture
def recorder():
    return Recorder(echo=os.environ.get("NTW_TEST_ECHO") == "1")
