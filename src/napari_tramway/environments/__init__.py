"""Where units run: in-process (default), :class:`LocalHost` (local processes), and
:class:`SlurmOverSSH` / :class:`SingularitySlurm` (a Slurm cluster over SSH, in containers).

Every kind is described once in the environment registry (:mod:`.registry`, its settings in
:mod:`.settings`); :func:`make_environment` (:mod:`.sites`) is the one factory. The site-adapter
API (subclass :class:`SingularitySlurm`, override ``hostname``, ``scratch``,
``singularity_options``, ``remote_dependencies``...) is public and stable; see ``docs/clusters.md``.
Scripts, the CLI and the napari widgets use these through the façade, :mod:`napari_tramway.analysis`.
The names below are imported when first used; paramiko only when a remote environment connects.
"""

from ..core.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(("Environment", "RunHandle", "RunJob"), ".base"),
    **dict.fromkeys(("InProcess", "LocalHost"), ".local"),
    **dict.fromkeys(("SlurmOverSSH", "SingularitySlurm", "Maestro"), ".slurm"),
    **dict.fromkeys(("RunSummary", "UnitEvent"), "..pipeline.events"),
    "make_environment": ".sites",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
