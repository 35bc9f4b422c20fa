"""The interface every execution environment implements, and the run handle users hold.

An environment decides *where* units run and reports :class:`UnitEvent` s; it never computes maps
itself: every environment runs :func:`napari_tramway.pipeline.stages.run_unit`, in this process or
through the unit worker (``python -m napari_tramway.pipeline.worker``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..pipeline.events import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    QUEUED,
    RUN,
    SKIPPED,
    RunSummary,
    UnitEvent,
)


@dataclass
class RunJob:
    """What an environment is asked to do: run ``units`` of ``stage`` from ``spec`` into ``store``."""

    spec: object
    store: object
    units: list
    stage: str
    overwrite: bool = False
    run_id: str | None = None


class Environment:
    """Base class of environments. Subclasses implement :meth:`execute`."""

    name = "environment"
    remote = False
    """Whether units run on another computer (a cluster site: it can be checked, its runs are
    recorded in the ledger and can be reattached)."""

    def execute(self, job: RunJob, emit: Callable[[UnitEvent], None], cancel: threading.Event) -> None:
        """Run every unit of ``job``, calling ``emit`` for each event, until done or ``cancel`` is set.

        Must return only when nothing it started is still running.
        """
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class RunHandle:
    """A run in a background thread: ``events`` (a queue of :class:`UnitEvent`), :meth:`cancel`,
    :meth:`wait`, :meth:`summary`, :meth:`results`.

    Events are also passed to the ``callback`` given to :meth:`napari_tramway.Analysis.start`, from
    the run's thread (GUI code must hop to its own thread).
    """

    def __init__(self, env: Environment, job: RunJob, callback: Callable[[UnitEvent], None] | None = None):
        self.env = env
        self.job = job
        self.events: queue.Queue[UnitEvent] = queue.Queue()
        self._callback = callback
        self._cancel = threading.Event()
        self._states: dict[str, str] = {u.label: QUEUED for u in job.units}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._started = time.time()
        self._elapsed = 0.0
        self.exception: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"napari-tramway run ({env.name})", daemon=True)

    def start(self) -> RunHandle:
        self._thread.start()
        return self

    def _emit(self, event: UnitEvent) -> None:
        with self._lock:
            if event.unit is not None:
                prev = self._states.get(event.unit)
                if prev in FINAL and event.kind not in FINAL:
                    return  # late progress after a final state
                if event.kind in FINAL or event.kind in ("queued", "pending", "started"):
                    self._states[event.unit] = event.kind
                elif event.kind == "progress" and prev in ("queued", "pending"):
                    self._states[event.unit] = "started"
                if event.kind == FAILED:
                    self._errors[event.unit] = event.error or event.message
        self.events.put(event)
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:  # a broken callback must not kill the run
                pass

    def _main(self) -> None:
        try:
            self.env.execute(self.job, self._emit, self._cancel)
        except BaseException as exc:  # reported as a run-level failure
            import traceback

            self.exception = exc
            # a site, SSH, ledger or settings error says what to fix in its message; others name their type
            text = str(exc) if isinstance(exc, (RuntimeError, ValueError, OSError)) and str(exc) else \
                f"{type(exc).__name__}: {exc}"
            self._emit(UnitEvent(RUN, None, message="failed", error=text, traceback=traceback.format_exc()))
        finally:
            if self._cancel.is_set():
                for label, state in list(self._states.items()):
                    if state not in FINAL:
                        self._emit(UnitEvent(CANCELLED, label, message="run cancelled"))
            self._elapsed = time.time() - self._started

    def cancel(self) -> None:
        """Ask the run to stop; units in flight are stopped, finished units are kept."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> RunSummary | None:
        """Block until the run ends (or ``timeout`` s); return its summary, or None on timeout."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        return self.summary()

    def results(self):
        """The run's results so far (:class:`~napari_tramway.pipeline.Results`: labels, maps)."""
        from ..pipeline.results import Results

        return Results(self.job.store.root)

    def summary(self) -> RunSummary:
        with self._lock:
            elapsed = self._elapsed or (time.time() - self._started)
            return RunSummary(dict(self._states), dict(self._errors), self._cancel.is_set(), self.job.run_id, elapsed)


def unit_status(job: RunJob, unit, stage: str | None = None):
    """What the store holds for ``unit`` in ``stage`` (default: the job's): its mesh for
    ``tessellate``, its result otherwise, compared with the unit's own fingerprint (settings,
    ROIs, file metadata and the content of its data file)."""
    store, spec = job.store, job.spec
    if (stage or job.stage) == "tessellate":
        return store.status(unit, spec.unit_fingerprint(unit, "mesh"), path=store.tessellation_path(unit))
    return store.status(unit, spec.unit_fingerprint(unit))


