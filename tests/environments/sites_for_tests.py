"""A site adapter for the napari-tramway test cluster, written as a user would write one.

The test cluster (``tests/cluster/start.sh``) is a real single-node Slurm cluster with a dedicated
sshd on 127.0.0.1:2222, the test user ``hpcuser`` and a STAND-IN ``singularity`` executable (it
runs the host's tools under bubblewrap; it is not Singularity). Its settings are read from
``$NTW_CLUSTER_DIR/cluster.json`` (default ``/tmp/napari-tramway-cluster``).
"""

import json
import os

from napari_tramway.environments import SingularitySlurm


def cluster_info() -> dict:
    d = os.environ.get("NTW_CLUSTER_DIR", "/tmp/napari-tramway-cluster")
    with open(os.path.join(d, "cluster.json"), encoding="utf-8") as fh:
        return json.load(fh)


class TestCluster(SingularitySlurm):
    """The napari-tramway test cluster (real Slurm + sshd on 127.0.0.1, stand-in singularity)."""

    __test__ = False  # not a pytest test class

    @classmethod
    def hostname(cls):
        return cluster_info()["NTW_SSH_HOST"]

    @classmethod
    def port(cls):
        return int(cluster_info()["NTW_SSH_PORT"])

    @classmethod
    def scratch(cls, username):
        return cluster_info()["NTW_SCRATCH"]

    @classmethod
    def singularity_options(cls):
        return "-B " + cluster_info()["NTW_SCRATCH"]

    @classmethod
    def remote_dependencies(cls):
        # the stand-in is installed in /usr/local/bin; this is where a `module load` would go
        return "export PATH=/usr/local/bin:$PATH"

    @classmethod
    def default_container(cls):
        return cluster_info()["NTW_CONTAINER"]

    @classmethod
    def identity_file(cls):
        return cluster_info()["NTW_SSH_KEY"]

    @classmethod
    def known_hosts(cls):
        return [cluster_info()["NTW_KNOWN_HOSTS"]]
