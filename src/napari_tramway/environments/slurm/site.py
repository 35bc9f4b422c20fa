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
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import re
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ...pipeline.events import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    PENDING,
    QUEUED,
    RUN,
    SKIPPED,
    STARTED,
    RunSummary,
    UnitEvent,
)
from .. import ledger
from .. import remote_script as rs
from ..base import Environment, RunHandle, RunJob, skip_done


class SiteError(RuntimeError):
    """A site is misconfigured or a remote run cannot proceed; the message says what to fix."""


@dataclass
class CheckResult:
    """One pre-flight check: ``ok`` is True, False (failed) or None (skipped)."""

    name: str
    ok: bool | None
    message: str = ""

    TITLES = {
        "connection": "SSH connection",
        "dependencies": "remote_dependencies line runs",
        "slurm": "Slurm commands (sbatch, squeue) and the sbatch options",
        "container-executable": "container executable",
        "container-image": "container image",
        "python": "Python with numpy, scipy, pandas",
        "scratch": "scratch directory writable",
    }

    @property
    def title(self) -> str:
        return self.TITLES.get(self.name, self.name)

    def line(self) -> str:
        mark = "✓" if self.ok else ("✗" if self.ok is False else "-")
        msg = " ".join(self.message.split("\n")[:1]).strip()
        return f"{mark} {self.title}" + (f": {msg}" if msg else "")

    def __str__(self):
        return self.line()


class SiteCheckFailed(SiteError):
    """Pre-flight checks failed; nothing was submitted. ``results`` has every check."""

    def __init__(self, site: str, results: list[CheckResult]):
        self.results = results
        failed = [r for r in results if r.ok is False]
        lines = [f"site {site}: {len(failed)} pre-flight check(s) failed, nothing was submitted:"]
        for r in failed:
            lines.append(f"  ✗ {r.title} ({r.name}): {r.message.strip()}")
        super().__init__("\n".join(lines))


HOOKS = ("hostname", "port", "scratch", "singularity_executable", "singularity_options",
         "remote_dependencies", "default_container", "python", "identity_file", "known_hosts")

DEFAULT_SETTINGS = {
    "container": None,
    "sbatch_options": None,
    "worker_count": None,
    "keep_remote": False,
    "poll_interval": 5.0,
    "max_poll_interval": 60.0,
    "confirm_host_key": None,
    "ask_secret": None,
    "ssh_config": None,
    "preflight": True,
    "reconnect_timeout": 3600.0,
    "connect_timeout": 15.0,
    "command_timeout": 120.0,
    "ssh_retries": 3,
    "ssh_backoff": 1.0,
    "completion_grace": 10.0,
    "unknown_timeout": 900.0,
    "allow_agent": True,
    "look_for_keys": True,
}
# settings recorded in the ledger (to re-create the site on attach); callbacks never are
PERSISTED = ("username", "container", "sbatch_options", "worker_count", "keep_remote", "poll_interval",
             "max_poll_interval", "ssh_config", "preflight", "reconnect_timeout", "connect_timeout",
             "command_timeout", "ssh_retries", "ssh_backoff", "completion_grace", "unknown_timeout",
             "allow_agent", "look_for_keys")