def skip_done(job: RunJob, emit, fingerprint=None) -> list:
    """Emit ``skipped`` for units already done with the same settings; return the units to run.

    Each unit is compared with its own :meth:`AnalysisSpec.unit_fingerprint` (mesh, model, time
    windows, its file's metadata, its region's ROIs and its data file's content); ``fingerprint``
    is ignored (it was the spec-wide one). Stale units are run again and said so, in one message
    per cause ("3 units stale: input cell1.txt changed since the run of ..."). With
    ``job.overwrite`` every unit is cleared and run again.
    """
    todo, stale = [], []
    for unit in job.units:
        if job.overwrite:
            job.store.clear(unit)
            todo.append(unit)
            continue
        st = unit_status(job, unit)
        if st.state == "done":
            emit(UnitEvent(SKIPPED, unit.label, message="mesh already computed" if job.stage == "tessellate"
                           else "already done"))
            continue
        if st.state == "stale":
            stale.append((unit, st))
        todo.append(unit)
    for message in stale_messages(job, stale):
        emit(UnitEvent(RUN, None, message=message))
    return todo


def stale_messages(job: RunJob, stale: list) -> list[str]:
    """One line per cause of staleness: a changed data file (named, with the time of the run the
    results came from), or other settings."""
    what = "mesh(es)" if job.stage == "tessellate" else "unit(s)"
    by_file: dict[int, list] = {}
    settings = 0
    for unit, st in stale:
        if st.detail.startswith("input changed"):
            by_file.setdefault(unit.file_index, []).append((st.meta or {}).get("written", "?"))
        else:
            settings += 1
    out = []
    for index, times in sorted(by_file.items()):
        name = Path(job.spec.files[index].path).name
        out.append(f"{len(times)} {what} stale: input {name} changed since the run of {max(times)}; "
                   "computing them again")
    if settings:
        out.append(f"{settings} {what} stale: computed with other settings (mesh, model, ROI or file "
                   "metadata); computing them again")
    return out


def run_stages(job: RunJob, emit, cancel: threading.Event, run_stage) -> None:
    """Run ``job`` stage after stage: a single stage directly, a chain (``tessellate_then_infer``)
    as the meshes of the regions its units need, then the units on them.

    ``run_stage(job, emit, cancel)`` runs one stage's units (skipping those done). In a chain the
    mesh stage is reported as run-level messages (the run's units are the last stage's); a unit
    whose region's mesh failed fails with that mesh's error, without running.
    """
    from ..pipeline.stages import stage_chain, stage_units

    stages = stage_chain(job.stage)
    if len(stages) == 1:
        run_stage(job, emit, cancel)
        return
    final = replace(job, stage=stages[-1])
    for u in job.units:
        emit(UnitEvent(QUEUED, u.label))
    todo = skip_done(final, emit)
    if not todo:
        return
    meshes = replace(job, stage=stages[0], units=stage_units(stages[0], todo))
    failed: dict[str, UnitEvent] = {}
    run_stage(meshes, MeshStageEvents(emit, failed), cancel)
    for u in todo:
        ev = failed.get(u.region_key)
        if ev is not None and ev.kind == CANCELLED:
            emit(UnitEvent(CANCELLED, u.label, message="run cancelled before the mesh of its region was computed"))
        elif ev is not None:
            emit(UnitEvent(FAILED, u.label, error=f"not computed: the mesh of its region {u.region_key} failed: "
                           f"{ev.error or ev.message}", traceback=ev.traceback, where=ev.where))
    rest = [u for u in todo if u.region_key not in failed]
    if cancel.is_set():
        for u in rest:
            emit(UnitEvent(CANCELLED, u.label, message="run cancelled before this unit started"))
        return
    if rest:
        run_stage(replace(final, units=rest, overwrite=False), emit, cancel)


class MeshStageEvents:
    """The events of a chain's mesh stage, passed on as run-level messages (``mesh cell0/roi000:
    done``); failed and cancelled meshes are remembered by region, for the units that need them."""

    def __init__(self, emit, failed: dict):
        self.emit = emit
        self.failed = failed

    def __call__(self, ev: UnitEvent) -> None:
        if ev.unit is None:
            self.emit(ev)
            return
        if ev.kind in (FAILED, CANCELLED):
            self.failed[ev.unit] = ev
        if ev.kind in (DONE, SKIPPED, FAILED, CANCELLED):
            text = ev.message or ev.error or ""
            self.emit(UnitEvent(RUN, None, message=f"mesh {ev.unit}: {ev.kind}" + (f" ({text})" if text else ""),
                                error=None))
