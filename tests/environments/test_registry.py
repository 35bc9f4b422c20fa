"""The environment registry: every kind described once, the one factory that checks the settings,
the docs table generated from it, and adding a site (one file plus its registry entry). No cluster."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from napari_tramway.analysis import environment_kind, list_sites, make_environment
from napari_tramway.core.errors import ParameterError
from napari_tramway.environments import InProcess, LocalHost, settings
from napari_tramway.environments.registry import ENVIRONMENTS, kind_of, normalise, site_entry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "clusters.md"


def test_every_kind_is_described_once_and_its_class_found():
    assert list(ENVIRONMENTS) == ["inprocess", "local", "SlurmOverSSH", "SingularitySlurm", "Maestro"]
    for name, entry in ENVIRONMENTS.items():
        cls = ENVIRONMENTS.environment_class(name)
        assert kind_of(cls) is entry and entry.help and entry.title
        names = [p.name for p in entry.parameters]
        assert len(names) == len(set(names)), name
    assert [p.name for p in ENVIRONMENTS["local"].parameters] == ["worker_count", "nice"]
    slurm = {p.name for p in ENVIRONMENTS["SlurmOverSSH"].parameters}
    container = {p.name for p in ENVIRONMENTS["SingularitySlurm"].parameters}
    assert container - slurm == {"container", "singularity_executable", "singularity_options"}
    assert {"username", "hostname", "scratch", "partition", "time", "mem", "poll_interval", "keep_remote"} <= slurm


def test_the_site_classes_take_their_defaults_from_the_settings():
    from napari_tramway.environments.slurm.site import DEFAULT_SETTINGS, HOOKS, PERSISTED

    for p in settings.CONTAINER_SITE:
        if p.name in DEFAULT_SETTINGS:
            assert DEFAULT_SETTINGS[p.name] == p.default, p.name
    assert set(settings.HOOK_SETTINGS) <= set(HOOKS)
    assert "confirm_host_key" not in PERSISTED and "poll_interval" in PERSISTED
    env = make_environment("Maestro", {"username": "jdoe"})
    for p in settings.CONTAINER_SITE:
        if p.name in DEFAULT_SETTINGS and p.name not in ("container", "worker_count"):
            assert getattr(env, p.name) == p.default, p.name


def test_the_factory_checks_and_converts_every_setting():
    env = make_environment("Maestro", {"username": "jdoe", "partition": "long", "time": "02:00:00",
                                       "cpus_per_task": "4", "poll_interval": 2, "max_running": 3})
    assert env.sbatch_options == {"partition": "long", "time": "02:00:00", "cpus-per-task": 4}
    assert env.poll_interval == 2.0 and isinstance(env.poll_interval, float) and env.worker_count == 3
    assert env.site_name == "Maestro" and env.site_options["sbatch_options"]["partition"] == "long"
    with pytest.raises(ParameterError) as err:
        make_environment("Maestro", {"frobnicate": 1})
    assert err.value.field == "environment.options.frobnicate" and "poll_interval" in str(err.value)
    with pytest.raises(ParameterError, match="environment.options.poll_interval"):
        make_environment("Maestro", {"poll_interval": -1})
    with pytest.raises(ParameterError, match="unknown option for 'inprocess'"):
        make_environment("inprocess", {"worker_count": 2})
    with pytest.raises(ParameterError, match="unknown option for 'SlurmOverSSH'"):
        make_environment("SlurmOverSSH", {"container": "x.sif", "hostname": "h", "scratch": "/s"})
    with pytest.raises(ParameterError, match="local:N"):
        make_environment("local:many")
    assert isinstance(make_environment(None), InProcess) and isinstance(make_environment("in-process"), InProcess)
    local = make_environment("local", {"worker_count": 2, "nice": 0})
    assert isinstance(local, LocalHost) and (local.worker_count, local.nice) == (2, 0)
    assert make_environment("local:3", {"worker_count": 2}).worker_count == 3  # the name's count wins
    # abstract sites are completed by the hook settings
    site = make_environment("SingularitySlurm", {"hostname": "login.example", "scratch": "/scratch/{username}",
                                                 "username": "u", "container": "/c.sif"})
    assert site.host == "login.example" and site.scratch_root() == "/scratch/u" and site.container == "/c.sif"
    assert normalise(ENVIRONMENTS["SlurmOverSSH"], {"sbatch": {"qos": "fast"}, "mem": "4G"}) == {
        "sbatch_options": {"qos": "fast", "mem": "4G"}}


def test_profiles_and_own_adapters_take_the_settings_of_their_kind(tmp_path, monkeypatch):
    path = tmp_path / "sites.toml"
    path.write_text('[lab]\nbase = "SlurmOverSSH"\nhostname = "h"\nscratch = "/s"\n'
                    '[lab-c]\nhostname = "h"\nscratch = "/s"\n')
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(path))
    assert environment_kind("lab").name == "SlurmOverSSH"
    assert environment_kind("lab-c").name == "SingularitySlurm"
    assert environment_kind("local:4").name == "local" and environment_kind("inprocess").name == "inprocess"
    # TOML field types come from the settings too
    from napari_tramway.environments import sites

    assert sites.PROFILE_FIELDS["poll_interval"] == (int, float) and sites.PROFILE_FIELDS["preflight"] is bool
    assert set(sites.PROFILE_SETTINGS) == {p.name for p in settings.CONTAINER_SITE} - set(settings.HOOK_SETTINGS) - set(
        settings.SBATCH_KEYS) - {"username", "container", "worker_count"}


def test_each_environment_is_listed_once():
    names = [n for n, _, _ in list_sites()]
    assert names[:5] == list(ENVIRONMENTS) and len(names) == len(set(names))


def docs_table(text: str) -> str:
    m = re.search(r"<!-- registry:environments -->\n(.*?)\n<!-- /registry -->", text, re.S)
    assert m, f"{DOCS}: no generated environment table"
    return m.group(1).strip()


def test_the_docs_table_is_the_registry():
    """docs/clusters.md shows ENVIRONMENTS.table(); after changing a setting, rewrite it with
    python -m napari_tramway.cli.docs_tables --write."""
    assert docs_table(DOCS.read_text(encoding="utf-8")) == ENVIRONMENTS.table()


MY_SITE = '''
"""The lab's cluster (a site preset: one file)."""

