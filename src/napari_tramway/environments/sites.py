"""Where an environment comes from, and the one factory that makes it: :func:`make_environment`.

A name given to ``Analysis.run(env=...)``, ``napari-tramway run --env``, ``check-site`` or the
napari widget is looked up in this order:

1. ``inprocess`` and ``local`` (``local:N``);
2. the other kinds of the environment registry (:mod:`.registry`): the presets ``SlurmOverSSH``,
   ``SingularitySlurm`` (abstract) and ``Maestro`` (case does not matter);
3. profiles: top-level tables of the TOML file ``$NAPARI_TRAMWAY_SITES`` (default
   ``~/.config/napari-tramway/sites.toml``)::

       [mycluster]
       base = "SingularitySlurm"             # or SlurmOverSSH, Maestro, any other site name
       description = "My lab's cluster"
       hostname = "login.cluster.example.org"
       port = 22
       scratch = "/scratch/{username}"
       singularity_executable = "apptainer"
       singularity_options = "-B /scratch"
       remote_dependencies = "module load apptainer"
       container = "/shared/containers/napari-tramway.sif"
       python = "python3"
       username = "jdoe"
       worker_count = 20
       [mycluster.sbatch]
       partition = "common"
       time = "01:00:00"

   plus any instance setting of :data:`PROFILE_SETTINGS` (``ssh_config``, ``poll_interval``,
   ``preflight``, ``keep_remote``...): every setting of the registry's Slurm kinds
   (:mod:`.settings`) but the sbatch ones, which go in the ``[name.sbatch]`` table;

4. adapters registered by installed packages under the entry point group ``napari_tramway.sites``
   (``mysite = "mypackage.sites:MySite"``);
5. ``package.module:ClassName`` or ``path/to/file.py:ClassName``: your own adapter.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ..core.errors import ParameterError
from . import settings
from .base import Environment
from .registry import ENVIRONMENTS, INPROCESS_ALIASES, is_site, kind_of, normalise

ENTRY_POINT_GROUP = "napari_tramway.sites"
_TOML_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool}
#: fields of a profile that are not settings
PROFILE_ONLY = {"base": str, "description": str, "sbatch": dict}
#: instance settings a profile can set too (the hooks aside; their defaults: ``settings.SITE_DEFAULTS``)
PROFILE_SETTINGS = {p.name: _TOML_TYPES[p.type] for p in settings.CONTAINER_SITE
                    if p.name not in (*settings.HOOK_SETTINGS, *settings.SBATCH_KEYS, "username", "container",
                                      "worker_count")}
#: every field of a profile: the profile's own, then the settings of the Slurm kinds (sbatch ones aside)
PROFILE_FIELDS = {**PROFILE_ONLY, **{p.name: _TOML_TYPES[p.type] for p in settings.CONTAINER_SITE
                                      if p.name not in settings.SBATCH_KEYS}}
PROFILE_FIELDS["known_hosts"] = (str, list)
_DEFAULT_CALLBACKS: dict = {}


class SiteNotFound(KeyError):
    def __str__(self):
        return str(self.args[0]) if self.args else "site not found"


def set_default_callbacks(confirm_host_key=None, ask_secret=None) -> None:
    """Callbacks given to every site made by :func:`make_environment` without its own (the CLI sets
    terminal prompts here; napari passes dialogs explicitly)."""
    _DEFAULT_CALLBACKS.clear()
    if confirm_host_key is not None:
        _DEFAULT_CALLBACKS["confirm_host_key"] = confirm_host_key
    if ask_secret is not None:
        _DEFAULT_CALLBACKS["ask_secret"] = ask_secret


def profiles_path() -> Path:
    env = os.environ.get("NAPARI_TRAMWAY_SITES")
    if env:
        return Path(env).expanduser()
    from .ledger import config_dir

    return config_dir() / "sites.toml"


def load_profiles(path: Path | None = None) -> dict[str, dict]:
    """The profiles of the TOML file (``{}`` when it does not exist); raise ValueError naming
    the file, the site and the field of every problem."""
    import tomllib

    path = Path(path) if path else profiles_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the site profiles ({exc})") from None
    problems, out = [], {}
    for name, fields in data.items():
        if not isinstance(fields, dict):
            problems.append(f"{name}: expected a table [{name}] of site fields")
            continue
        for k, v in fields.items():
            if k not in PROFILE_FIELDS:
                problems.append(f"{name}.{k}: unknown field; known: {', '.join(sorted(PROFILE_FIELDS))}")
            elif not isinstance(v, PROFILE_FIELDS[k]) or (PROFILE_FIELDS[k] is int and isinstance(v, bool)):
                t = PROFILE_FIELDS[k]
                tn = " or ".join(x.__name__ for x in t) if isinstance(t, tuple) else t.__name__
                problems.append(f"{name}.{k}: expected {tn}, got {v!r}")
        if "hostname" not in fields and fields.get("base", "SingularitySlurm") in ("SingularitySlurm", "SlurmOverSSH"):
            problems.append(f"{name}.hostname: required")
        if "scratch" not in fields and fields.get("base", "SingularitySlurm") in ("SingularitySlurm", "SlurmOverSSH"):
            problems.append(f"{name}.scratch: required (e.g. \"/scratch/{{username}}\")")
        out[name] = fields
    if problems:
        raise ValueError(f"{path}: problems in the site profiles:\n" + "\n".join(f"  - {p}" for p in problems))
    return out


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # Python < 3.10 API
        eps = entry_points().get(ENTRY_POINT_GROUP, [])
    return {ep.name: ep for ep in eps}


def _profile_class(name: str, fields: dict, seen: tuple = ()):
    """A subclass of the profile's base whose hooks return the profile's values."""
    base_name = fields.get("base", "SingularitySlurm")
    if base_name in seen:
        raise ValueError(f"site profile {name!r}: circular base {' -> '.join(seen + (base_name,))}")
    base = site_class(base_name, _seen=seen + (name,))
    from .slurm.site import SlurmOverSSH

    if not (isinstance(base, type) and issubclass(base, SlurmOverSSH)):
        raise ValueError(f"site profile {name!r}: base {base_name!r} is not a Slurm site")
    ns: dict = {"__doc__": fields.get("description") or f"Site profile {name!r} ({profiles_path()}).",
                "_profile": name, "__module__": __name__}

    def const(value):
        return classmethod(lambda cls, *args: value)

    for hook in ("hostname", "port", "singularity_executable", "singularity_options", "remote_dependencies",
                 "python", "identity_file"):
        if hook in fields:
            ns[hook] = const(fields[hook])
    if "container" in fields:
        ns["default_container"] = const(fields["container"])
    if "known_hosts" in fields:
        kh = fields["known_hosts"]
        ns["known_hosts"] = const([kh] if isinstance(kh, str) else list(kh))
    if "scratch" in fields:
        template = fields["scratch"]
        ns["scratch"] = classmethod(lambda cls, username: template.format(username=username))
    if "sbatch" in fields:
        sb = dict(fields["sbatch"])
        parent = base.sbatch_options
        ns["sbatch_options"] = classmethod(lambda cls: {**parent(), **sb})
    if "worker_count" in fields:
        ns["worker_count"] = fields["worker_count"]
    defaults = dict(getattr(base, "_default_settings", {}))
    for k in ("username", *PROFILE_SETTINGS):
        if k in fields:
            defaults[k] = fields[k]
    ns["_default_settings"] = defaults
    cls_name = "".join(part.capitalize() for part in str(name).replace("-", "_").split("_") if part) or "Profile"
    return type(cls_name, (base,), ns)


def _load_object(ref: str):
    """``package.module:Name`` or ``path/to/file.py:Name``."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise SiteNotFound(ref)
    if target.endswith(".py") or "/" in target or os.sep in target:
        path = Path(target).expanduser().resolve()
        if not path.exists():
            raise SiteNotFound(f"{ref}: no such file {path}")
        mod_name = f"napari_tramway_site_{abs(hash(str(path)))}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise SiteNotFound(f"{ref}: cannot import {target} ({exc})") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SiteNotFound(f"{ref}: {target} has no {attr}") from None
    return obj


