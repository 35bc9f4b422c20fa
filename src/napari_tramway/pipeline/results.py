"""The public Python API: build or load a spec, pick an environment, run or start, open results.

>>> from napari_tramway.pipeline import Analysis
>>> a = Analysis.load("analysis.json", store="results/")      # or Analysis(spec, store=...)
>>> summary = a.run(env="local", events=print)               # blocking
>>> handle = a.start(env="inprocess"); handle.cancel(); handle.wait()
>>> maps = a.results().maps("cells/roi000")
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .spec import STAGES, AnalysisSpec
from .store import ResultStore
from .units import Unit, plan_units


def make_environment(env, spec: AnalysisSpec | None = None, options: dict | None = None):
    """An :class:`~napari_tramway.environments.Environment` from an object, a class, a name or the spec.

    Names: ``inprocess``, ``local`` (``local:N`` for N workers), or a site known to
    :mod:`napari_tramway.environments.sites` (presets, entry points, TOML profiles,
    ``module:Class``). ``options`` are the environment's settings; without ``env`` the spec's
    environment and options are used.
    """
    from ..environments import Environment, sites

    if isinstance(env, Environment):
        return env
    options = dict(options or {})
    if env is None:
        if spec is not None:
            env, options = spec.environment.name, {**spec.environment.options, **options}
        else:
            env = "inprocess"
    if isinstance(env, type) and issubclass(env, Environment):
        return env(**options)
    name = str(env)
    if name in ("in-process", "none", ""):
        name = "inprocess"
    return sites.make_site(name, **options)


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

    @classmethod
    def load(cls, path, store=None) -> Analysis:
        return cls(Path(path), store)

    def units(self, refresh: bool = False) -> list[Unit]:
        """Every unit (file × support region × time segment); reads each data file once."""
        if self._units is None or refresh:
            self._units = plan_units(self.spec)
        return list(self._units)

    def status(self) -> dict[str, str]:
        """``label → done | failed | corrupt | stale | missing`` for every unit of the spec."""
        return {u.label: self.store.status(u, self.spec.unit_fingerprint(u)).state for u in self.units()}

    def _job(self, stage, overwrite, units):
        from ..environments import RunJob

        stage = stage or self.spec.stage
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        from .stages import stage_units

        selected = self.units() if units is None else list(units)
        self.store.initialise(self.spec)
        self.store.clean_partial_files()
        return RunJob(spec=self.spec, store=self.store, units=stage_units(stage, selected), stage=stage,
                      overwrite=overwrite)

    def start(self, env=None, events: Callable | None = None, stage: str | None = None, overwrite: bool = False,
              units=None):
        """Start running in a background thread; return a :class:`~napari_tramway.environments.RunHandle`."""
        from ..environments import RunHandle

        environment = make_environment(env, self.spec)
        return RunHandle(environment, self._job(stage, overwrite, units), events).start()

    def run(self, env=None, events: Callable | None = None, stage: str | None = None, overwrite: bool = False,
            units=None):
        """Run and block until every unit is done, failed or cancelled; return the run summary.

        Ctrl-C cancels the run (every worker stopped) and re-raises ``KeyboardInterrupt``.
        """
        handle = self.start(env, events, stage, overwrite, units)
        try:
            while handle.wait(0.2) is None:
                pass
        except KeyboardInterrupt:
            handle.cancel()
            handle.wait()
            raise
        if handle.exception is not None:
            raise handle.exception
        return handle.summary()

    def results(self) -> Results:
        return Results(self.store.root)


class Results:
    """Read access to a result store: list units, load maps (no data files needed)."""

    def __init__(self, root):
        self.store = ResultStore(root)
        self.info = self.store.info()

    def labels(self, state: str = "done") -> list[str]:
        return [s.label for s in self.store.summary(verify=False) if state is None or s.state == state]

    def summary(self, verify: bool = True):
        return self.store.summary(verify=verify)

    def maps(self, label: str):
        """The :class:`~napari_tramway.core.maps.Maps` of a done unit (checksum verified)."""
        maps, _ = self.store.load_unit(label)
        return maps

    def unit(self, label: str):
        """``(maps, metadata)`` of a done unit: the spec, software version, timings, environment."""
        return self.store.load_unit(label)

    def spec(self) -> AnalysisSpec:
        return self.store.spec()


def open_results(root) -> Results:
    """Open a result store directory written by a run."""
    return Results(root)
