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
from dataclasses import dataclass

from ..pipeline.events import CANCELLED, FAILED, FINAL, QUEUED, RUN, SKIPPED, RunSummary, UnitEvent


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


def skip_done(job: RunJob, emit, fingerprint=None) -> list:
    """Emit ``skipped`` for units already done with the same settings; return the units to run.

    Each unit is compared with its own :meth:`AnalysisSpec.unit_fingerprint` (mesh, model, time
    windows, its file's metadata and its region's ROIs); ``fingerprint`` is ignored (it was the
    spec-wide one). With ``job.overwrite`` every unit is cleared and run again.
    """
    todo = []
    store, spec = job.store, job.spec
    for unit in job.units:
        if job.overwrite:
            store.clear(unit)
            todo.append(unit)
            continue
        if job.stage == "tessellate":
            st = store.status(unit, spec.unit_fingerprint(unit, "mesh"), path=store.tessellation_path(unit))
            reason = "mesh already computed"
        else:
            st = store.status(unit, spec.unit_fingerprint(unit))
            reason = "already done"
        if st.state == "done":
            emit(UnitEvent(SKIPPED, unit.label, message=reason))
        else:
            todo.append(unit)
    return todo
