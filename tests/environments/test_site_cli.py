"""The cluster sub-commands of ``napari-tramway`` (sites, check-site, runs, cancel, clean) and the
terminal prompts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cluster_helpers import HERE, make_spec, squeue_ids

from napari_tramway.cli import prompts
from napari_tramway.environments import ledger

CLI = [sys.executable, "-m", "napari_tramway.cli"]
SITE = f"{HERE / 'sites_for_tests.py'}:TestCluster"


def run_cli(*args, timeout=120):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


def test_sites_lists_presets_and_profiles(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir(exist_ok=True)
    Path(tmp_path / "config" / "sites.toml").write_text(
        '[lab]\nhostname = "login.lab"\nscratch = "/scratch/{username}"\ndescription = "our cluster"\n')
    r = run_cli("sites")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "DESCRIPTION"]
    names = {ln.split()[0]: ln.split()[1] for ln in lines[1:] if ln.strip()}
    assert names["Maestro"] == "preset" and names["SingularitySlurm"] == "preset" and names["lab"] == "profile"
    assert "our cluster" in r.stdout


def test_terminal_prompts(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter(["yes", "y", "YES "])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    fp = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    assert prompts.confirm_host_key_tty("[h]:2222", "ssh-ed25519", fp) is True
    assert prompts.confirm_host_key_tty("[h]:2222", "ssh-ed25519", fp) is False  # only 'yes' accepts
    assert prompts.confirm_host_key_tty("[h]:2222", "ssh-ed25519", fp) is True
    assert fp in capsys.readouterr().err
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "s3cret")
    assert prompts.ask_secret_tty("Password for u@h:", False) == "s3cret"
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    assert prompts.confirm_host_key_tty("h", "ssh-ed25519", fp) is False


@pytest.mark.cluster
def test_check_site_exit_codes(cluster):
    r = run_cli("check-site", SITE, "--user", cluster["NTW_SSH_USER"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("✓") == 8 and "all checks passed" in r.stdout  # with the napari-tramway of the image
    r = run_cli("check-site", SITE, "--user", cluster["NTW_SSH_USER"], "--container", "/nowhere/x.sif")
    assert r.returncode == 1
    assert "✗ container image: no such file: /nowhere/x.sif" in r.stdout
    assert "- Python with numpy, scipy, pandas, shapely" in r.stdout
    r = run_cli("check-site", "nosuchsite")
    assert r.returncode == 2 and "unknown site" in r.stderr


@pytest.mark.cluster
@pytest.mark.timeout(180)
def test_runs_and_cancel_from_the_cli(cluster, site, data_files, tmp_path, recorder):
    from napari_tramway import Analysis

    env = site(sbatch_options={"hold": True})
    a = Analysis(make_spec(data_files[:1]), store=tmp_path / "store")
    record = env.submit(a._job(None, False, None), emit=recorder)
    env.close()
    run_id, job_id = record["run_id"], record["jobs"][0]["job_id"]
    r = run_cli("runs")
    assert r.returncode == 0 and run_id in r.stdout and "submitted" in r.stdout and "3 queued" in r.stdout
    assert len(squeue_ids(cluster, [job_id])) == 3
    r = run_cli("cancel", run_id)  # the site is re-created from the ledger, in another process
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no job of it left in the queue" in r.stdout
    assert squeue_ids(cluster, [job_id]) == []
    record = ledger.load(run_id)
    assert record["status"] == "cancelled" and record["remote_removed"]
    assert not Path(record["remote_dir"]).exists()
    assert set(ledger.state_counts(record)) == {"cancelled"}