class SlurmOverSSH(Environment):
    """A Slurm cluster reached over SSH; units run with the submit host's ``python3`` (no container).

    Abstract: a site subclass defines ``hostname()`` and ``scratch(username)``.
    """

    name = "slurm"
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

    # -- pre-flight checks --------------------------------------------------------------------------
    def check(self, worker_sha256: str | None = None) -> list[CheckResult]:
        """Every pre-flight check, in ONE remote command: the dependencies line, Slurm (and that
        ``sbatch --test-only`` accepts the site's sbatch options: partition, account, qos, time...),
        the container executable and image, the (container's) Python with numpy/scipy/pandas,
        scratch writable. ``worker_sha256``: also ask whether this worker code is cached there."""
        from ..ssh import SSHError

        try:
            session = self.session()
            session.connect()
        except SSHError as exc:
            return [CheckResult("connection", False, str(exc))]
        results = [CheckResult("connection", True, f"{session.target.display}")]
        sing, opts, image = self.container_parts()
        if self.uses_container and not image:
            image = ""
        try:
            script = rs.check_script(deps=self.deps(), scratch=self.scratch_root(), python=self.interpreter(),
                                     singularity=sing, singularity_options=opts, container=image,
                                     timeout=int(max(30, self.command_timeout - 20)),
                                     worker_sha256=worker_sha256, sbatch_options=self.sbatch_options)
            _, out, err = session.run(script, check=False)
        except SSHError as exc:
            return results + [CheckResult("connection", False, str(exc))]
        info = {}
        for name, args, lines in rs.sections(out):
            if name == "CHECK":
                check, _, status = args.partition(" ")
                ok = {"ok": True, "fail": False}.get(status.strip())
                msg = "\n".join(ln for ln in lines if ln.strip())
                if check == "container-image" and self.uses_container and not self._container():
                    msg = ("no container image configured: pass container=... or define default_container()")
                results.append(CheckResult(check, ok, msg))
            elif name == "HOME":
                info["home"] = args.strip()
            elif name == "SCRATCH":
                info["scratch"] = args.strip()
            elif name == "WORKER_CACHED":
                info["worker_cached"] = True
            elif name == "END":
                info["complete"] = True
        for r in results:  # the scratch section carries @@SCRATCH lines inside the check
            if r.name == "scratch":
                r.message = "\n".join(ln for ln in r.message.split("\n") if not ln.startswith("@@"))
        if not info.get("complete"):
            results.append(CheckResult("connection", False, "the check command did not finish: "
                                       + (err.strip()[-500:] or out.strip()[-500:] or "no output")))
        self._check_info = info
        return results

    def _container(self) -> str | None:
        return None

    def _preflight(self, emit, worker_sha256: str | None = None) -> dict:
        if not self.preflight:
            return {}
        results = self.check(worker_sha256)
        if any(r.ok is False for r in results):
            raise SiteCheckFailed(self.site_name or type(self).__name__, results)
        emit(UnitEvent(RUN, None, message="site checks passed: " + "; ".join(
            f"{r.name} ✓" for r in results)))
        return dict(self._check_info)

    # -- the run ------------------------------------------------------------------------------------
    def execute(self, job: RunJob, emit, cancel: threading.Event) -> None:
        """Submit and follow a run on a per-run copy of this site (its own connection and detach
        flag), so that one site object can run several analyses at once."""
        for u in job.units:
            emit(UnitEvent(QUEUED, u.label))
        todo = skip_done(job, emit)
        if not todo:
            return
        run_id = job.run_id or ledger.new_run_id()
        job.run_id = run_id
        run = copy.copy(self)
        run._session, run._check_info, run._detach, run._runs = None, {}, threading.Event(), set()
        self._runs.add(run)
        try:
            with ledger.lock(run_id, "submit"):
                record = run.submit(job, todo, emit=emit, run_id=run_id)
                run.follow(record, emit=emit, cancel=cancel)
        finally:
            self._runs.discard(run)
            self._check_info = run._check_info  # what the last run's checks found (scratch, home)
            run.close()

    def submit(self, job: RunJob, units=None, emit=None, run_id: str | None = None) -> dict:
        """Check the site, upload the run and ``sbatch`` it; return the ledger record (already saved).

        Costs two SSH commands (the checks, then upload + extraction + verification + sbatch).
        """
        from ..bundle import (
            BundleWriter,
            add_inputs,
            remote_store_info,
            tessellation_files,
            worker_code,
        )

        emit = emit or (lambda ev: None)
        units = list(job.units if units is None else units)
        if not units:
            raise SiteError("nothing to submit")
        run_id = run_id or job.run_id or ledger.new_run_id()
        job.run_id = run_id
        session = self.session()
        rt0 = session.round_trips
        worker_data, worker_sha = worker_code()  # one snapshot for the cache probe and the upload
        info = self._preflight(emit, worker_sha)
        stage = job.stage
        scratch = info.get("scratch") or (self.scratch_root().rstrip("/") + "/napari-tramway")
        remote_dir = f"{scratch.rstrip('/')}/{run_id}"

        writer = BundleWriter()
        writer.add("store/store.json", json.dumps(remote_store_info(job.store, job.spec, info.get("home")), indent=1,
                                                  default=str))
        if stage == "infer":
            for rel, data in tessellation_files(job.store, units).items():
                writer.add(rel, data)
        worker_cache = rs.worker_cache_path(self.scratch_root(), worker_sha)
        worker_cached = bool(info.get("worker_cached"))
        if worker_cached:  # this version's worker code is on the cluster already (verified by checksum)
            writer.expect("napari_tramway.zip", worker_sha)
        else:
            writer.add("napari_tramway.zip", worker_data)
        input_bytes, source_bytes, n_inputs, mapping = add_inputs(writer, job.spec, units)
        units_file = f"units-{stage}.json"
        plan = {"format": "napari-tramway/units", "run_id": run_id, "stage": stage,
                "environment": self.environment_label(),
                "units": [{"unit": u.to_dict(), "input": mapping.get(u.label)} for u in units]}
        writer.add(units_file, json.dumps(plan, indent=1))
        seq = 1
        script_name = f"job-{stage}-{seq}.sh"
        array = rs.indices_spec(None, len(units), self.worker_count)
        writer.add(script_name, self._job_script(run_id, stage, units_file, array))
        writer.add_dir("logs")
        writer.add_dir("jobs")
        data, files = writer.pack(f"SHA256SUMS-{seq}")
        from ..._version import __version__

        t = self.target()
        record = {
            "run_id": run_id, "status": "submitting", "site": self.site_reference(),
            "user": self.resolved_username, "host": t.hostname, "port": t.port, "remote_dir": remote_dir,
            "remote_removed": False, "stage": stage, "local_store": str(Path(job.store.root).resolve()),
            "units_file": units_file, "log_pattern": "logs/{stage}-{job}_{index}.out",
            "units": [{"index": i, "unit": u.to_dict(), "input": mapping.get(u.label)} for i, u in enumerate(units)],
            "jobs": [], "pending_job": {"job_file": f"{script_name}.id", "script": script_name, "indices": None},
            "states": {u.label: {"kind": QUEUED} for u in units}, "seen": {}, "accounting": "unknown",
            "keep_remote": bool(self.keep_remote), "software": f"napari-tramway {__version__}",
            "upload": {"bundle_bytes": len(data), "input_bytes": input_bytes, "source_bytes": source_bytes,
                       "inputs": n_inputs, "worker_zip_bytes": files.get("napari_tramway.zip", 0),
                       "worker_cached": worker_cached},
        }
        ledger.save(record)
        emit(UnitEvent(RUN, None, message=f"{run_id}: uploading {len(data) / 1024:.0f} KiB "
                       f"({n_inputs} cropped input(s), {input_bytes / 1024:.0f} KiB, from {source_bytes / 1024:.0f} KiB "
                       f"of data files; worker code {'cached on the cluster' if worker_cached else 'included'}) "
                       f"to {self.describe()}:{remote_dir}"))
        from ..ssh import SSHError

        try:
            job_id, parsed, error = self._upload_and_sbatch(remote_dir, data, seq, script_name,
                                                            worker_cache=worker_cache,
                                                            worker_uploaded=not worker_cached)
        except SSHError as exc:
            record["status"] = "submit-unknown"
            record["error"] = str(exc)
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission interrupted ({exc}); if the job was submitted, "
                            f"`napari-tramway attach {run_id}` finds it") from None
        if parsed.get("RUNDIR"):
            record["remote_dir"] = parsed["RUNDIR"]
        if job_id is None:
            record["status"] = "submit-failed"
            record["error"] = error
            record["remote_removed"] = "CLEANED" in parsed  # nothing left on scratch
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission to {self.describe()} failed: {error}" + (
                "" if record["remote_removed"] else f" (`napari-tramway clean {run_id}` removes the upload)"))
        record["jobs"].append({"job_id": job_id, "name": f"ntw-{run_id}", "stage": stage, "indices": None,
                               "script": script_name, "submitted": ledger.now(), "array": array})
        record.pop("pending_job", None)
        record["status"] = "submitted"
        record["round_trips"] = {"submit": session.round_trips - rt0}
        ledger.save(record)
        emit(UnitEvent(RUN, None, message=f"{run_id}: submitted array job {job_id} ({len(units)} task(s), "
                       f"--array={record['jobs'][-1]['array']}) on {self.describe()}"))
        return record

    def follow(self, record: dict, emit=None, cancel: threading.Event | None = None, replay: bool = False) -> dict:
        """Poll the run until every unit is done, failed or cancelled; collect results as they come."""
        f = _Follower(self, record, emit or (lambda ev: None), cancel or threading.Event())
        if replay:
            f.replay()
        f.run()
        return record

    def _job_script(self, run_id: str, stage: str, units_file: str, array: str) -> str:
        """The sbatch script of one array job of a run (the first one or a resubmission)."""
        from ..._version import __version__

        sing, opts, image = self.container_parts()
        return rs.job_script(run_id=run_id, stage=stage, job_name=f"ntw-{run_id}", array=array,
                             units_file=units_file, log_name=f"{stage}-%A_%a.out",
                             sbatch_options=self.sbatch_options, deps=self.deps(), python=self.interpreter(),
                             singularity=sing, singularity_options=opts, container=image,
                             version=__version__, environment=self.environment_label())

    def _upload_and_sbatch(self, remote_dir: str, bundle: bytes, seq: int, script_name: str,
                           **submit_options) -> tuple[str | None, dict, str]:
        """ONE command: send ``bundle`` on stdin, extract and verify it in ``remote_dir``, ``sbatch``
        ``script_name``; ``(job id or None, the output's sections, error message)``."""
        cmd = rs.submit_script(run_dir=remote_dir, checksums=f"SHA256SUMS-{seq}", job_file=f"{script_name}.id",
                               script=script_name, deps=self.deps(), **submit_options)
        status, out, err = self.session().run(cmd, stdin=bundle, check=False,
                                              timeout=self.command_timeout + len(bundle) / 100_000)
        parsed = {name: args.strip() for name, args, _ in rs.sections(out)}
        job_id = parsed.get("JOB")
        if status != 0 or not job_id or not job_id.isdigit():
            return None, parsed, parsed.get("ERROR") or (err.strip()[-500:] or out.strip()[-500:])
        return job_id, parsed, ""

    # -- operations on recorded runs ----------------------------------------------------------------
    def cancel_jobs(self, record: dict, wait: float = 60.0) -> tuple[bool, str]:
        """``scancel`` the run's jobs and wait until ``squeue`` shows none; ``(cleared, leftovers)``."""
        ids = [j["job_id"] for j in record.get("jobs", [])]
        _, out, _ = self.session().run(rs.cancel_script(job_ids=ids, deps=self.deps(), wait=wait), check=False,
                                       timeout=wait + 60)
        secs = {name: lines for name, _, lines in rs.sections(out)}
        return "CLEAR" in secs, "\n".join(secs.get("LEFT", [])).strip()

    def remove_remote(self, record: dict) -> None:
        self.session().run(rs.cleanup_script(record["remote_dir"]), check=True)
        record["remote_removed"] = True


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


