"""Where units run: in-process (default), :class:`LocalHost` (local processes), and
:class:`SlurmOverSSH` / :class:`SingularitySlurm` (a Slurm cluster over SSH, in containers).

The site-adapter API (subclass :class:`SingularitySlurm`, override ``hostname``, ``scratch``,
``singularity_options``, ``remote_dependencies``...) is public and stable; see ``docs/clusters.md``.
paramiko is imported only when a remote environment connects.
"""

from ..pipeline.events import RunSummary, UnitEvent
from .base import Environment, RunHandle, RunJob
from .local import InProcess, LocalHost

__all__ = ["Environment", "InProcess", "LocalHost", "RunHandle", "RunJob", "RunSummary", "UnitEvent"]


def __getattr__(name):
    if name in ("SlurmOverSSH", "SingularitySlurm", "Maestro"):
        from . import slurm

        return getattr(slurm, name)
    raise AttributeError(name)
