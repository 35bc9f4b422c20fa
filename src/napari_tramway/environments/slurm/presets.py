"""Site presets shipped with napari-tramway: ready-made site adapters for known clusters.

Each preset is a :class:`~.site.SingularitySlurm` (or :class:`~.site.SlurmOverSSH`) subclass written
as a user would write one (``docs/clusters.md``), plus its line in the environment registry
(:mod:`napari_tramway.environments.registry`).
"""

from __future__ import annotations

import os

from .site import SingularitySlurm


class Maestro(SingularitySlurm):
    """The worked example of ``docs/clusters.md``: the Maestro cluster at Institut Pasteur."""

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