# ------------------------------------------------------------------------------------------------
# Following a run
# ------------------------------------------------------------------------------------------------

class _Rejected(Exception):
    """A downloaded result does not match its done-marker (aborts its atomic write)."""


@dataclass
class _Failure:
    path: str
    mtime: str
    record: dict


class _Follower:
    """The polling loop of one run: one command per interval, collection, state changes, ledger."""

    def __init__(self, site: SlurmOverSSH, record: dict, emit, cancel: threading.Event):
        from ...pipeline.store import ResultStore
        from ...pipeline.units import Unit

        self.site = site
        self.record = record
        self.emit = emit
        self.cancel = cancel
        self.store = ResultStore(record["local_store"])
        self.entries = {e["unit"]["label"]: e for e in record["units"]}
        self.unit_objs = {lbl: Unit.from_dict(e["unit"]) for lbl, e in self.entries.items()}
        self.label_by_index = {e["index"]: lbl for lbl, e in self.entries.items()}
        self.states: dict = record.setdefault("states", {lbl: {"kind": QUEUED} for lbl in self.entries})
        self.seen: dict = record.setdefault("seen", {})
        self.failures: dict[str, _Failure] = {}
        self.completed_at: dict[str, float] = {}
        self.unknown_since: dict[str, float] = {}
        self.unknown_polls: dict[str, int] = {}
        self.reported: set = set()
        self.collect_attempts: dict[str, int] = {}
        self.disconnected_since: float | None = None
        self.last_ok: float | None = None
        self.use_sacct = record.get("accounting") != "disabled"
        self.sacct_skip = 0
        self.norun_polls = 0
        self._task_map()

    # -- bookkeeping ------------------------------------------------------------------------------
    def _task_map(self):
        self.task_of: dict[str, tuple[str, int]] = {}
        self.job_of_task: dict[tuple[str, int], dict] = {}
        for job in self.record.get("jobs", []):
            idx = job["indices"] if job.get("indices") is not None else range(len(self.entries))
            for i in idx:
                label = self.label_by_index.get(i)
                if label is not None:
                    self.task_of[label] = (job["job_id"], i)
                    self.job_of_task[(job["job_id"], i)] = job

    def _save(self):
        ledger.save(self.record)

    def _message(self, key, text):
        if key in self.reported:
            return
        self.reported.add(key)
        self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: {text}"))

    def final(self, label) -> bool:
        return self.states.get(label, {}).get("kind") in FINAL

    def all_final(self) -> bool:
        return all(self.final(lbl) for lbl in self.entries)

    def _set(self, label, kind, **info):
        st = {"kind": kind, "time": time.time()}
        st.update({k: v for k, v in info.items() if v is not None})
        self.states[label] = st

    def replay(self):
        """On attach: report each unit's known state first."""
        for label in self.entries:
            st = self.states.get(label, {"kind": QUEUED})
            kind = st.get("kind", QUEUED)
            if kind == FAILED:
                self.emit(UnitEvent(FAILED, label, error=st.get("error"), state=st.get("slurm"),
                                    reason=st.get("reason"), message="(before attach)"))
            elif kind in (DONE, CANCELLED, SKIPPED, PENDING, STARTED, QUEUED):
                self.emit(UnitEvent(kind, label, state=st.get("slurm"), reason=st.get("reason"),
                                    message="(before attach)" if kind in FINAL else ""))

    # -- the loop ----------------------------------------------------------------------------------
    def run(self):
        from ..ssh import AuthenticationFailed, HostKeyMismatch, HostKeyRefused, SSHError

        site = self.site
        if not self.record.get("jobs"):
            self._recover_job()
        interval = float(site.poll_interval)
        if self.record.get("status") in ("submitted", "submitting", "detached"):
            self.record["status"] = "running"
        while not self.all_final():
            if self.cancel.is_set():
                self._cancel()
                break
            if site._detach.is_set():
                self.record["status"] = "detached"
                self._save()
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: detached; the jobs go on: "
                                    f"napari-tramway attach {self.record['run_id']}"))
                return
            try:
                changed = self.poll_once()
                self.last_ok = time.time()
                if self.disconnected_since is not None:
                    self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: connection to "
                                        f"{site.describe()} back after {time.time() - self.disconnected_since:.0f} s"))
                    self.reported.discard("disconnected")
                self.disconnected_since = None
            except (HostKeyMismatch, HostKeyRefused, AuthenticationFailed):
                raise
            except (SSHError, OSError, EOFError) as exc:
                changed = False
                now = time.time()
                if self.disconnected_since is None:
                    self.disconnected_since = self.last_ok or now
                self._message("disconnected", f"lost the connection to {site.describe()} ({exc}); "
                              "retrying with back-off (the jobs keep running)")
                if now - self.disconnected_since > float(site.reconnect_timeout):
                    self.record["status"] = "detached"
                    self._save()
                    raise SiteError(f"run {self.record['run_id']}: no connection to {site.describe()} for "
                                    f"{now - self.disconnected_since:.0f} s; the jobs keep running: "
                                    f"`napari-tramway attach {self.record['run_id']}` later") from None
                site.close()
            if changed:
                interval = float(site.poll_interval)
                self._save()
            else:
                interval = min(interval * 1.5, float(site.max_poll_interval))
            if self.all_final():
                break
            self._sleep(interval)
        self._finish()

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.cancel.is_set() or self.site._detach.is_set():
                return
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def _recover_job(self):
        """The client stopped between sbatch and recording the job id: read it from the run dir."""
        pj = self.record.get("pending_job")
        if not pj:
            raise SiteError(f"run {self.record['run_id']}: no job was recorded")
        cmd = f"cat -- {rs.remote_path(self.record['remote_dir'])}/jobs/{rs.shlex.quote(pj['job_file'])} 2>/dev/null"
        _, out, _ = self.site.session().run(cmd, check=False)
        job_id = out.strip().split(";")[0]
        if not job_id.isdigit():
            self.record["status"] = "submit-failed"
            self._save()
            raise SiteError(f"run {self.record['run_id']}: the job was never submitted")
        self.record["jobs"].append({"job_id": job_id, "name": f"ntw-{self.record['run_id']}",
                                    "stage": self.record["stage"], "indices": pj.get("indices"),
                                    "script": pj.get("script"), "submitted": ledger.now()})
        self.record.pop("pending_job", None)
        self._task_map()
        self._save()

    # -- one poll ----------------------------------------------------------------------------------
    def poll_once(self) -> bool:
        site = self.site
        session = site.session()
        ids = [j["job_id"] for j in self.record.get("jobs", [])]
        use_sacct = self.use_sacct and self.sacct_skip <= 0
        script = rs.poll_script(run_dir=self.record["remote_dir"], job_ids=ids, deps=site.deps(),
                                use_sacct=use_sacct)
        seen = "".join(f"{p}\t{m}\n" for p, m in self.seen.items())
        _, out, err = session.run(script, stdin=seen.encode(), check=False)
        if "@@END" not in out:
            from ..ssh import SSHError

            raise SSHError(f"incomplete poll output: {(err or out).strip()[-300:]}")
        res = rs.parse_poll(out)
        changed = False
        if self.sacct_skip > 0:
            self.sacct_skip -= 1
        self._accounting(res, use_sacct)
        if res.run_dir_missing:
            # twice in a row: a scratch file system that hiccups once does not fail the run
            self.norun_polls += 1
            if self.norun_polls < 2:
                return False
            self.record["remote_removed"] = True  # so that nobody resubmits into it or cleans it
            self.record["remote_gone"] = ledger.now()
            for label in self.entries:
                if not self.final(label):
                    self._fail(label, None, None, f"the remote run directory {self.record['remote_dir']} is gone "
                               "(removed on the cluster, e.g. a scratch purge); start a new run", "")
            return True
        self.norun_polls = 0
        # markers
        done = []
        for path, mtime, text in res.markers:
            label, kind = self._label_of(path)
            if label is None:
                self.seen[path] = mtime
                continue
            if kind == "done":
                done.append((path, mtime, label, text))
            else:
                try:
                    rec = json.loads(text)
                except ValueError:
                    rec = {"error": "unreadable failure record", "traceback": text[-2000:]}
                if self.final(label):
                    self.seen[path] = mtime
                else:
                    self.failures[label] = _Failure(path, mtime, rec)
        if done:
            changed |= self._collect(done, res)
        # Slurm states
        now = time.time()
        to_fail = []
        for label in self.entries:
            if self.final(label):
                continue
            task = self.task_of.get(label)
            ts = res.states.get(task) if task else None
            failure = self.failures.get(label)
            st = self.states.setdefault(label, {"kind": QUEUED})
            if ts is None:
                since = self.unknown_since.setdefault(label, now)
                self.unknown_polls[label] = self.unknown_polls.get(label, 0) + 1
                if failure is not None and now - since >= float(site.completion_grace):
                    to_fail.append((label, None, failure))
                elif task is not None and self.unknown_polls[label] >= 2:
                    self._message(("unknown", label), f"task {task[0]}_{task[1]} ({label}) is not known to Slurm "
                                  "any more (accounting off?) and has no result yet: waiting for its done-marker")
                    if now - since > float(site.unknown_timeout):
                        to_fail.append((label, None, None))
                continue
            self.unknown_since.pop(label, None)
            self.unknown_polls.pop(label, None)
            kind = ts.kind
            if kind is None:
                self._message(("state", ts.state), f"unknown Slurm state {ts.state} for {label}")
                continue
            if kind in (PENDING, STARTED):
                if failure is not None:
                    continue  # the worker has failed; its task is ending
                if (st.get("kind"), st.get("slurm"), st.get("reason")) != (kind, ts.state, ts.reason):
                    self._set(label, kind, slurm=ts.state, reason=ts.reason, node=ts.node)
                    self.emit(UnitEvent(kind, label, state=ts.state, reason=ts.reason, message=ts.meaning,
                                        where=ts.node if kind == STARTED else None))
                    changed = True
            elif kind == DONE:
                if failure is not None:
                    to_fail.append((label, ts, failure))
                    continue
                first = self.completed_at.setdefault(label, now)
                if now - first >= float(site.completion_grace):
                    to_fail.append((label, ts, None))
            elif kind == FAILED:
                to_fail.append((label, ts, failure))
            elif kind == CANCELLED:
                self._set(label, CANCELLED, slurm=ts.state, reason=ts.reason)
                self.emit(UnitEvent(CANCELLED, label, state=ts.state, reason=ts.reason,
                                    message=f"Slurm: {ts.meaning}"))
                if failure is not None:
                    self.seen[failure.path] = failure.mtime
                    self.failures.pop(label, None)
                changed = True
        if to_fail:
            logs = self._log_tails([lbl for lbl, _, _ in to_fail])
            for label, ts, failure in to_fail:
                if failure is not None:
                    error = str(failure.record.get("error") or "failed")
                    tb = str(failure.record.get("traceback") or "")
                elif ts is not None and ts.state == "COMPLETED":
                    error = "the task completed but left no result file (see the log)"
                    tb = ""
                elif ts is not None:
                    error = f"Slurm {ts.state}: {ts.meaning}" + (f" ({ts.reason})" if ts.reason else "") + (
                        f", exit code {ts.exit_code}" if ts.exit_code and ts.exit_code not in ("0:0", "") else "")
                    tb = ""
                else:
                    error = "lost: not known to Slurm any more and no result on the cluster"
                    tb = ""
                if failure is not None and ts is not None and ts.state not in ("FAILED", "COMPLETED"):
                    error += f" [Slurm {ts.state}: {ts.meaning}]"
                if failure is None and logs.get(label):
                    cause = _cause_from_log(logs[label][1])
                    if cause:
                        error += f": {cause}"
                self._fail(label, ts, failure, error, tb, logs.get(label))
            changed = True
        return changed

    def _accounting(self, res, used):
        if not used:
            return
        prev = self.record.get("accounting")
        if res.accounting == "ok":
            if prev in ("failed",):
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: sacct works again"))
                self.reported.discard("sacct-failed")
            self.record["accounting"] = "ok"
        elif res.accounting == "disabled":
            self.use_sacct = False
            self.record["accounting"] = "disabled"
            self._message("sacct-disabled", "Slurm accounting is disabled on this cluster ("
                          f"{res.accounting_error.splitlines()[-1] if res.accounting_error else 'sacct: disabled'}); "
                          "following the run with squeue/scontrol; a task that leaves the queue counts as "
                          "unknown until its done-marker appears")
        elif res.accounting == "failed":
            self.record["accounting"] = "failed"
            self.sacct_skip = 3  # try sacct again every few polls
            self._message("sacct-failed", f"sacct failed ({res.accounting_error.strip().splitlines()[-1] if res.accounting_error.strip() else 'error'}); "
                          "falling back to squeue/scontrol")
        if res.queue_error:
            self._message(("squeue", res.queue_error[:40]), f"squeue failed ({res.queue_error}); using scontrol")

    def _label_of(self, path: str) -> tuple[str | None, str | None]:
        for prefix in ("units/", "tessellations/"):
            if path.startswith(prefix):
                rest = path[len(prefix):]
                for suffix, kind in ((".done.json", "done"), (".failed.json", "failed")):
                    if rest.endswith(suffix):
                        label = rest[: -len(suffix)]
                        if label in self.entries and ".." not in label.split("/"):
                            expected = "tessellations/" if (kind == "done" and self.record["stage"] == "tessellate") \
                                else "units/"
                            return (label, kind) if prefix == expected else (None, None)
        return None, None

    # -- collection ---------------------------------------------------------------------------------
    def _collect(self, done, res) -> bool:
        from ...core.archive import atomic_write
        from ..ssh import SSHError, safe_local_path

        changed = False
        if res.tar is None:
            for path, mtime, label, _ in done:
                n = self.collect_attempts[label] = self.collect_attempts.get(label, 0) + 1
                if n >= 3:
                    self._fail(label, None, None, f"done-marker {path} without its result file on the cluster"
                               + (f" ({res.tar_error})" if res.tar_error else ""), "")
                    self.seen[path] = mtime
                    changed = True
            return changed
        remote_tar = f"{self.record['remote_dir'].rstrip('/')}/{res.tar[0]}"
        self.store.root.mkdir(parents=True, exist_ok=True)
        local_tar = self.store.root / f".incoming-{self.record['run_id']}.tar"
        try:
            self.site.session().get(remote_tar, local_tar)
            with tarfile.open(local_tar, "r:") as tf:
                members = {m.name: m for m in tf.getmembers() if m.isfile()}
                for path, mtime, label, text in done:
                    rel = path[: -len(".done.json")] + ".ntw"
                    try:
                        marker = json.loads(text)
                        expected, size = str(marker["sha256"]), int(marker["size"])
                    except (ValueError, KeyError, TypeError):
                        self._fail(label, None, None, f"unreadable done-marker {path}", text[-500:])
                        self.seen[path] = mtime
                        changed = True
                        continue
                    member = members.get(rel)
                    if member is None:
                        n = self.collect_attempts[label] = self.collect_attempts.get(label, 0) + 1
                        if n >= 3:
                            self._fail(label, None, None, f"result file {rel} missing on the cluster", "")
                            self.seen[path] = mtime
                            changed = True
                        continue
                    try:
                        target = safe_local_path(self.store.root, rel)
                    except SSHError as exc:
                        self._fail(label, None, None, str(exc), "")
                        self.seen[path] = mtime
                        changed = True
                        continue
                    h = hashlib.sha256()
                    n_bytes = 0
                    src = tf.extractfile(member)
                    try:  # verified before it is put in place; a rejected file leaves nothing behind
                        with atomic_write(target) as fh:
                            while chunk := src.read(1 << 20):
                                h.update(chunk)
                                n_bytes += len(chunk)
                                fh.write(chunk)
                            if h.hexdigest() != expected or n_bytes != size:
                                raise _Rejected
                    except _Rejected:
                        self._fail(label, self._ts(label, res), None,
                                   f"checksum mismatch: {rel} on the cluster has sha256 {h.hexdigest()[:16]}… and "
                                   f"{n_bytes} B, its done-marker says {expected[:16]}… and {size} B; the file was "
                                   "rejected", "")
                        self.seen[path] = mtime
                        changed = True
                        continue
                    self.store.write_marker(target, str(marker.get("format") or ""), marker.get("label") or label,
                                            fingerprint=marker.get("fingerprint"))
                    ts = self._ts(label, res)
                    self._set(label, DONE, slurm=ts.state if ts else None, node=ts.node if ts else None)
                    self.emit(UnitEvent(DONE, label, message=f"collected {n_bytes / 1024:.0f} KiB, sha256 verified",
                                        state=ts.state if ts and ts.terminal else None,
                                        where=ts.node if ts else None))
                    self.seen[path] = mtime
                    fail = self.failures.pop(label, None)
                    if fail is not None:
                        self.seen[fail.path] = fail.mtime
                    changed = True
        finally:
            try:
                local_tar.unlink()
            except FileNotFoundError:
                pass
        return changed

    def _ts(self, label, res):
        task = self.task_of.get(label)
        return res.states.get(task) if task else None

    def _log_name(self, label) -> str | None:
        task = self.task_of.get(label)
        if not task:
            return None
        job = self.job_of_task.get(task, {})
        pattern = self.record.get("log_pattern", "logs/{stage}-{job}_{index}.out")
        return pattern.format(stage=job.get("stage", self.record["stage"]), job=task[0], index=task[1])

    def _log_tails(self, labels) -> dict:
        from ..ssh import SSHError

        names = {lbl: self._log_name(lbl) for lbl in labels}
        names = {k: v for k, v in names.items() if v}
        if not names:
            return {}
        try:
            _, out, _ = self.site.session().run(rs.logs_script(run_dir=self.record["remote_dir"],
                                                               logs=sorted(set(names.values()))), check=False)
        except SSHError:
            return {}
        by_name = {}
        current = None
        for line in out.splitlines():
            if line.startswith("@@LOG "):
                current = line[6:]
                by_name[current] = []
            elif line.startswith("@@ENDLOG") or line.startswith("@@END"):
                current = None
            elif current is not None:
                by_name[current].append(line)
        return {lbl: (name, "\n".join(by_name.get(name, []))) for lbl, name in names.items()}

    def _fail(self, label, ts, failure, error, tb, log=None):
        where = None
        if failure is not None:
            where = failure.record.get("where")
        if not where and ts is not None:
            where = ts.node
        text = tb or ""
        if log and log[1].strip():
            text = (text.rstrip() + "\n\n" if text.strip() else "") + f"--- last lines of the Slurm log {log[0]} ---\n" + log[1]
        unit = self.unit_objs[label]
        try:
            self.store.write_failure(unit, error, text, where or "", slurm_state=ts.state if ts else None,
                                     run_id=self.record["run_id"], log=log[0] if log else None)
        except OSError:
            pass
        self._set(label, FAILED, slurm=ts.state if ts else None, reason=ts.reason if ts else None, error=error,
                  log=log[0] if log else None)
        self.emit(UnitEvent(FAILED, label, error=error, traceback=text or None, where=where,
                            state=ts.state if ts else None, reason=ts.reason if ts else None))
        if failure is not None:
            self.seen[failure.path] = failure.mtime
            self.failures.pop(label, None)

    # -- the end -----------------------------------------------------------------------------------
    def _cancel(self, scancelled: tuple[bool, str] | None = None):
        """``scancel`` the run's jobs (unless ``scancelled``, the outcome of a ``cancel_jobs`` already
        done), keep what finished before, mark the rest cancelled."""
        from ..ssh import SSHError

        try:
            cleared, left = scancelled or self.site.cancel_jobs(self.record)
            if not cleared:
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: after scancel, squeue still "
                                    f"shows: {left}"))
            try:
                self.poll_once()  # keep what finished before the cancel
            except SSHError:
                pass
        except SSHError as exc:
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: cancel failed ({exc}); "
                                f"retry with `napari-tramway cancel {self.record['run_id']}`"))
            self.record["status"] = "cancel-failed"
            self._save()
            return
        for label in self.entries:
            if not self.final(label):
                self._set(label, CANCELLED, slurm="CANCELLED")
                self.emit(UnitEvent(CANCELLED, label, state="CANCELLED", message="run cancelled"))
        self.record["cancelled"] = ledger.now()

    def _finish(self):
        from ..ssh import SSHError

        kinds = [self.states.get(lbl, {}).get("kind") for lbl in self.entries]
        if self.cancel.is_set() or self.record.get("cancelled"):
            status = "cancelled"
        elif FAILED in kinds:
            status = "failed"
        elif CANCELLED in kinds:
            status = "cancelled"
        else:
            status = "done"
        self.record["status"] = status
        self.record["finished"] = ledger.now()
        remove = not self.site.keep_remote and not self.record.get("keep_remote") and status in ("done", "cancelled")
        if remove and not self.record.get("remote_removed"):
            try:
                self.site.remove_remote(self.record)
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: removed "
                                    f"{self.record['remote_dir']} on the cluster"))
            except (SSHError, ValueError) as exc:
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: could not remove "
                                    f"{self.record['remote_dir']} ({exc})"))
        elif status == "failed" and self.record.get("remote_gone"):
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: the remote directory "
                                f"{self.record['remote_dir']} was removed on the cluster; results collected before "
                                "stay; start a new run for the others"))
        elif status == "failed":
            n = kinds.count(FAILED)
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: {n} unit(s) failed; the remote "
                                f"directory is kept: `napari-tramway resubmit {self.record['run_id']}` runs them "
                                f"again, `napari-tramway clean {self.record['run_id']}` removes it"))
        self._save()