def site_class(name: str, _seen: tuple = ()):
    """The class (or factory) behind a site name; raise :class:`SiteNotFound` listing the known sites."""
    name = str(name).strip()
    if name.startswith("local:"):
        return ENVIRONMENTS.environment_class("local")
    for key in ENVIRONMENTS:
        if key.lower() == name.lower():
            return ENVIRONMENTS.environment_class(key)
    profiles = load_profiles()
    if name in profiles:
        return _profile_class(name, profiles[name], _seen)
    eps = _entry_points()
    if name in eps:
        try:
            return eps[name].load()
        except Exception as exc:
            raise SiteNotFound(f"site {name!r} (entry point {eps[name].value}) cannot be loaded: {exc}") from None
    if ":" in name:
        return _load_object(name)
    known = [n for n, _, _ in list_sites()]
    raise SiteNotFound(f"unknown site {name!r}; known sites: {', '.join(known)} "
                       f"(or package.module:Class, or path/to/file.py:Class)")


def make_environment(env=None, options: dict | None = None, *, spec=None, confirm_host_key=None,
                     ask_secret=None) -> Environment:
    """The one way to make an environment, from an object, a class, a name or a spec.

    ``env``: an :class:`~.base.Environment` (returned as it is), an environment class, a name
    (``inprocess``, ``local``, ``local:N``, a site: preset, profile, entry point,
    ``package.module:Class``, ``path/to/file.py:Class``), or None for the spec's environment (or
    in-process). ``options`` are its settings (:mod:`.settings`; for a name from the spec, they
    add to the spec's), checked against the registry: an unknown or invalid one raises
    :class:`~napari_tramway.core.errors.ParameterError` naming it. ``confirm_host_key`` and
    ``ask_secret`` are the callbacks of a cluster site (default: :func:`set_default_callbacks`'s).
    """
    if isinstance(env, Environment):
        return env
    options = dict(options or {})
    if env is None:
        if spec is not None:
            env, options = spec.environment.name, {**spec.environment.options, **options}
        else:
            env = "inprocess"
    name = None
    if isinstance(env, type):
        obj = env
    else:
        name = str(env).strip()
        if name in INPROCESS_ALIASES:
            name = "inprocess"
        if name.startswith("local:"):
            count = name.split(":", 1)[1]
            try:
                options["worker_count"] = int(count)
            except ValueError:
                raise ParameterError("environment", f"{name!r}: expected local:N, N a number of worker "
                                     "processes") from None
        obj = site_class(name)
    entry = kind_of(obj)
    callbacks = {"confirm_host_key": confirm_host_key, "ask_secret": ask_secret}
    for key in settings.CALLBACKS:  # callbacks given with the options (older callers)
        if key in options and callbacks[key] is None:
            callbacks[key] = options.pop(key)
    if entry is not None:
        options = normalise(entry, options)
    if is_site(entry):
        for key, value in {**_DEFAULT_CALLBACKS, **{k: v for k, v in callbacks.items() if v is not None}}.items():
            options[key] = value
        made = obj(**options)
        made.site_name = name
        made.site_options = {k: v for k, v in options.items() if k not in settings.CALLBACKS}
        return made
    if isinstance(obj, type) and issubclass(obj, Environment):
        return obj(**options)
    if callable(obj):
        made = obj(**options)
        if not isinstance(made, Environment):
            raise TypeError(f"site {name!r}: the factory returned {type(made).__name__}, not an Environment")
        return made
    raise TypeError(f"site {name!r} is not an environment class")


def list_sites() -> list[tuple[str, str, str]]:
    """``(name, kind, description)`` of every environment: the registry's kinds (``preset``),
    adapters registered by packages (``entry point``), profiles (``profile``)."""
    out = [(entry.name, "preset", entry.help) for entry in ENVIRONMENTS.values()]
    for name, ep in sorted(_entry_points().items()):
        out.append((name, "entry point", ep.value))
    try:
        profiles = load_profiles()
    except ValueError as exc:
        out.append((str(profiles_path()), "profile", f"unreadable: {exc}"))
        profiles = {}
    for name, fields in profiles.items():
        desc = fields.get("description") or f"{fields.get('base', 'SingularitySlurm')} on {fields.get('hostname', '?')}"
        out.append((name, "profile", desc))
    return out


__all__ = ["ENTRY_POINT_GROUP", "SiteNotFound", "list_sites", "load_profiles", "make_environment", "profiles_path",
           "set_default_callbacks", "site_class"]
