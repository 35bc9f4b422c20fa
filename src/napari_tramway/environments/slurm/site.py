"""The site definition: :class:`SlurmOverSSH` and :class:`SingularitySlurm`, their hooks (class
methods, public and stable, ``docs/clusters.md``), their instance settings, and the SSH session.

A run's other parts are mixed in: :class:`~.checks.PreflightChecks` and
:class:`~.submission.Submission`; following a run is :mod:`.follower`.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from pathlib import Path

from ..base import Environment
from ..settings import CALLBACKS, HOOK_SETTINGS, SITE_DEFAULTS
from .checks import PreflightChecks, SiteError
from .submission import Submission

#: hooks an instance setting of the same name overrides (``hostname=`` instead of ``hostname()``...)
HOOKS = (*HOOK_SETTINGS, "default_container")
#: instance settings and their defaults (described in :mod:`..settings`)
DEFAULT_SETTINGS = SITE_DEFAULTS
#: settings recorded in the ledger (to re-create the site on attach); callbacks never are
PERSISTED = ("username", *(k for k in SITE_DEFAULTS if k not in CALLBACKS))


class SlurmOverSSH(PreflightChecks, Submission, Environment):
    """A Slurm cluster reached over SSH; units run with the submit host's ``python3`` (no container).

    Abstract: a site subclass defines ``hostname()`` and ``scratch(username)``.
    """

    name = "slurm"
    remote = True
    uses_container = False
    worker_count = None
    """The most array tasks running at once (``--array=0-N%worker_count``); None: no limit."""
    _default_settings: dict = {}
    _profile: str | None = None

    # -- hooks (class methods; public, stable) -------------------------------------------------
    @classmethod
    def hostname(cls) -> str:
        """The SSH host of the submit node (a ``~/.ssh/config`` alias works too)."""
        raise NotImplementedError

    @classmethod
    def scratch(cls, username: str) -> str:
        """The remote directory where run directories are made (``<scratch>/napari-tramway/<run id>``)."""
        raise NotImplementedError

    @classmethod
    def port(cls) -> int:
        return 22

    @classmethod
    def remote_dependencies(cls) -> str:
        """One shell line run before anything needing the site's modules (e.g. ``module load x``)."""
        return ""

    @classmethod
    def python(cls) -> str:
        return "python3"

    @classmethod
    def sbatch_options(cls) -> dict:
        """sbatch options of every job: ``partition``, ``time``, ``mem``, ``cpus-per-task``, ``qos``,
        ``account``...; one-letter keys give ``-p value``, longer ones ``--key=value``."""
        return {}

    @classmethod
    def identity_file(cls) -> str | None:
        """A private key file (None: ``~/.ssh/config``, the agent, then ``~/.ssh/id_*``)."""
        return None

    @classmethod
    def known_hosts(cls) -> list[str] | None:
        """known_hosts files to trust (None: ``~/.ssh/known_hosts``); napari-tramway's own
        (``~/.config/napari-tramway/known_hosts``, where accepted keys are added) always counts."""
        return None

    # -- instance --------------------------------------------------------------------------------
    def __init__(self, username: str | None = None, **settings):
        cls = type(self)
        merged = dict(DEFAULT_SETTINGS)
        merged.update({k: v for k, v in cls._default_settings.items() if k in DEFAULT_SETTINGS})
        if "max_running" in settings:  # the napari widget's name for worker_count
            mr = settings.pop("max_running")
            settings.setdefault("worker_count", mr)
        if "sbatch" in settings:
            settings["sbatch_options"] = {**(settings.pop("sbatch") or {}), **(settings.get("sbatch_options") or {})}
        overrides = {k: settings.pop(k) for k in list(settings) if k in HOOKS}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        unknown = [k for k in settings if k not in DEFAULT_SETTINGS]
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown setting(s) {', '.join(sorted(unknown))}; known: "
                            f"username, {', '.join(sorted(DEFAULT_SETTINGS))}, and the hooks {', '.join(HOOKS)}")
        merged.update(settings)
        self._overrides = {**cls._default_settings.get("_overrides", {}), **overrides}
        missing = [n for n in ("hostname", "scratch") if not self._defines(n)]
        if missing:
            what = " and ".join(f"{n}()" if n == "hostname" else "scratch(username)" for n in missing)
            raise SiteError(
                f"site adapter {cls.__name__} is incomplete: it does not define {what}. "
                f"Subclass it and define them as class methods (see docs/clusters.md), e.g.\n"
                f"    class MyCluster({cls.__name__}):\n"
                f"        @classmethod\n        def hostname(cls): return 'login.cluster.example'\n"
                f"        @classmethod\n        def scratch(cls, username): return '/scratch/' + username"
            )
        self.username = username or cls._default_settings.get("username")
        if merged["container"] is not None and not self.uses_container:
            raise TypeError(f"{cls.__name__} runs without a container: use a SingularitySlurm site for container=")
        self.container = merged.pop("container")
        sb = dict(cls.sbatch_options() or {})
        sb.update(merged.pop("sbatch_options") or {})
        self.sbatch_options = sb
        wc = merged.pop("worker_count")
        if wc is None:
            wc = cls.worker_count() if callable(cls.worker_count) else cls.worker_count
        self.worker_count = None if wc in (None, 0) else int(wc)
        for k, v in merged.items():
            setattr(self, k, v)
        self.site_name: str | None = None
        self.site_options: dict = {}
        self._session = None
        self._target = None
        self._check_info: dict = {}
        self._detach = threading.Event()
        self._runs: set = set()  # per-run copies made by execute(), reached by detach()

    def _defines(self, hook: str) -> bool:
        if hook in self._overrides:
            return True
        mine = getattr(type(self), hook)
        base = getattr(SlurmOverSSH, hook)
        return getattr(mine, "__func__", mine) is not getattr(base, "__func__", base)

    def _hook(self, hook: str, *args):
        if hook in self._overrides:
            value = self._overrides[hook]
            if hook == "scratch" and isinstance(value, str):
                return value.format(username=args[0] if args else self.resolved_username)
            return value
        return getattr(type(self), hook)(*args)

    def __repr__(self):
        return f"<{type(self).__name__} {self.describe()}>"

    # -- resolved settings -----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self._hook("hostname"))

    def target(self):
        """The SSH target after ``~/.ssh/config`` (HostName, User, Port, IdentityFile, ProxyJump)."""
        if self._target is None:
            from ..ssh import SSHTarget

            port = self._hook("port") if self._defines("port") else None
            self._target = SSHTarget.resolve(self.host, port, self.username, self._hook("identity_file"),
                                             self.ssh_config)
        return self._target

    @property
    def resolved_username(self) -> str:
        return self.username or self.target().username

    def scratch_root(self) -> str:
        return str(self._hook("scratch", self.resolved_username))

    def deps(self) -> str:
        return str(self._hook("remote_dependencies") or "")

    def interpreter(self) -> str:
        return str(self._hook("python") or "python3")

    def container_parts(self) -> tuple[str | None, str, str | None]:
        """``(executable, options, image)``; ``(None, '', None)`` without a container."""
        return None, "", None

    def describe(self) -> str:
        try:
            who = f"{self.resolved_username}@{self.host}"
            port = self._hook("port") if self._defines("port") else 22
            who += f":{port}" if port != 22 else ""
        except Exception:
            who = "?"
        return f"{self.site_name or type(self).__name__} ({who})"

    def environment_label(self) -> str:
        return f"slurm:{self.site_name or type(self).__name__}"

    def site_reference(self) -> dict:
        """How to re-create this site later (stored in the ledger): name, file, options."""
        cls = type(self)
        ref: dict = {"class": f"{cls.__module__}:{cls.__qualname__}"}
        try:
            src = inspect.getsourcefile(cls)
        except (TypeError, OSError):
            src = None
        if self.site_name:
            ref["name"] = self.site_name
        elif cls._profile:
            ref["name"] = cls._profile
        elif cls.__module__ not in ("__main__", "__mp_main__") and "<locals>" not in cls.__qualname__:
            ref["name"] = ref["class"]
        elif src:
            ref["name"] = f"{src}:{cls.__qualname__}"
        if src and "<locals>" not in cls.__qualname__:
            ref["file"] = f"{os.path.abspath(src)}:{cls.__qualname__}"
        opts = {k: getattr(self, k, None) for k in PERSISTED}
        opts.update(self._overrides)
        opts.update({k: v for k, v in self.site_options.items() if k not in ("confirm_host_key", "ask_secret")})
        ref["options"] = {k: v for k, v in opts.items() if _jsonable(v)}  # callbacks never
        return ref

    # -- SSH ---------------------------------------------------------------------------------------
    def session(self):
        """The run's SSH session (one connection, reopened with back-off when it drops)."""
        if self._session is None:
            from ..ssh import SSHSession, own_known_hosts

            t = self.target()
            given = self._hook("known_hosts")
            if isinstance(given, str):
                given = [given]
            files = [os.path.expanduser(f) for f in (given or [])]
            if not files:
                files = list(t.known_hosts) or [str(Path.home() / ".ssh" / "known_hosts")]
            files.append(own_known_hosts())
            self._session = SSHSession(
                t, confirm_host_key=self.confirm_host_key, ask_secret=self.ask_secret, known_hosts_files=files,
                connect_timeout=self.connect_timeout, command_timeout=self.command_timeout,
                allow_agent=self.allow_agent, look_for_keys=self.look_for_keys,
                max_retries=int(self.ssh_retries), backoff=float(self.ssh_backoff),
                backoff_max=max(float(self.ssh_backoff), 30.0))
        return self._session

    def detach(self) -> None:
        """Stop following the current run(s) without cancelling (the jobs go on; each run stays in
        the ledger, to be reattached later)."""
        self._detach.set()
        for run in list(self._runs):
            run._detach.set()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _container(self) -> str | None:
        return None


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


class SingularitySlurm(SlurmOverSSH):
    """A Slurm cluster over SSH whose units run in a Singularity/Apptainer container.

    Abstract: a site subclass defines ``hostname()`` and ``scratch(username)`` (see the module
    docstring and ``docs/clusters.md``). The job script runs
    ``{remote_dependencies}; {singularity} exec -H $HOME {singularity_options} {container} {python} -s ...``.
    """

    name = "singularity-slurm"
    uses_container = True

    @classmethod
    def singularity_executable(cls) -> str:
        return "singularity"

    @classmethod
    def singularity_options(cls) -> str:
        """Extra options after ``exec``, e.g. ``-B /pasteur`` (binds for data and scratch)."""
        return ""

    @classmethod
    def default_container(cls) -> str | None:
        """The container image on the cluster (absolute, ``~/...`` or relative to the remote home)."""
        return None

    def _container(self) -> str | None:
        return self.container or self._hook("default_container")

    def container_parts(self):
        return (str(self._hook("singularity_executable") or "singularity"),
                str(self._hook("singularity_options") or ""), self._container())