# ------------------------------------------------------------------------------------------------
# Runs from the ledger: attach, cancel, resubmit, clean
# ------------------------------------------------------------------------------------------------

def site_for_record(record: dict, **options) -> SlurmOverSSH:
    """Re-create the site of a recorded run (callbacks such as ``confirm_host_key`` are passed anew)."""
    from .. import sites

    ref = record.get("site", {})
    opts = dict(ref.get("options", {}))
    opts.update({k: v for k, v in options.items() if v is not None})
    errors = []
    for name in (ref.get("name"), ref.get("file"), ref.get("class")):
        if not name:
            continue
        try:
            env = sites.make_site(name, **opts)
        except Exception as exc:  # try the next way of finding it
            errors.append(f"{name}: {exc}")
            continue
        if isinstance(env, SlurmOverSSH):
            return env
    raise SiteError(f"run {record.get('run_id')}: cannot re-create its site ({'; '.join(errors) or 'no site recorded'})")


_CAUSE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*|FATAL:.*|slurmstepd(?:-[\w.-]+)?: error: .*)$")


def _cause_from_log(tail: str) -> str | None:
    """The last exception line (or container/Slurm fatal error) of a task log's tail."""
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if _CAUSE.match(line):
            return line[:300]
    return None


class _Reattach(Environment):
    """Follow a recorded run as an environment, so that it fits :class:`RunHandle`."""

    name = "attach"

    def __init__(self, site: SlurmOverSSH, record: dict):
        self.site = site
        self.record = record

    def describe(self):
        return f"run {self.record['run_id']} on {self.site.describe()}"

    def detach(self) -> None:
        """Stop following without cancelling (see :meth:`SlurmOverSSH.detach`)."""
        self.site.detach()

    def execute(self, job, emit, cancel):
        self.site._detach.clear()
        try:
            with ledger.lock(self.record["run_id"], "attach"):
                self.record.update(ledger.load(self.record["run_id"]))
                self.site.follow(self.record, emit=emit, cancel=cancel, replay=True)
        finally:
            self.site.close()


