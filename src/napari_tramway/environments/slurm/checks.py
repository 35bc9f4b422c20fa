"""Pre-flight checks of a site, in ONE remote command, and the errors a site reports.

:class:`PreflightChecks` is a part of :class:`~.site.SlurmOverSSH`: ``check()`` lists what works
and what is missing (the ``napari-tramway check-site`` lines), ``_preflight()`` stops a run before
anything is submitted when a check fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._version import __version__
from ...pipeline.events import RUN, UnitEvent
from ...pipeline.requirements import WORKER_PACKAGES
from . import commands as rs
from . import states
from .arrays import array_limit


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
        "python": "Python with " + ", ".join(WORKER_PACKAGES),
        "container-version": "napari-tramway in the container",
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
        if len(failed) == 1:  # one line, with the site's own message
            r = failed[0]
            first = " ".join(r.message.strip().split("\n")[:1])
            super().__init__(f"site {site}: pre-flight check failed, nothing was submitted: ✗ {r.title} ({r.name}): "
                             f"{first}")
            return
        lines = [f"site {site}: {len(failed)} pre-flight check(s) failed, nothing was submitted:"]
        for r in failed:
            lines.append(f"  ✗ {r.title} ({r.name}): {r.message.strip()}")
        super().__init__("\n".join(lines))


class SiteUnreachable(SiteCheckFailed):
    """The site could not be connected to (host, port and cause in the one-line message)."""

    def __init__(self, site: str, results: list[CheckResult]):
        super().__init__(site, results)
        failed = next(r for r in results if r.ok is False)
        cause = " ".join(failed.message.split())
        RuntimeError.__init__(self, f"site {site}: {cause}; nothing was submitted")


class PreflightChecks:
    """The pre-flight checks of a site (mixed into :class:`~.site.SlurmOverSSH`)."""

    def check(self, worker_sha256: str | None = None) -> list[CheckResult]:
        """Every pre-flight check, in ONE remote command: the dependencies line, Slurm (and that
        ``sbatch --test-only`` accepts the site's sbatch options: partition, account, qos, time...),
        the container executable and image, the (container's) Python with the worker's packages,
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
        for name, args, lines in states.sections(out):
            if name == "CHECK":
                check, _, status = args.partition(" ")
                ok = {"ok": True, "fail": False}.get(status.strip())
                msg = "\n".join(ln for ln in lines if ln.strip())
                if check == "container-image" and self.uses_container and not self._container():
                    msg = ("no container image configured: pass container=... or define default_container()")
                if check == "slurm" and ok is False and len(msg.split("\n")) > 1:
                    head, _, rest = msg.partition("\n")  # the site's own reason on the first line
                    msg = f"{head.rstrip(':')}: {states.sbatch_error(rest)}\n{rest}"
                if check == "python":
                    msg, found = _version_line(msg)
                    results.append(CheckResult(check, ok, msg))
                    if self.uses_container and ok:
                        results.append(_container_version(found))
                    continue
                results.append(CheckResult(check, ok, msg))
            elif name == "SLURMCONFIG":
                info["slurm_config"] = lines
                info["max_array_size"] = array_limit(lines)
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

    def _preflight(self, emit, worker_sha256: str | None = None) -> dict:
        if not self.preflight:
            return {}
        results = self.check(worker_sha256)
        failed = [r for r in results if r.ok is False]
        if failed and failed[0].name == "connection":
            raise SiteUnreachable(self.site_name or type(self).__name__, results)
        if failed:
            raise SiteCheckFailed(self.site_name or type(self).__name__, results)
        emit(UnitEvent(RUN, None, message="site checks passed: " + "; ".join(
            f"{r.name} ✓" for r in results)))
        return dict(self._check_info)


def _version_line(message: str) -> tuple[str, str | None]:
    """The python check's message without its ``napari-tramway VERSION|none`` line, and that version
    (None when there is none, ``broken ...`` when importing it failed)."""
    kept, found = [], None
    for line in message.split("\n"):
        if line.startswith("napari-tramway "):
            found = line[len("napari-tramway "):].strip()
        else:
            kept.append(line)
    return "\n".join(kept), (None if found in (None, "none") else found)


def _container_version(found: str | None) -> CheckResult:
    """Whether the container runs the version of napari-tramway this computer runs; how to fix it."""
    fix = (f"rebuild the image for napari-tramway {__version__}: `napari-tramway container build` (see "
           "docs/clusters.md), copy the .sif to the cluster and point the site's container= to it")
    if found is None:
        return CheckResult("container-version", True,
                           f"no napari-tramway in the image (a plain Python image): each run uploads the worker "
                           f"code of napari-tramway {__version__}; `napari-tramway container build` makes an image "
                           "with it and its packages pinned")
    if found.startswith("broken"):
        return CheckResult("container-version", False, f"importing napari-tramway in the image fails ({found[7:]}); {fix}")
    if found != __version__:
        return CheckResult("container-version", False,
                           f"the image has napari-tramway {found}, this computer runs {__version__}: {fix}")
    return CheckResult("container-version", True, f"napari-tramway {found}, as on this computer")
