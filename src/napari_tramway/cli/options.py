"""Command-line options generated from the registries, so that each setting is described once:
the data-file settings of ``analyze`` and ``run``
(:data:`~napari_tramway.core.io.FILE_SETTINGS`: ``--pixel-size``, ``--columns``...), the mesh and
model parameters of ``analyze`` (:data:`~napari_tramway.core.meshes.MESHES`,
:data:`~napari_tramway.core.models.MODELS`) and the environment settings of ``run`` and
``check-site`` (the environment registry, through the façade).
"""

from __future__ import annotations

import argparse


class CliError(Exception):
    """A user-facing error: printed as one message, never as a traceback."""


def _argtype(p):
    if p.type == "int":
        return int
    if p.type == "float":
        return float
    return str


def _help(p, extra: str = "") -> str:
    text = f"{p.help}" + (f" [{p.unit}]" if p.unit else "") + (
        f" (default: {p.default})" if p.default is not None else "") + extra
    return text.replace("%", "%%")


def _add_option(group, flags, dest, p, helptext):
    if p.type == "bool":
        group.add_argument(*flags, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=helptext)
    elif p.type == "int_pair":
        group.add_argument(*flags, dest=dest, nargs="+", default=None, metavar="N", help=helptext)
    else:
        group.add_argument(*flags, dest=dest, type=_argtype(p), default=None, help=helptext,
                           metavar=(p.unit or p.type.upper()).replace("%", "%%"), choices=p.choices)


# -- mesh and model parameters (analyze) ---------------------------------------------------------


def add_registry_options(parser, registry, group_title, prefix="", collide=(), aliases=None, exclude=()):
    """Add one option per parameter of ``registry`` (but ``exclude``); names in ``collide`` get
    ``--<prefix>-`` flags."""
    group = parser.add_argument_group(group_title)
    seen = set(exclude)
    for entry in registry.values():
        for p in entry.parameters:
            if p.name in seen:
                continue
            seen.add(p.name)
            used_by = [e.name for e in registry.values() if any(q.name == p.name for q in e.parameters)]
            dest = option_dest(p.name, prefix, collide)
            flag = "--" + dest.replace("_", "-") if dest != p.name else p.cli_flag
            flags = [flag] + list((aliases or {}).get(p.name, ()))
            _add_option(group, flags, dest, p,
                        _help(p, f" — {', '.join(used_by)}" if len(used_by) < len(registry) else ""))
    return seen


def option_dest(name, prefix, collide):
    return f"{prefix}_{name}" if prefix and name in collide else name


def collisions():
    from ..core.meshes import MESHES
    from ..core.models import MODELS

    return parameter_names(MESHES) & parameter_names(MODELS)


def collect(args, entry, prefix="", collide=()) -> dict:
    out = {}
    for p in entry.parameters:
        v = getattr(args, option_dest(p.name, prefix, collide), None)
        if v is not None:
            out[p.name] = tuple(v) if p.type == "int_pair" and isinstance(v, list) else v
    return out


def given(args, registry, prefix="", collide=()):
    names = set()
    for entry in registry.values():
        for p in entry.parameters:
            if getattr(args, option_dest(p.name, prefix, collide), None) is not None:
                names.add(p.name)
    return names


def parameter_names(registry) -> set[str]:
    return {p.name for e in registry.values() for p in e.parameters}


# -- data-file settings (analyze, run) ------------------------------------------------------------

def _file_metavar(p) -> str:
    if p.type == "mapping":
        return "ROLE=COLUMN,..."
    if p.choices:
        return "{" + ",".join(p.choices) + "}"
    return (p.unit or p.type.upper()).replace("%", "%%")


def add_file_options(parser, title: str) -> None:
    """One option per data-file setting of :data:`~napari_tramway.core.io.FILE_SETTINGS`
    (``--pixel-size``, ``--space-unit``, ``--frame-interval``, ``--time-unit``, ``--columns``,
    ``--localization-precision``...), kept as text and parsed by the registry
    (:func:`file_settings`)."""
    from ..core.io.settings import FILE_SETTINGS

    group = parser.add_argument_group(title)
    for p in FILE_SETTINGS.parameters:
        extra = " (usual spellings accepted: um, micron, pixel, sec, msec...)" if p.aliases else ""
        group.add_argument(p.cli_flag, dest=f"file_{p.name}", default=None, metavar=_file_metavar(p),
                           help=_help(p, extra))


