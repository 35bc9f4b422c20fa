"""The scripting façade: run an analysis somewhere, follow its events, cancel it, read its results.

A notebook, the ``napari-tramway`` command line and the napari widgets all go through this module:
it is the one room above both the pipeline (what to compute) and the environments (where)::

    from napari_tramway import Analysis

    a = Analysis("analysis.json", store="analysis.results")   # or Analysis(spec, store=...)
    summary = a.run(env="local", events=print)                # blocking; Ctrl-C cancels
    handle = a.start(env="inprocess")                         # in a background thread
    event = handle.events.get()                               # UnitEvent: queued, started, progress, done...
    handle.cancel(); handle.wait(); print(handle.summary().describe())
    maps = a.results().maps("cell1/roi000")
    table = a.summary_table()                                 # one row per finished unit
    print(a.compare("diffusivity", "control", "treated").describe())

While a run goes, the store's summary (``summary.csv``, :mod:`napari_tramway.pipeline.summary`) is
refreshed as units finish, whatever the environment (a cluster's results when they are collected).

Where results go: :func:`writable_directory` checks a results directory before any work (the
command line's ``-o`` and the panel's results directory).

Environments: :func:`make_environment` (the one factory), :func:`list_sites`,
:func:`environment_kinds` (the registry), :func:`check_site`; the worker's container image:
:func:`container_recipe`, :func:`build_container`. Runs recorded on a cluster (they outlive the
process that submitted them): :func:`list_runs`, :func:`run_record`, :func:`start_attach`,
:func:`attach`, :func:`cancel_run`, :func:`resubmit`, :func:`clean_run`.

``stage="tessellate_then_infer"`` runs the meshes of every region first, then the maps on them:
on a cluster, the maps' array job waits for the meshes' (``--dependency=afterok``), so the run
goes on with the laptop closed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .environments.base import RunHandle, RunJob
from .pipeline.events import RunSummary, UnitEvent

if TYPE_CHECKING:
    from .pipeline.results import Results
    from .pipeline.spec import AnalysisSpec
    from .pipeline.units import Unit


class Analysis:
    """An analysis spec bound to a result store.

    Parameters
    ----------
    spec : AnalysisSpec or path
        The spec, or a ``.json``/``.toml`` spec file.
    store : path, optional
        The result store directory (default: ``<spec file stem>.results`` next to the spec file,
        or ``./napari-tramway-results``).
    """

    def __init__(self, spec: AnalysisSpec | str | Path, store: str | Path | None = None):
        from .pipeline.spec import AnalysisSpec
        from .pipeline.store import ResultStore

        spec_path = None
        if not isinstance(spec, AnalysisSpec):
            spec_path = Path(spec)
            spec = AnalysisSpec.load(spec_path)
        self.spec = spec
        self.spec_path = spec_path
        if store is None:
            store = (spec_path.with_suffix("").as_posix() + ".results") if spec_path else "napari-tramway-results"
        self.store = ResultStore(store)
        self._units: list[Unit] | None = None
        self._units_state: list | None = None
        self.summary_error: BaseException | None = None
        """Why the last run's summary could not be written (None when it was)."""

    @classmethod
    def load(cls, path, store=None) -> Analysis:
        return cls(Path(path), store)

    def units(self, refresh: bool = False) -> list[Unit]:
        """Every unit (file × support region × time segment); reads and hashes each data file once,
        and again when it changed (its size or modification time) since."""
        from .pipeline.digests import file_state
        from .pipeline.units import plan_units

        state = [file_state(self.spec.resolve_path(f)) for f in self.spec.files]
        if self._units is None or refresh or state != self._units_state:
            self._units = plan_units(self.spec)
            self._units_state = state
        return list(self._units)

    def status(self) -> dict[str, str]:
        """``label → done | failed | corrupt | stale | missing`` for every unit of the spec."""
        return {u.label: self.store.status(u, self.spec.unit_fingerprint(u)).state for u in self.units()}

    def _job(self, stage, overwrite, units) -> RunJob:
        from .pipeline.spec import STAGES
        from .pipeline.stages import stage_units

        stage = stage or self.spec.stage
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        selected = self.units() if units is None else list(units)
        self.store.initialise(self.spec)
        self.store.clean_partial_files()
        return RunJob(spec=self.spec, store=self.store, units=stage_units(stage, selected), stage=stage,
                      overwrite=overwrite)

    def start(self, env=None, events: Callable[[UnitEvent], None] | None = None, stage: str | None = None,
              overwrite: bool = False, units=None) -> RunHandle:
        """Start running in a background thread; return its handle (``events``, ``cancel()``,
        ``wait()``, ``summary()``, ``results()``).

        ``env``: an environment, a name (``inprocess``, ``local``, ``local:N``, a site) or None for
        the spec's (see :func:`make_environment`). ``events`` is called with each
        :class:`~napari_tramway.pipeline.events.UnitEvent`, from the run's thread.
        """
        environment = make_environment(env, spec=self.spec)
        job = self._job(stage, overwrite, units)
        callback, follower = _with_summary(self.store, self.spec, events)
        return _followed(RunHandle(environment, job, callback).start(), follower)

    def run(self, env=None, events: Callable[[UnitEvent], None] | None = None, stage: str | None = None,
            overwrite: bool = False, units=None) -> RunSummary:
        """Run and block until every unit is done, failed or cancelled; return the run summary.

        Ctrl-C cancels the run (every worker stopped) and re-raises ``KeyboardInterrupt``; a run
        that could not go on (a site that cannot be reached...) raises its error.
        """
        handle = self.start(env, events, stage, overwrite, units)
        try:
            return _wait(handle, cancel_on_interrupt=True)
        finally:
            self.summary_error = handle.summary_follower.error

    def results(self) -> Results:
        """What the store holds: :class:`~napari_tramway.pipeline.Results` (labels, maps, metadata)."""
        from .pipeline.results import Results

        return Results(self.store.root)

    # -- the summary and comparisons ---------------------------------------------------------------
    def summary_table(self, write: bool = True):
        """The summary (one row per finished unit: labels, counts, weighted statistics of each map
        quantity, settings; :mod:`napari_tramway.pipeline.summary`), with this spec's labels;
        ``write``: also refresh ``summary.csv`` (and ``.parquet``) in the store."""
        from .pipeline import summary

        return summary.refresh_summary(self.store, self.spec) if write else summary.summary_table(self.store, self.spec)

    def cell_values(self):
        """Per-cell values (labels, unit, file, cell, translocations ``n``, each quantity) of every finished unit."""
        from .pipeline.summary import cell_values

        return cell_values(self.store, self.spec)

    def compare(self, quantity: str = "diffusivity", reference: str | None = None, other: str | None = None, **options):
        """Compare two conditions (values of the label ``by``, default ``condition``) with a bootstrap
        interval over files; see :func:`napari_tramway.pipeline.compare.compare`."""
        from .pipeline import compare, summary

        data = self.summary_table(write=False) if compare.quantity_of(quantity) is summary.DEPTH else self.cell_values()
        return compare.compare(data, quantity, reference, other, **options)