def _job_for_record(record) -> RunJob:
    from ...pipeline.store import ResultStore
    from ...pipeline.units import Unit

    units = [Unit.from_dict(e["unit"]) for e in record["units"]]
    return RunJob(spec=None, store=ResultStore(record["local_store"]), units=units, stage=record["stage"],
                  run_id=record["run_id"])


def start_attach(run_id: str, events=None, **options) -> RunHandle:
    """Reattach to a recorded run in a background thread: reconnect, poll, collect; a
    :class:`RunHandle` whose ``cancel()`` cancels the run's jobs."""
    record = ledger.load(run_id)
    return _follow_in_background(site_for_record(record, **options), record, events)


def _follow_in_background(site: SlurmOverSSH, record: dict, events=None) -> RunHandle:
    return RunHandle(_Reattach(site, record), _job_for_record(record), events).start()


def attach(run_id: str, events=None, **options) -> RunSummary:
    """Reattach to a recorded run and block until every unit is final; return the summary.

    Units that finished while nobody watched are collected too. ``options`` are site settings
    (e.g. ``confirm_host_key``, ``ask_secret``, ``poll_interval``).
    """
    handle = start_attach(run_id, events, **options)
    try:
        while handle.wait(0.2) is None:
            pass
    except KeyboardInterrupt:
        raise
    if handle.exception is not None:
        raise handle.exception
    return handle.summary()