from napari_tramway.environments import SingularitySlurm


class LabCluster(SingularitySlurm):
    """The lab's cluster."""

    @classmethod
    def hostname(cls):
        return "login.lab.example"

    @classmethod
    def scratch(cls, username):
        return f"/scratch/{username}"

    @classmethod
    def remote_dependencies(cls):
        return "module load apptainer"
'''


def test_adding_a_site_is_one_file_and_its_registry_entry(tmp_path, monkeypatch, capsys):
    """docs/architecture.md: a new preset is its own file plus one ENVIRONMENTS.register line; the
    factory, the site list, the CLI's options and the docs table follow."""
    (tmp_path / "lab_cluster.py").write_text(textwrap.dedent(MY_SITE))
    monkeypatch.syspath_prepend(str(tmp_path))

    def factory():
        from lab_cluster import LabCluster

        return LabCluster

    entry = site_entry("LabCluster", "the lab's cluster", "The lab's Slurm cluster, in Apptainer.", factory)
    monkeypatch.setattr(ENVIRONMENTS, "_entries", dict(ENVIRONMENTS._entries))  # restored after the test
    ENVIRONMENTS.register(entry)

    env = make_environment("labcluster", {"username": "jdoe", "partition": "long", "container": "/c/ntw.sif"})
    assert type(env).__name__ == "LabCluster" and env.host == "login.lab.example"
    assert env.scratch_root() == "/scratch/jdoe" and env.sbatch_options == {"partition": "long"}
    assert ("LabCluster", "preset", "The lab's Slurm cluster, in Apptainer.") in list_sites()
    assert "LabCluster" in ENVIRONMENTS.table()
    from napari_tramway.cli import main

    (tmp_path / "cell.txt").write_text("n\tx\ty\tt\n1\t0\t0\t0\n")
    spec = tmp_path / "spec.json"
    spec.write_text('{"files": ["cell.txt"], "mesh": {"method": "grid", "parameters": {"resolution": 1.0}}}')
    assert main(["run", str(spec), "--env", "local", "--container", "x"]) == 2
    assert "--container applies to a cluster site with a container (SingularitySlurm, Maestro, LabCluster)" in \
        capsys.readouterr().err