def _wait(handle: RunHandle, cancel_on_interrupt: bool) -> RunSummary:
    try:
        while handle.wait(0.2) is None:
            pass
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            handle.cancel()
            handle.wait()
        raise
    finally:
        follower = getattr(handle, "summary_follower", None)
        if follower is not None and not handle.running:
            follower.wait()  # the last refresh of the summary, after the last unit
    if handle.exception is not None:
        raise handle.exception
    return handle.summary()


def _with_summary(store, spec, events):
    """An event callback that also refreshes the store's summary as units finish (and ``events``)."""
    from .pipeline.summary import SummaryFollower

    follower = SummaryFollower(store, spec)

    def callback(event):
        follower(event)
        if events is not None:
            events(event)

    return callback, follower


def _followed(handle: RunHandle, follower) -> RunHandle:
    handle.summary_follower = follower
    follower.follow(lambda: handle.running)
    return handle


def _store_of_record(run_id: str):
    from .pipeline.store import ResultStore

    store = run_record(run_id).get("local_store")
    return ResultStore(store) if store and ResultStore(store).exists() else None


# -- where results go --------------------------------------------------------------------------

class OutputDirectoryError(ValueError):
    """A directory results cannot be written in (a file, a folder under ``/proc``, a read-only
    folder); the message names it and the cause, in one line."""