def cancel_run(run_id: str, events=None, wait: float = 60.0, **options) -> dict:
    """``scancel`` a recorded run's jobs and wait until ``squeue`` shows none of them.

    If no process follows the run, results that were already done are collected and the remote
    directory is removed (unless the run keeps it); the ledger says ``cancelled``.
    """
    record = ledger.load(run_id)
    site = site_for_record(record, **options)
    emit = events or (lambda ev: None)
    try:
        cleared, left = site.cancel_jobs(record, wait=wait)
        if not ledger.is_locked(record["run_id"]):
            with ledger.lock(record["run_id"], "cancel"):
                record = ledger.load(record["run_id"])
                ev = threading.Event()
                ev.set()
                f = _Follower(site, record, emit, ev)
                f._cancel((cleared, left))
                f._finish()
        else:
            emit(UnitEvent(RUN, None, message=f"{run_id}: cancelled; the process following it collects "
                           "what was done"))
        record["cancel_cleared"] = cleared
        if not cleared:
            record["cancel_left"] = left
        return record
    finally:
        site.close()


def resubmit(run_id: str, labels=None, events=None, wait: bool = True, **options):
    """Run failed (or given) units of a recorded run again: a new array job over only their task
    indices, in the same remote directory. Returns the summary (``wait``) or the handle."""
    record = ledger.load(run_id)
    if record.get("remote_removed"):
        raise SiteError(f"run {run_id}: its remote directory was removed; start a new run instead")
    entries = {e["unit"]["label"]: e for e in record["units"]}
    if labels is None:
        labels = [lbl for lbl, st in record.get("states", {}).items() if st.get("kind") in (FAILED, CANCELLED)]
    labels = list(labels)
    unknown = [lbl for lbl in labels if lbl not in entries]
    if unknown:
        raise SiteError(f"run {run_id}: no unit(s) {', '.join(unknown)}")
    if not labels:
        raise SiteError(f"run {run_id}: no failed unit to resubmit")
    site = site_for_record(record, **options)
    indices = sorted(entries[lbl]["index"] for lbl in labels)
    try:
        with ledger.lock(run_id, "resubmit"):
            record = ledger.load(run_id)
            if record.get("remote_removed"):
                raise SiteError(f"run {run_id}: its remote directory was removed; start a new run instead")
            seq = len(record.get("jobs", [])) + 1
            stage = record["stage"]
            script_name = f"job-{stage}-{seq}.sh"
            array = rs.indices_spec(indices, len(entries), site.worker_count)
            from ..bundle import BundleWriter

            writer = BundleWriter()
            writer.add(script_name, site._job_script(run_id, stage, record["units_file"], array))
            data, _ = writer.pack(f"SHA256SUMS-{seq}")
            # the units' old markers go in the same command: a stale done-marker would be collected
            # (again) before the new task runs
            done_dir = "tessellations/" if stage == "tessellate" else "units/"
            stale = [p for lbl in labels for p in (f"store/units/{lbl}.failed.json", f"store/{done_dir}{lbl}.done.json")]
            job_id, parsed, error = site._upload_and_sbatch(record["remote_dir"], data, seq, script_name,
                                                            remove_first=stale, existing=True)
            if "NORUN" in parsed:  # removed on the cluster (a scratch purge...): say so in the ledger
                record.update(remote_removed=True, remote_gone=ledger.now())
                ledger.save(record)
            if job_id is None:
                raise SiteError(f"run {run_id}: resubmission failed: {error[-300:]}")
            record["jobs"].append({"job_id": job_id, "name": f"ntw-{run_id}", "stage": stage, "indices": indices,
                                   "script": script_name, "submitted": ledger.now(), "array": array})
            for lbl in labels:
                record["states"][lbl] = {"kind": QUEUED, "resubmitted": ledger.now()}
                for suffix in (".failed.json", ".done.json"):
                    for prefix in ("units/", "tessellations/"):
                        record["seen"].pop(prefix + lbl + suffix, None)
            record["status"] = "submitted"
            record.pop("cancelled", None)
            ledger.save(record)
    except BaseException:
        site.close()
        raise
    (events or (lambda ev: None))(UnitEvent(RUN, None, message=f"{run_id}: resubmitted {len(labels)} unit(s) "
                                            f"as array job {job_id} (--array={array})"))
    handle = _follow_in_background(site, record, events)  # on the same connection
    if not wait:
        return handle
    while handle.wait(0.2) is None:
        pass
    if handle.exception is not None:
        raise handle.exception
    return handle.summary()


def clean_run(run_id: str, forget: bool = False, **options) -> dict:
    """Remove a recorded run's remote directory (and, with ``forget``, its ledger entry)."""
    record = ledger.load(run_id)
    if ledger.is_locked(record["run_id"]):
        raise ledger.RunBusy(f"run {run_id} is being followed by another process")
    if not record.get("remote_removed"):
        site = site_for_record(record, **options)
        try:
            site.remove_remote(record)
        finally:
            site.close()
        ledger.save(record)
    if forget:
        ledger.delete(record["run_id"])
    return record


__all__ = ["CheckResult", "Maestro", "SingularitySlurm", "SiteCheckFailed", "SiteError", "SlurmOverSSH",
           "attach", "cancel_run", "clean_run", "resubmit", "site_for_record", "start_attach"]