def file_settings(args) -> dict:
    """The data-file settings given on the command line, parsed by their parameters
    (``Parameter.parse``): ``{name: value}``; :class:`CliError` naming every bad option."""
    from ..core.errors import ParameterError
    from ..core.io.settings import FILE_SETTINGS

    values, problems = {}, []
    for p in FILE_SETTINGS.parameters:
        text = getattr(args, f"file_{p.name}", None)
        if text is None:
            continue
        try:
            values[p.name] = p.parse(text)
        except ParameterError as exc:
            problems.append(f"{p.cli_flag} {text}: {exc.message}")
    if problems:
        raise CliError("; ".join(problems))
    return values


def file_problems(exc, flags: bool = True) -> str:
    """The problems of a :class:`~napari_tramway.pipeline.spec.SpecError` about data-file settings,
    each named by its option (``--pixel-size: ...``) when ``flags``, on one line."""
    from ..core.io.settings import FILE_SETTINGS

    names = {p.name: p.cli_flag for p in FILE_SETTINGS.parameters}

    def name(path):
        field = path.rpartition(".")[2]
        return names[field] if flags and field in names else path

    return "; ".join(f"{name(path)}: {message}" for path, message in exc.problems)


# -- environment settings (run, check-site) -----------------------------------------------------------

#: flags of settings whose name is not the flag (the first one is shown in messages)
ENV_FLAGS = {"worker_count": ("--workers", "--worker-count"), "username": ("--user", "--username")}


def _env_parameters(kinds, sites_only: bool) -> dict:
    """``setting name → {Parameter: [kind names]}`` over the registry's kinds."""
    out: dict = {}
    for entry in kinds.values():
        if sites_only and not _is_site(entry):
            continue
        for p in entry.parameters:
            out.setdefault(p.name, {}).setdefault(p, []).append(entry.name)
    return out


def _is_site(entry) -> bool:
    return "sbatch" in entry.extra


def kinds_text(kinds, names) -> str:
    """``--env local or a cluster site``: the kinds among ``names``, in words."""
    sites = [e.name for e in kinds.values() if _is_site(e)]
    containers = [e.name for e in kinds.values() if any(p.name == "container" for p in e.parameters)]
    words = [f"--env {n}" for n in names if n not in sites]
    if set(sites) <= set(names):
        words.append("a cluster site")
    elif set(containers) <= set(names):
        words.append(f"a cluster site with a container ({', '.join(containers)})")
    else:
        words += [n for n in names if n in sites]
    return " or ".join(words)


def add_environment_options(parser, sites_only: bool = False):
    """One option per setting of the environment registry (``--workers``, ``--user``,
    ``--container``, ``--partition``, ``--poll-interval``...), each saying which kinds take it."""
    from ..analysis import environment_kinds

    kinds = environment_kinds()
    group = parser.add_argument_group(
        "environment settings (generated from the environment registry; unset: the site's or the spec's)")
    for name, variants in _env_parameters(kinds, sites_only).items():
        flags = ENV_FLAGS.get(name, ("--" + name.replace("_", "-"),))
        p = next(iter(variants))
        if len(variants) == 1:
            helptext = _help(p, "" if sites_only else f" — {kinds_text(kinds, variants[p])}")
        else:
            helptext = "; ".join(f"{kinds_text(kinds, k)}: {_help(q)}" for q, k in variants.items())
        _add_option(group, flags, f"env_{name}", p, helptext)


def environment_options(args, kind, env_name: str, sites_only: bool = False) -> dict:
    """The environment settings given on the command line, for the environment ``env_name`` whose
    registry entry is ``kind`` (None: not described); :class:`CliError` for one it does not take."""
    from ..analysis import environment_kinds

    kinds = environment_kinds()
    takes = {p.name for p in kind.parameters} if kind is not None else set()
    out = {}
    for name, variants in _env_parameters(kinds, sites_only).items():
        value = getattr(args, f"env_{name}", None)
        if value is None:
            continue
        if name not in takes:
            names = [n for k in variants.values() for n in k]
            raise CliError(f"{ENV_FLAGS.get(name, ('--' + name.replace('_', '-'),))[0]} applies to "
                           f"{kinds_text(kinds, names)}, not to {env_name!r}")
        out[name] = value
    return out
