"""Remote environments: a Slurm cluster over SSH, with or without Singularity/Apptainer.

A *site adapter* is a subclass of :class:`SingularitySlurm` (or :class:`SlurmOverSSH` without a
container) whose class methods describe one cluster; this API is public and stable::

    class Maestro(SingularitySlurm):
        @classmethod
        def hostname(cls):
            return 'maestro.pasteur.fr'

        @classmethod
        def scratch(cls, username):
            return os.path.join('/pasteur/sonic/scratch/users', username)

        @classmethod
        def singularity_options(cls):
            return '-B /pasteur'

        @classmethod
        def remote_dependencies(cls):
            return 'module load singularity'

Hooks (class methods, with defaults): ``hostname()`` and ``scratch(username)`` (required),
``port()`` (22), ``singularity_executable()`` ('singularity'; 'apptainer' works the same),
``singularity_options()`` (''), ``remote_dependencies()`` (''), ``default_container()`` (None),
``python()`` ('python3'), ``sbatch_options()`` ({}: partition, time, mem, cpus-per-task, qos,
account...), ``worker_count`` (the most array tasks running at once; None: no limit),
``identity_file()`` and ``known_hosts()`` (None: ``~/.ssh/config``, the agent, the usual files).

Instance settings override them per run: ``SingularitySlurm(username='jdoe', container=...,
sbatch_options={...}, worker_count=4, keep_remote=False, poll_interval=5, confirm_host_key=...,
ask_secret=...)``; any hook can also be overridden by keyword (``hostname=``, ``scratch=``...).

What a run does (``docs/clusters.md``): connect (verified host keys), check the site in one
command, upload one bundle (spec, cropped inputs, the worker code at the client's version) and
``sbatch`` one array job in one more command, record the run in the local ledger, poll with one
command per interval, collect each result as soon as it is done (checksum verified), report
failures with their traceback and log tail, and remove the remote directory at the end.

The package, one idea per module: :mod:`.site` (the classes, hooks, settings, SSH session),
:mod:`.checks` (pre-flight checks and the site errors), :mod:`.submission` (upload and ``sbatch``),
:mod:`.follower` (the polling loop) and :mod:`.collect` (download and verify results),
:mod:`.runs` (recorded runs: attach, cancel, resubmit, clean), :mod:`.commands` (every shell
command sent to the cluster) and :mod:`.states` (what Slurm answers), :mod:`.presets` (Maestro).
Every setting is described in :mod:`napari_tramway.environments.settings`.
"""

from .checks import CheckResult, SiteCheckFailed, SiteError, SiteUnreachable
from .presets import Maestro
from .runs import attach, cancel_run, clean_run, resubmit, site_for_record, start_attach
from .site import SingularitySlurm, SlurmOverSSH

__all__ = ["CheckResult", "Maestro", "SingularitySlurm", "SiteCheckFailed", "SiteError", "SiteUnreachable",
           "SlurmOverSSH", "attach", "cancel_run", "clean_run", "resubmit", "site_for_record", "start_attach"]
