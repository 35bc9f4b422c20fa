"""The environment registry: every kind of environment, described once with its settings.

Each entry is a :class:`~napari_tramway.core.parameters.RegistryEntry`: a name, a title, a one-line
help, the :class:`~napari_tramway.core.parameters.Parameter` s of its settings (:mod:`.settings`)
and a factory returning its class (imported only when asked). The site factory
(:func:`napari_tramway.environments.sites.make_environment`), the CLI's environment options, the
napari environment panel and the table of ``docs/clusters.md`` are all made from it.

Adding a site preset is one file (a :class:`~.slurm.SingularitySlurm` subclass, e.g. in
:mod:`.slurm.presets`) plus one ``ENVIRONMENTS.register(...)`` line here (``docs/architecture.md``).
Site profiles (TOML), adapters registered by packages and your own files are looked up by
:mod:`.sites`; their settings are those of the kind they derive from (:func:`kind_of`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.errors import ParameterError
from ..core.parameters import Registry, RegistryEntry
from . import settings as s


class EnvironmentRegistry(Registry):
    """The registry of environment kinds; :meth:`table` lists each setting once with its kinds."""

    def environment_class(self, name: str) -> type:
        """The class of the kind ``name`` (its module is imported now)."""
        return self[name].factory()

    def table(self) -> str:
        """A Markdown table of every setting (once, with the kinds that take it), for the docs."""
        rows = ["| setting | type | default | unit | range | kinds | help |", "|---|---|---|---|---|---|---|"]
        seen: dict = {}
        for entry in self.values():
            for p in entry.parameters:
                seen.setdefault(p, []).append(entry.name)
        for p, kinds in seen.items():
            rng = ""
            if p.minimum is not None or p.maximum is not None:
                lo = "" if p.minimum is None else (f"> {p.minimum:g}" if p.exclusive_minimum else f"≥ {p.minimum:g}")
                hi = "" if p.maximum is None else f"≤ {p.maximum:g}"
                rng = ", ".join(x for x in (lo, hi) if x)
            default = "—" if p.default is None else repr(p.default)
            rows.append(f"| `{p.name}` | {p.type} | {default} | {p.unit} | {rng} | {', '.join(kinds)} | {p.help} |")
        return "\n".join(rows)


def _inprocess():
    from .local import InProcess

    return InProcess


def _local():
    from .local import LocalHost

    return LocalHost


def _slurm_over_ssh():
    from .slurm.site import SlurmOverSSH

    return SlurmOverSSH


def _singularity_slurm():
    from .slurm.site import SingularitySlurm

    return SingularitySlurm


def _maestro():
    from .slurm.presets import Maestro

    return Maestro


def site_entry(name: str, title: str, help: str, factory, container: bool = True) -> RegistryEntry:
    """The registry entry of a cluster site: the settings of a Slurm site (:data:`.settings.SLURM_SITE`,
    with a container :data:`.settings.CONTAINER_SITE`), and which of them are sbatch options
    (``extra["sbatch"]``). ``factory`` returns the site's class."""
    return RegistryEntry(name, title, help, s.CONTAINER_SITE if container else s.SLURM_SITE, factory=factory,
                         extra={"sbatch": s.SBATCH_KEYS})


ENVIRONMENTS = EnvironmentRegistry("environment")
ENVIRONMENTS.register(RegistryEntry(
    "inprocess", "this process (in-process)",
    "Units one after the other in this process (the default): cancellable, nothing to install.",
    (), factory=_inprocess))
ENVIRONMENTS.register(RegistryEntry(
    "local", "local processes",
    "Units in parallel worker processes on this computer (default: all cores but one).",
    (s.LOCAL_WORKERS, s.NICE), factory=_local))
ENVIRONMENTS.register(site_entry(
    "SlurmOverSSH", "Slurm over SSH",
    "A Slurm cluster over SSH, units run with the submit host's python3 (abstract: give hostname and "
    "scratch, or subclass it).", _slurm_over_ssh, container=False))
ENVIRONMENTS.register(site_entry(
    "SingularitySlurm", "Slurm over SSH, in a container",
    "A Slurm cluster over SSH, units run in a Singularity/Apptainer container (abstract: give hostname "
    "and scratch, or subclass it).", _singularity_slurm))
ENVIRONMENTS.register(site_entry(
    "Maestro", "Maestro (Institut Pasteur)",
    "The Maestro cluster at Institut Pasteur: the worked example of docs/clusters.md.", _maestro))

#: the names an in-process environment is also known by (older specs)
INPROCESS_ALIASES = ("in-process", "none", "")
#: old names of settings, still read
ALIASES = {"max_running": "worker_count"}


def kind_of(cls) -> RegistryEntry | None:
    """The registry entry whose settings an environment class takes: its own entry, else that of
    the kind it derives from (a profile of ``SingularitySlurm``, a user's subclass...); None for an
    environment the registry does not describe."""
    if not isinstance(cls, type):
        return None
    for entry in ENVIRONMENTS.values():
        if entry.factory() is cls:
            return entry
    from .local import InProcess, LocalHost
    from .slurm.site import SingularitySlurm, SlurmOverSSH

    for base, name in ((SingularitySlurm, "SingularitySlurm"), (SlurmOverSSH, "SlurmOverSSH"),
                       (LocalHost, "local"), (InProcess, "inprocess")):
        if issubclass(cls, base):
            return ENVIRONMENTS[name]
    return None


def is_site(entry: RegistryEntry | None) -> bool:
    """Whether the kind is a cluster site (it takes sbatch options and SSH callbacks)."""
    return entry is not None and "sbatch" in entry.extra


def normalise(entry: RegistryEntry, options: Mapping | None, where: str = "environment.options") -> dict:
    """``options`` checked against the kind's settings and converted to their types: old names
    renamed (``max_running``), the sbatch settings (``partition``, ``time``...) gathered into
    ``sbatch_options``. Raise :class:`~napari_tramway.core.errors.ParameterError` naming the
    first unknown or invalid option (and the known ones)."""
    out: dict = {}
    sbatch: dict = {}
    site = is_site(entry)
    known = {p.name: p for p in entry.parameters}
    for key, value in dict(options or {}).items():
        key = ALIASES.get(key, key)
        if site and key in ("sbatch_options", "sbatch"):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ParameterError(f"{where}.{key}", f"expected a table of sbatch options, got {value!r}")
            sbatch.update(value)
        elif site and key in (*s.CALLBACKS, "default_container"):
            out[key] = value
        elif key in known:
            value = known[key].validate(value, where)
            if key in entry.extra.get("sbatch", ()):
                if value is not None:
                    sbatch[key.replace("_", "-")] = value
            else:
                out[key] = value
        else:
            names = ", ".join(sorted(known)) or "none"
            raise ParameterError(f"{where}.{key}", f"unknown option for {entry.name!r}; its options: {names}")
    if sbatch:
        out["sbatch_options"] = sbatch
    return out


__all__ = ["ENVIRONMENTS", "EnvironmentRegistry", "is_site", "kind_of", "normalise", "site_entry"]