def writable_directory(path, what: str = "the results directory") -> Path:
    """``path`` as a directory this process can write in (created if missing), checked before
    anything is computed; else :class:`OutputDirectoryError` naming ``what``, the path and the
    cause (``the results directory /bin/ls: it is a file, not a directory``)."""
    import os
    import tempfile

    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputDirectoryError(f"{what} {path}: it is a file, not a directory") from None
    except NotADirectoryError:
        raise OutputDirectoryError(f"{what} {path}: {_file_above(path)} is a file, not a directory") from None
    except OSError as exc:
        raise OutputDirectoryError(f"{what} {path}: cannot create this directory ({_cause(exc)})") from None
    if not path.is_dir():
        raise OutputDirectoryError(f"{what} {path}: not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ntw-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputDirectoryError(f"{what} {path}: cannot write in this directory ({_cause(exc)})") from None
    return path


def _file_above(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            return parent
    return path


def _cause(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


# -- environments -----------------------------------------------------------------------------

def make_environment(env=None, options: dict | None = None, *, spec: AnalysisSpec | None = None,
                     confirm_host_key=None, ask_secret=None):
    """The environment ``env`` (an object, a class, a name, or None for the spec's) with its
    settings ``options``, checked against the environment registry; see
    :func:`napari_tramway.environments.sites.make_environment`."""
    from .environments.sites import make_environment as make

    return make(env, options, spec=spec, confirm_host_key=confirm_host_key, ask_secret=ask_secret)


def environment_kinds():
    """The environment registry: every kind (``inprocess``, ``local``, the Slurm presets) with
    its settings as :class:`~napari_tramway.core.parameters.Parameter` s."""
    from .environments.registry import ENVIRONMENTS

    return ENVIRONMENTS


def environment_kind(name: str):
    """The registry entry whose settings the environment ``name`` takes (a profile or your own
    adapter takes those of the kind it derives from); None if the registry does not describe it.
    Raises :class:`~napari_tramway.environments.sites.SiteNotFound` for an unknown name."""
    from .environments import registry, sites

    name = str(name).strip()
    return registry.kind_of(sites.site_class("inprocess" if name in registry.INPROCESS_ALIASES else name))


def list_sites() -> list[tuple[str, str, str]]:
    """``(name, kind, description)`` of every environment: registry kinds, entry points, profiles."""
    from .environments.sites import list_sites as sites

    return sites()


def site_sources() -> tuple[Path, str]:
    """Where sites come from besides the registry: the TOML profiles file and the entry-point group."""
    from .environments import sites

    return sites.profiles_path(), sites.ENTRY_POINT_GROUP


def set_default_callbacks(confirm_host_key=None, ask_secret=None) -> None:
    """Host-key confirmation and secret prompts for every site made without its own (the CLI's
    terminal prompts); see :func:`napari_tramway.environments.sites.set_default_callbacks`."""
    from .environments.sites import set_default_callbacks as set_callbacks

    set_callbacks(confirm_host_key, ask_secret)


def check_site(env) -> list | None:
    """Run a site's pre-flight checks (one remote command) and close its connection; the
    :class:`~napari_tramway.environments.slurm.CheckResult` list, or None for an environment that
    runs on this computer (nothing to check). ``env``: an environment or a name."""
    env = make_environment(env)
    if not env.remote:
        return None
    try:
        return env.check()
    finally:
        env.close()


def container_recipe(wheel: str | None = None, base: str | None = None) -> str:
    """The Apptainer/Singularity definition file of the worker's image for this version of
    napari-tramway: installing ``wheel`` (a file name next to it) or, without one, the released
    version from PyPI; ``base``: the base image (default: Debian's slim Python of this computer)."""
    from .environments.container import recipe

    return recipe(wheel, base)


def build_container(directory="napari-tramway-container", wheel=None, from_pypi: bool = False,
                    base: str | None = None, run: bool = True):
    """Write the worker's wheel and definition file into ``directory`` and build the image with
    apptainer/singularity when installed (``run``); a
    :class:`~napari_tramway.environments.container.ContainerBuild` with the commands that build it
    on another machine. ``wheel``: this version's wheel; ``from_pypi``: the released version;
    otherwise the wheel is built from the source checkout."""
    from .environments.container import build

    return build(directory, wheel=wheel, from_pypi=from_pypi, base=base, run=run)


# -- runs recorded in the ledger (cluster runs) -------------------------------------------------

def list_runs(active: bool = False) -> list[dict]:
    """The remote runs of the ledger, oldest first; ``active``: only those not finished, or whose
    remote directory is kept."""
    from .environments import ledger

    runs = ledger.list_runs()
    if active:
        runs = [r for r in runs if r.get("status") not in ("done", "cancelled") or not r.get("remote_removed", True)]
    return runs


def run_record(run_id: str) -> dict:
    """The ledger's record of a run (a unique prefix of its id is enough); raises
    :class:`~napari_tramway.environments.ledger.LedgerError` naming the ledger when there is none."""
    from .environments import ledger

    return ledger.load(run_id)


def run_unit_labels(record: dict) -> list[str]:
    """The labels of a recorded run's units (not the meshes of a chained run)."""
    from .environments import ledger

    return [k for k in record.get("states", {}) if not k.startswith(ledger.MESH)]


def run_states_text(record: dict) -> str:
    """``3 done, 1 failed``: the states of a recorded run's units."""
    from .environments import ledger

    return ledger.summary_text(record)


def runs_dir() -> Path:
    """The ledger's directory."""
    from .environments import ledger

    return ledger.runs_dir()


def start_attach(run_id: str, events: Callable[[UnitEvent], None] | None = None, **site_options) -> RunHandle:
    """Reattach to a recorded run in a background thread (reconnect, collect what finished, follow
    the rest); its handle's ``cancel()`` cancels the run's jobs, ``env.detach()`` only stops
    following. ``site_options``: settings and callbacks (``confirm_host_key``, ``ask_secret``)."""
    from .environments.slurm import runs

    store = _store_of_record(run_id)
    if store is None:
        return runs.start_attach(run_id, events, **site_options)
    callback, follower = _with_summary(store, None, events)
    return _followed(runs.start_attach(run_id, callback, **site_options), follower)


def attach(run_id: str, events: Callable[[UnitEvent], None] | None = None, **site_options) -> RunSummary:
    """Reattach to a recorded run and block until every unit is final; return the summary
    (Ctrl-C only detaches: the jobs go on)."""
    return _wait(start_attach(run_id, events, **site_options), cancel_on_interrupt=False)


def cancel_run(run_id: str, events: Callable[[UnitEvent], None] | None = None, wait: float = 60.0,
               **site_options) -> dict:
    """``scancel`` a recorded run's jobs and wait (``wait`` s at most) until the queue shows none;
    results already collected stay. Returns the record (``cancel_cleared``, ``cancel_left``)."""
    from .environments.slurm import runs

    return runs.cancel_run(run_id, events, wait, **site_options)


def resubmit(run_id: str, labels=None, events: Callable[[UnitEvent], None] | None = None, wait: bool = True,
             **site_options):
    """Run a recorded run's failed units (or ``labels``) again, in its remote directory; the
    summary (``wait``) or the handle."""
    from .environments.slurm import runs

    store = _store_of_record(run_id)
    if store is None:
        return runs.resubmit(run_id, labels, events, wait, **site_options)
    callback, follower = _with_summary(store, None, events)
    handle = _followed(runs.resubmit(run_id, labels, callback, False, **site_options), follower)
    return _wait(handle, cancel_on_interrupt=False) if wait else handle


def clean_run(run_id: str, forget: bool = False, **site_options) -> dict:
    """Remove a recorded run's remote directory (and, with ``forget``, its ledger record)."""
    from .environments.slurm import runs

    return runs.clean_run(run_id, forget, **site_options)


def __getattr__(name):  # the pipeline's result readers, imported when first used
    if name in ("Results", "open_results"):
        from .pipeline import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Analysis", "OutputDirectoryError", "RunHandle", "RunSummary", "UnitEvent", "attach", "build_container",
           "cancel_run", "check_site", "clean_run", "container_recipe", "environment_kind", "environment_kinds",
           "list_runs", "list_sites", "make_environment", "resubmit", "run_record", "run_states_text",
           "run_unit_labels", "runs_dir",
           "set_default_callbacks", "site_sources", "start_attach", "writable_directory"]
