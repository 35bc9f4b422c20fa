"""Runs: start the analysis, follow every unit, cancel, and watch the maps appear as layers.

A run is a napari ``thread_worker`` generator (:func:`run_generator`): it plans the units
(reading the files), starts :meth:`Analysis.start` in the chosen environment, and relays the
environment's events; when a unit is done it loads the unit's maps from the result store and
builds their layer data (rasterisation included) in the worker thread, so the GUI thread only
adds layers and updates a table. Cancel asks the run to stop (in-process fits stop at their next
iteration, local workers are killed, Slurm jobs are ``scancel``-ed); finished units are kept.
Closing the panel or its viewer cancels a run in this process or in local processes, and
detaches from a cluster run (its jobs go on; Reattach… follows it again later).
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .common import LayerFeeder, if_alive, notify_error, notify_info, notify_warning

STATE_COLOURS = {
    "queued": "#a0a0a0", "pending": "#d0b060", "started": "#60a0e0", "running": "#60a0e0", "done": "#60c060",
    "skipped": "#60c060", "failed": "#e06060", "cancelled": "#c08040",
}
MAX_FAILURE_NOTIFICATIONS = 3
#: Python's thread switch interval while a run is followed (s). Units running in this process hold
#: the GIL between their numpy calls; the GUI thread, which releases it in every Qt call, would
#: otherwise wait up to 5 ms (Python's default) to get it back each time.
RUN_SWITCH_INTERVAL = 0.0005


_SWITCH_LOCK = threading.Lock()
_SWITCH = {"followers": 0, "saved": None}


def _hold_switch_interval() -> None:
    """Lower Python's switch interval while at least one run is followed (any viewer)."""
    import sys

    with _SWITCH_LOCK:
        if _SWITCH["followers"] == 0:
            _SWITCH["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_SWITCH["saved"], RUN_SWITCH_INTERVAL))
        _SWITCH["followers"] += 1


def _release_switch_interval() -> None:
    import sys

    with _SWITCH_LOCK:
        _SWITCH["followers"] -= 1
        if _SWITCH["followers"] == 0:
            sys.setswitchinterval(_SWITCH["saved"])


def default_store_dir() -> Path:
    return Path.home() / "napari-tramway-results" / time.strftime("%Y%m%d-%H%M%S")


def run_generator(analysis, make_env, image_grid, *, overwrite: bool = False, cancel: threading.Event,
                  handle_box: list, log_diffusivity: bool = True, attach=None):
    """The run, as a generator of messages for the GUI thread (runs in a napari worker thread).

    Messages: ``("status", text)``, ``("units", [Unit])``, ``("event", UnitEvent)``,
    ``("layers", unit label, [layer data])``, ``("error", unit label, text)``, ``("summary", RunSummary,
    exception)``. ``handle_box`` receives the :class:`RunHandle` as soon as it exists (for Cancel).
    ``attach``: a function returning a handle of a run started earlier (reattach), instead of starting.
    """
    from .._layers import MapCollection, collection_key

    if attach is None:
        yield ("status", "reading the data and planning the units…")
        units = analysis.units()
        yield ("units", units)
        if cancel.is_set():
            yield ("status", "cancelled before starting")
            return
        yield ("status", "starting…")
        env = make_env()
        if cancel.is_set():
            yield ("status", "cancelled before starting")
            return
        handle = analysis.start(env=env, overwrite=overwrite, units=units)
    else:
        handle = attach()
        units = list(getattr(handle.job, "units", []) or [])
        yield ("units", units)
    handle_box.append(handle)
    if cancel.is_set():
        handle.cancel()
    yield ("status", f"running on {handle.env.describe()}")
    segments: dict[str, list] = {}
    for u in units:
        if u.segment is not None:
            segments.setdefault(u.region_key, []).append((u.segment_index, u.segment))
    seg_lists = {k: [s for _, s in sorted(v)] for k, v in segments.items()}
    collections: dict[str, MapCollection] = {}
    results = None
    store_root = str(analysis.store.root)
    last_yield = time.monotonic()
    while True:
        try:
            event = handle.events.get(timeout=0.05)
        except queue.Empty:
            if not handle.running and handle.events.empty():
                break
            if time.monotonic() - last_yield > 0.5:  # lets worker.quit() act
                last_yield = time.monotonic()
                yield ("tick", None)
            continue
        last_yield = time.monotonic()
        yield ("event", event)
        if event.unit is None or event.kind not in ("done", "skipped") or handle.job.stage == "tessellate":
            continue
        try:
            if results is None:
                results = analysis.results()
            maps, meta = results.unit(event.unit)
            key, window = collection_key(event.unit, meta)
            if key not in collections:
                collections[key] = MapCollection(key, seg_lists.get(key) if window is not None else None,
                                                 image_grid, store_root, log_diffusivity)
            t0 = time.perf_counter()
            layers = collections[key].add(window, event.unit, maps, meta)
            yield ("layers", event.unit, layers, time.perf_counter() - t0)
        except Exception as exc:  # a unit that cannot be shown must not stop the run
            yield ("error", event.unit, f"{type(exc).__name__}: {exc}")
    yield ("summary", handle.summary(), handle.exception)


class RunsPanel(QWidget):
    """Run / Cancel, the units' states, results directory, reattach and open results."""

    run_finished = Signal(object)
    layers_added = Signal(str, list)
    unit_event = Signal(object)
    """Every event of the run (a :class:`~napari_tramway.pipeline.events.UnitEvent`), in the GUI thread."""

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self.worker = None
        self.handle = None
        self.analysis = None
        self.summary = None
        self._cancel = threading.Event()
        self._rows: dict[str, int] = {}
        self._progress = None
        self._failures = 0
        self._open_worker = None
        self.layer_times: list[tuple[str, float, float]] = []
        """(unit, seconds to build its layer data in the worker, seconds from their arrival to on screen)."""
        self.feeder = LayerFeeder(viewer, self)
        self.feeder.idle.connect(self._on_layers_shown)
        self._arrivals: list[tuple[str, float, float]] = []
        self._switch_held = False
        self._tracks_hidden = False
        # the viewer (or this panel) closed while a run goes: closeEvent is not called then, but
        # the panel is destroyed (the callback touches Python state only, no Qt object)
        self.destroyed.connect(lambda *_: self.shutdown())
        layout = QVBoxLayout(self)

        box = QGroupBox("Results directory")
        bl = QHBoxLayout(box)
        self.store_edit = QLineEdit()
        self.store_edit.setPlaceholderText(str(default_store_dir().parent / "<date-time>"))
        self.store_edit.setToolTip("Where each unit's result is written (a result store: reopen it with "
                                   "'Open results…', or from the command line)")
        bl.addWidget(self.store_edit, 1)
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_store)
        bl.addWidget(browse)
        layout.addWidget(box)

        row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run every unit (file × region × time window) where the Environment tab says")
        self.run_button.setStyleSheet("font-weight: bold;")
        self.run_button.clicked.connect(self._on_run_clicked)
        row.addWidget(self.run_button, 1)
        self.overwrite = QCheckBox("recompute done units")
        self.overwrite.setToolTip("Units already in the results directory with these settings are skipped unless ticked")
        row.addWidget(self.overwrite)
        layout.addLayout(row)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["unit", "state", "details"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.open_button = QPushButton("Open results…")
        self.open_button.setToolTip("Show the maps of a results directory (from this or an earlier session, or the CLI)")
        self.open_button.clicked.connect(self._open_dialog)
        row.addWidget(self.open_button)
        self.reattach_button = QPushButton("Reattach…")
        self.reattach_button.setToolTip("Follow a cluster run started in an earlier session, and collect its results")
        self.reattach_button.clicked.connect(self._reattach_dialog)
        self.reattach_button.setEnabled(_ledger_available())
        row.addWidget(self.reattach_button)
        layout.addLayout(row)

    # -- helpers ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def store_dir(self) -> Path:
        text = self.store_edit.text().strip()
        if not text:
            path = default_store_dir()
            self.store_edit.setText(str(path))
            return path
        return Path(text).expanduser()

    def _browse_store(self):
        path = QFileDialog.getExistingDirectory(self, "Results directory")
        if path:
            self.store_edit.setText(path)

    def image_grid(self):
        if self.main is not None and getattr(self.main, "data", None) is not None:
            return self.main.data.image_grid()
        from .._reader import image_grid_of_viewer

        return image_grid_of_viewer(self.viewer)

    # -- run -------------------------------------------------------------------------------------------------------
    def _on_run_clicked(self):
        if self.running:
            self.cancel()
        else:
            self.start()

    def start(self, spec=None, env_factory=None, store=None):
        """Start a run of ``spec`` (default: the widgets' spec); return the napari worker."""
        from napari.qt.threading import create_worker

        from ..analysis import Analysis
        from ..pipeline.spec import SpecError

        if self.running:
            return self.worker
        try:
            if spec is None:
                spec = self.main.build_spec()
        except SpecError as exc:
            self.status.setText(str(exc))
            notify_error(f"napari-tramway: the analysis is not ready: {'; '.join(f'{p}: {m}' for p, m in exc.problems)}")
            return None
        except ValueError as exc:
            self.status.setText(str(exc))
            notify_error(f"napari-tramway: {exc}")
            return None
        if env_factory is None:
            env_factory = self.main.environment.environment_factory()
        store = Path(store) if store is not None else self.store_dir()
        self.analysis = Analysis(spec, store=store)
        self._begin()
        self.worker = create_worker(run_generator, self.analysis, env_factory, self.image_grid(),
                                    overwrite=self.overwrite.isChecked(), cancel=self._cancel,
                                    handle_box=self._handle_box, _start_thread=False)
        self._connect_worker()
        self.worker.start()
        return self.worker

    def attach(self, attach_fn, store):
        """Follow a run started earlier (``attach_fn()`` returns its handle) and show its results."""
        from napari.qt.threading import create_worker

        from ..analysis import Analysis

        if self.running:
            return self.worker
        from ..pipeline.store import ResultStore

        spec = ResultStore(store).spec()
        self.analysis = Analysis(spec, store=store)
        self.store_edit.setText(str(store))
        self._begin()
        self.worker = create_worker(run_generator, self.analysis, None, self.image_grid(), cancel=self._cancel,
                                    handle_box=self._handle_box, attach=attach_fn, _start_thread=False)
        self._connect_worker()
        self.worker.start()
        return self.worker

    def _begin(self):
        if not self._switch_held:
            _hold_switch_interval()
            self._switch_held = True
        self._cancel = threading.Event()
        self._handle_box: list = []
        self.handle = None
        self.summary = None
        self._failures = 0
        self._rows = {}
        self.table.setRowCount(0)
        self.layer_times = []
        self._arrivals = []
        self._tracks_hidden = False
        self.run_button.setText("Cancel")
        self.run_button.setToolTip("Stop the run: units in flight are stopped, finished units are kept")
        self.status.setText("starting…")

    def _connect_worker(self):
        self.worker.yielded.connect(if_alive(self._on_message))
        self.worker.errored.connect(if_alive(self._on_error))
        self.worker.finished.connect(if_alive(self._on_finished))

    def cancel(self):
        """Ask the run to stop (non-blocking)."""
        self._cancel.set()
        if self._handle_box:
            self._handle_box[0].cancel()
        self.status.setText("cancelling…")
        self.run_button.setEnabled(False)

    # -- messages from the worker (GUI thread) -------------------------------------------------------------------------------
    def _on_message(self, msg):
        kind = msg[0]
        if kind == "status":
            self.status.setText(msg[1])
        elif kind == "units":
            self._set_units(msg[1])
        elif kind == "event":
            if self.handle is None and self._handle_box:
                self.handle = self._handle_box[0]
            self._on_event(msg[1])
            self.unit_event.emit(msg[1])
        elif kind == "layers":
            self._arrivals.append((msg[1], msg[3], time.perf_counter()))
            if not self._tracks_hidden:  # the first maps of the run
                self._tracks_hidden = True
                self._hide_tracks()
            self.feeder.feed(msg[2])
        elif kind == "error":
            notify_warning(f"napari-tramway: cannot show {msg[1]}: {msg[2]}")
        elif kind == "summary":
            self.summary = msg[1]
            exc = msg[2]
            text = msg[1].describe()
            self.status.setText(text if exc is None else f"{text}; the run failed: {exc}")
            if exc is not None:
                notify_error(f"napari-tramway: the run failed: {exc}")
            elif msg[1].count("failed"):
                notify_warning(f"napari-tramway: {text}")
            else:
                notify_info(f"napari-tramway: {text}")

    def _set_units(self, units):
        from napari.utils import progress

        self.table.setRowCount(len(units))
        for i, u in enumerate(units):
            self._rows[u.label] = i
            self.table.setItem(i, 0, QTableWidgetItem(u.label))
            self._set_state(u.label, "queued", f"{u.n_steps:,} steps" if u.n_steps is not None else "")
        if self._progress is not None:
            self._progress.close()
        self._progress = progress(total=len(units), desc="napari-tramway run")
        self.status.setText(f"{len(units)} unit(s)")

    def _set_state(self, label, state, detail="", tooltip=None):
        row = self._rows.get(label)
        if row is None:
            row = self.table.rowCount()
            self.table.setRowCount(row + 1)
            self._rows[label] = row
            self.table.setItem(row, 0, QTableWidgetItem(label))
        item = QTableWidgetItem(state)
        item.setForeground(QColor(STATE_COLOURS.get(state, "#d0d0d0")))
        self.table.setItem(row, 1, item)
        d = QTableWidgetItem(detail)
        d.setToolTip(tooltip or detail)
        self.table.setItem(row, 2, d)

    def unit_state(self, label) -> str | None:
        row = self._rows.get(label)
        if row is None or self.table.item(row, 1) is None:
            return None
        return self.table.item(row, 1).text()

    def _on_event(self, ev):
        if ev.unit is None:
            if ev.kind == "run" and (ev.error or ev.message):
                self.status.setText(ev.error or ev.message)
            return
        if ev.kind == "progress":
            frac = "" if ev.fraction is None else f"{100 * ev.fraction:.0f}% "
            self._set_state(ev.unit, "running", f"{frac}{ev.message}")
        elif ev.kind == "pending":
            state = ev.state or "PENDING"
            self._set_state(ev.unit, "pending", f"{state}" + (f" ({ev.reason})" if ev.reason else ""))
        elif ev.kind == "started":
            self._set_state(ev.unit, "running", ev.where or ev.message or "")
        elif ev.kind == "queued":
            self._set_state(ev.unit, "queued", ev.message or (f"[{ev.state}]" if ev.state else ""))
        elif ev.kind == "failed":
            where = f" ({ev.where})" if ev.where else ""
            self._set_state(ev.unit, "failed", f"{ev.error or ev.message}{where}",
                            tooltip=(ev.traceback or ev.error or ev.message))
            self._failures += 1
            if self._failures <= MAX_FAILURE_NOTIFICATIONS:
                notify_error(f"napari-tramway: {ev.unit} failed: {ev.error or ev.message}")
            self._tick()
        elif ev.kind in ("done", "skipped", "cancelled"):
            self._set_state(ev.unit, ev.kind, ev.message or "")
            self._tick()

    def _tick(self):
        if self._progress is not None:
            try:
                self._progress.update(1)
            except Exception:
                pass

    def _on_error(self, exc):
        self.status.setText(f"run failed: {type(exc).__name__}: {exc}")
        notify_error(f"napari-tramway: the run failed: {exc}")

    def _on_finished(self):
        self._end_switch()
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self.worker = None
        self.run_button.setText("Run")
        self.run_button.setEnabled(True)
        self.run_button.setToolTip("Run every unit (file × region × time window) where the Environment tab says")
        if self.summary is not None and not self.status.text().startswith(self.summary.describe()):
            self.status.setText(self.summary.describe())
        self.run_finished.emit(self.summary)

    def _on_layers_shown(self, names, _spent):
        now = time.perf_counter()
        for unit, build, arrived in self._arrivals:
            self.layer_times.append((unit, build, now - arrived))
            self.layers_added.emit(unit, list(names))
        self._arrivals = []

    def _end_switch(self):
        if self._switch_held:
            self._switch_held = False
            _release_switch_interval()

    def _hide_tracks(self):
        """Hide the trajectories when maps arrive (they would cover the maps)."""
        from .common import trajectory_layers

        for layer in trajectory_layers(self.viewer):
            layer.visible = False

    @property
    def busy(self) -> bool:
        """A run in progress, or layers still being added."""
        return self.running or self.feeder.busy

    # -- open results / reattach -------------------------------------------------------------------------------------------------
    def _open_dialog(self):
        path = QFileDialog.getExistingDirectory(self, "Open a results directory")
        if path:
            self.open_results(path)

    def open_results(self, path):
        """Show every done unit of a result store (background thread); return the worker."""
        from napari.qt.threading import create_worker

        grid = self.image_grid()

        def work():
            from .._layers import layers_from_results
            from ..pipeline import open_results

            return layers_from_results(open_results(path), grid)

        worker = create_worker(work)

        def done(layers):
            if layers:
                self._hide_tracks()
            self.feeder.feed(layers)
            notify_info(f"napari-tramway: {len({kw['metadata']['napari_tramway']['unit'] for _, kw, _ in layers})} "
                        f"region(s) opened from {path}")

        worker.returned.connect(if_alive(done))
        worker.errored.connect(lambda exc: notify_error(f"napari-tramway could not open {path}: {exc}"))
        worker.finished.connect(lambda: setattr(self, "_open_worker", None))
        self._open_worker = worker
        worker.start()
        return worker

    def _reattach_dialog(self):
        from .reattach import ReattachDialog

        dialog = ReattachDialog(self)
        if dialog.exec() and dialog.selected is not None:
            self.reattach(dialog.selected)

    def reattach(self, run_id: str):
        """Reattach to a run recorded in the ledger: follow it here and show its maps as they come."""
        from ..analysis import run_record

        try:
            record = run_record(run_id)
        except Exception as exc:
            notify_error(f"napari-tramway: {exc}")
            return None
        store = record.get("local_store")
        if not store:
            notify_error(f"napari-tramway: run {run_id} has no known results directory")
            return None
        bridge = self.main.environment.bridge if self.main is not None else None
        options = {}
        if bridge is not None:
            options = {"confirm_host_key": bridge.confirm_host_key, "ask_secret": bridge.ask_secret}

        def attach_fn():
            from ..analysis import start_attach

            return start_attach(record["run_id"], **options)

        return self.attach(attach_fn, store)

    @property
    def cancel_requested(self) -> bool:
        """The current run was asked to stop (a question it put to the user is then withdrawn)."""
        return self.running and self._cancel.is_set()

    def shutdown(self):
        """Stop following the run, when the panel or its viewer closes.

        Units running in this process or in local processes are cancelled (they would not outlive
        napari; finished units are kept); a cluster run is detached: its jobs go on, and Reattach…
        finds it in a later session.
        """
        if self.worker is None:
            return
        handle = self._handle_box[0] if self._handle_box else None
        detach = getattr(getattr(handle, "env", None), "detach", None)
        if detach is not None:
            detach()
        else:
            self._cancel.set()  # before the run starts: it will not
            if handle is not None:
                handle.cancel()
        try:
            self.worker.quit()
        except Exception:
            pass
        self._end_switch()


def _ledger_available() -> bool:
    try:
        from .. import analysis  # noqa: F401
    except Exception:
        return False
    return True
