"""A site is one file plus its registry entry (docs/architecture.md, "A site"): a preset for
the REAL test cluster, written by the test as a user writes one, registered with one
``ENVIRONMENTS.register(site_entry(...))``, named by a spec and run by the façade."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from cluster_helpers import make_spec

from napari_tramway import Analysis
from napari_tramway.analysis import list_sites
from napari_tramway.environments.registry import ENVIRONMENTS, site_entry
from napari_tramway.pipeline import EnvironmentSpec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

LAB_SITE = '''
"""The lab's cluster: here the napari-tramway test cluster, whose settings are in cluster.json."""

import json
import os

from napari_tramway.environments import SingularitySlurm


def _info(key):
    path = os.path.join(os.environ.get("NTW_CLUSTER_DIR", "/tmp/napari-tramway-cluster"), "cluster.json")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)[key]


class LabCluster(SingularitySlurm):
    """The lab's cluster, in a container."""

    @classmethod
    def hostname(cls):
        return _info("NTW_SSH_HOST")

    @classmethod
    def port(cls):
        return int(_info("NTW_SSH_PORT"))

    @classmethod
    def scratch(cls, username):
        return _info("NTW_SCRATCH")

    @classmethod
    def singularity_options(cls):
        return "-B " + _info("NTW_SCRATCH")

    @classmethod
    def remote_dependencies(cls):
        return "export PATH=/usr/local/bin:$PATH"

    @classmethod
    def default_container(cls):
        return _info("NTW_CONTAINER")

    @classmethod
    def identity_file(cls):
        return _info("NTW_SSH_KEY")

    @classmethod
    def known_hosts(cls):
        return [_info("NTW_KNOWN_HOSTS")]
'''


@pytest.fixture
def lab_cluster(tmp_path, monkeypatch):
    # its own module name: test_registry.py imports a 'lab_cluster' module of another LabCluster
    (tmp_path / "lab_site.py").write_text(textwrap.dedent(LAB_SITE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lab_site", raising=False)

    def factory():
        from lab_site import LabCluster

        return LabCluster

    monkeypatch.setattr(ENVIRONMENTS, "_entries", dict(ENVIRONMENTS._entries))  # restored after the test
    return ENVIRONMENTS.register(site_entry("LabCluster", "the lab's cluster", "The lab's Slurm cluster.", factory))


def test_a_registered_site_runs_a_spec_through_the_facade(cluster, lab_cluster, data_files, tmp_path):
    spec = make_spec(data_files[:1], rois=[(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0)])
    reference = Analysis(spec, store=tmp_path / "inprocess")
    assert reference.run(env="inprocess").ok
    spec.environment = EnvironmentSpec("LabCluster", {"username": cluster["NTW_SSH_USER"], "poll_interval": 0.5,
                                                      "look_for_keys": False, "allow_agent": False})
    assert ("LabCluster", "preset", "The lab's Slurm cluster.") in list_sites()
    analysis = Analysis(spec, store=tmp_path / "lab")
    summary = analysis.run()   # the spec's environment, made by the one factory, settings checked
    assert summary.ok and summary.count("done") == 2, summary.errors
    for unit in analysis.units():
        maps, meta = analysis.results().unit(unit.label)
        assert meta["environment"] == "slurm:LabCluster"
        expected = reference.results().maps(unit.label)
        np.testing.assert_allclose(maps["diffusivity"], expected["diffusivity"], rtol=1e-10, equal_nan=True)
