"""Runs: start the analysis, follow every run and unit, cancel, and watch the maps appear as layers.

Each run is a row of the runs table — its name, model and settings, and how far it is (``DV fit —
12 of 40 units — 1 m 20 s left``) — with a box to show or hide its layers; the units table below
shows the selected run's units. A run's layers are named and grouped after it (see
:mod:`napari_tramway._layers.runs`): a run with other settings never replaces another's maps, and
maps whose inputs (ROIs, a file's settings — frame interval, σ, pixel size..., grouping) changed
since they were made are marked *stale* (their names end with ``[stale]``, they are drawn faded,
and the table says why). The results directory is checked before any work (a file, ``/proc``, a
read-only folder: one notification).

A run is a napari worker (:func:`~napari_tramway._widgets.run_worker.run_generator`): it plans the
units, starts the run through the façade and relays its events; finished units' layer data are
built in that thread, and :class:`~napari_tramway._widgets.common.LayerFeeder` puts them on screen
a little at a time. Cancel asks the run to stop (finished units are kept). Closing the panel or its
viewer cancels a run in this process or in local processes, and detaches from a cluster run (its
jobs go on; Reattach… follows it again later).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from qtpy.QtCore import QTimer, Signal
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
    QVBoxLayout,
    QWidget,
)

from .common import (
    LayerFeeder,
    notify_error,
    notify_info,
    notify_warning,
    start_worker,
    user_message,
)
from .run_list import RunEntry, RunList
from .run_outputs import RunOutputs, ledger_available
from .run_progress import RunProgress, stage_text, unit_detail
from .run_worker import hold_switch_interval, release_switch_interval, run_generator

MAX_FAILURE_NOTIFICATIONS = 3
RUN_FIX = "check the Data tab (the file must exist and be readable) and the Where tab"


def default_store_dir() -> Path:
    return Path.home() / "napari-tramway-results" / time.strftime("%Y%m%d-%H%M%S")


class RunsPanel(RunList, RunOutputs, QWidget):
    """Run / Cancel, the runs and their units, results directory, reattach, open results, figures."""

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
        self.current = None  # the RunEntry being run
        self.entries: dict[str, RunEntry] = {}
        self._cancel = threading.Event()
        self._handle_box: list = []
        self._failures = 0
        self._open_worker = None
        self._figure_worker = None
        self.layer_times: list[tuple[str, float, float]] = []
        """(unit, seconds to build its layer data in the worker, seconds from their arrival to on screen)."""
        self.feeder = LayerFeeder(viewer, self)
        self.feeder.idle.connect(self._on_layers_shown)
        self._arrivals: list[tuple[str, float, float]] = []
        self._switch_held = False
        self._tracks_hidden = False
        self._stale_timer = QTimer(self)
        self._stale_timer.setSingleShot(True)
        self._stale_timer.setInterval(300)
        self._stale_timer.timeout.connect(self.check_stale)
        # the viewer (or this panel) closed while a run goes: closeEvent is not called then, but
        # the panel is destroyed (the callback touches Python state only, no Qt object)
        self.destroyed.connect(lambda *_: self.shutdown())
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self._build()

    def _build(self):
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        box = QGroupBox("Results directory")
        bl = QHBoxLayout(box)
        bl.setContentsMargins(6, 4, 6, 4)
        self.store_edit = QLineEdit()
        self.store_edit.setPlaceholderText("a new folder per session (~/napari-tramway-results/<date-time>)")
        self.store_edit.setToolTip("Where each unit's result is written (a result store: reopen it with "
                                   "'Open…', drop it on napari, or use it from the command line). Runs with other "
                                   "settings go in sub-folders named after their settings: they never overwrite "
                                   "each other")
        bl.addWidget(self.store_edit, 1)
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_store)
        bl.addWidget(browse)
        layout.addWidget(box)

        row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run every unit (file × region × time window) on the environment of the Where tab")
        self.run_button.setStyleSheet("font-weight: bold;")
        self.run_button.clicked.connect(self._on_run_clicked)
        row.addWidget(self.run_button, 1)
        self.overwrite = QCheckBox("recompute all")
        self.overwrite.setToolTip("Recompute the units already done: units in the results directory with these "
                                  "settings are skipped unless ticked")
        row.addWidget(self.overwrite)
        layout.addLayout(row)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.runs_table = QTableWidget(0, 2)
        self.runs_table.setHorizontalHeaderLabels(["run", "progress"])
        self.runs_table.horizontalHeaderItem(0).setToolTip("Tick a run to show its maps, untick to hide them")
        header = self.runs_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.runs_table.setColumnWidth(0, 120)
        self.runs_table.verticalHeader().setVisible(False)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setWordWrap(True)
        self.runs_table.setMaximumHeight(170)
        self.runs_table.itemSelectionChanged.connect(self._show_units)
        self.runs_table.itemChanged.connect(self._on_run_item_changed)
        layout.addWidget(self.runs_table)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["unit", "state", "details"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open results: show the maps of a results directory (from this or an earlier "
                                    "session, or the command line)")
        self.open_button.clicked.connect(self._open_dialog)
        row.addWidget(self.open_button)
        self.reattach_button = QPushButton("Reattach…")
        self.reattach_button.setToolTip("Follow a cluster run started in an earlier session, and collect its results")
        self.reattach_button.clicked.connect(self._reattach_dialog)
        self.reattach_button.setEnabled(ledger_available())
        row.addWidget(self.reattach_button)
        self.figure_button = QPushButton("Figure…")
        self.figure_button.setToolTip("Save the selected run's maps as publication figures (PNG, SVG or PDF): colour "
                                      "bars, titles, units, scale bar, over the wide-field image")
        self.figure_button.clicked.connect(self._figure_dialog)
        row.addWidget(self.figure_button)
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
        return None

    # -- runs -------------------------------------------------------------------------------------------------
    def _on_run_clicked(self):
        if self.running:
            self.cancel()
        else:
            self.start()

    def start(self, spec=None, env_factory=None, store=None):
        """Start a run of ``spec`` (default: the widgets' spec); return the napari worker."""
        from ..analysis import Analysis
        from ..pipeline.spec import SpecError

        if self.running:
            return self.worker
        try:
            if spec is None:
                spec = self.main.build_spec()
            if env_factory is None:
                env_factory = self.main.environment.environment_factory()
        except SpecError as exc:
            self.status.setText(str(exc))
            notify_error("napari-tramway: the analysis is not ready: "
                         + "; ".join(f"{p}: {m}" for p, m in exc.problems) + " — correct these fields, then Run")
            return None
        except ValueError as exc:
            self.status.setText(str(exc))
            notify_error(user_message("cannot run", exc))
            return None
        if not self._writable(store if store is not None else self.store_dir()):
            return None
        store = Path(store) if store is not None else self.store_for(spec)
        self.analysis = Analysis(spec, store=store)
        run = self._new_run_label(spec, store)
        self._begin(run, spec.to_dict(), stage_text(spec.model.name, spec.stage))
        self.worker = self._start_worker(run_generator, self.analysis, env_factory, self.image_grid(), run=run,
                                         overwrite=self.overwrite.isChecked())
        return self.worker

    def _writable(self, path) -> bool:
        """Whether results can be written in ``path`` (checked before any work); if not, one
        notification naming the directory and the cause."""
        from ..analysis import OutputDirectoryError, writable_directory

        try:
            writable_directory(path, "the results directory")
        except OutputDirectoryError as exc:
            self.status.setText(str(exc))
            notify_error(f"napari-tramway cannot run: {exc} — choose another results directory (Runs tab)")
            return False
        return True

    def attach(self, attach_fn, store):
        """Follow a run started earlier (``attach_fn()`` returns its handle) and show its results."""
        from ..analysis import Analysis
        from ..pipeline.store import ResultStore

        if self.running:
            return self.worker
        spec = ResultStore(store).spec()
        self.analysis = Analysis(spec, store=store)
        self.store_edit.setText(str(store))
        run = self._new_run_label(spec, store)
        self._begin(run, spec.to_dict(), stage_text(spec.model.name, spec.stage))
        self.worker = self._start_worker(run_generator, self.analysis, None, self.image_grid(), run=run,
                                         attach=attach_fn)
        return self.worker

    def _start_worker(self, fn, *args, **kwargs):
        return start_worker(fn, *args, cancel=self._cancel, handle_box=self._handle_box, **kwargs,
                            what="the run failed", fix=RUN_FIX, yielded=self._on_message, errored=self._on_error,
                            finished=self._on_finished)

    def _begin(self, run, spec: dict, what: str):
        if not self._switch_held:
            hold_switch_interval()
            self._switch_held = True
        self._cancel = threading.Event()
        self._handle_box = []
        self.handle = None
        self.summary = None
        self._failures = 0
        self.layer_times = []
        self._arrivals = []
        self._tracks_hidden = False
        entry = self.entry_for(run, spec)
        entry.spec = spec
        entry.units = {}
        entry.progress = RunProgress(what=what)
        entry.stale = []
        self.current = entry
        self._refresh_runs()
        self.run_button.setText("Cancel")
        self.run_button.setToolTip("Stop the run: units in flight are stopped, finished units are kept")
        self.status.setText("starting…")

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
        entry = self.current
        if kind == "status":
            self.status.setText(msg[1])
        elif kind == "units":
            self._set_units(msg[1])
        elif kind == "event":
            if self.handle is None and self._handle_box:
                self.handle = self._handle_box[0]
            self._on_event(msg[1])
            self.unit_event.emit(msg[1])
        elif kind == "tick":
            self._update_progress()
        elif kind == "layers":
            self._arrivals.append((msg[1], msg[3], time.perf_counter()))
            if not self._tracks_hidden:  # the first maps of the run
                self._tracks_hidden = True
                self._hide_tracks()
            self.feeder.feed(msg[2])
        elif kind == "error":
            notify_warning(user_message(f"cannot show {msg[1]}", msg[2]))
        elif kind == "summary":
            self.feeder.flush()
            self.summary = msg[1]
            exc = msg[2]
            if entry is not None and entry.progress is not None:
                entry.progress.finish()
            text = entry.progress.describe() if entry is not None and entry.progress else msg[1].describe()
            self.status.setText(text if exc is None else f"{text}; the run failed: {exc}")
            if exc is not None:
                notify_error(user_message("the run failed", exc, RUN_FIX))
            elif msg[1].count("failed"):
                notify_warning(f"napari-tramway: {text} — the units table gives each failure's cause")
            else:
                notify_info(f"napari-tramway: {text}")
            self._refresh_runs()

    def _set_units(self, units):
        from .._layers.runs import unit_title

        entry = self.current
        one_file = len({u.file_label for u in units}) == 1
        for u in units:
            title = unit_title({"unit": u.to_dict(), "spec": entry.spec}, u.label)
            if one_file and "/" in title:
                title = title.split("/", 1)[1]  # the file is the run's only one: its regions (and windows)
            detail = f"{u.n_steps:,} steps" if u.n_steps is not None else ""
            entry.units[u.label] = ("queued", detail, title, detail)
        entry.progress.set_units([u.label for u in units])
        self.status.setText(f"{len(units)} unit(s)")
        self._show_units()
        self._update_progress()

    def _on_event(self, ev):
        entry = self.current
        if ev.unit is None:
            if ev.kind == "run" and (ev.error or ev.message):
                self.status.setText(ev.error or ev.message)
            return
        entry.progress.update(ev)
        state, detail = unit_detail(ev)
        title = entry.units.get(ev.unit, ("", "", ev.unit, ""))[2]
        tooltip = ev.traceback or ev.error or detail
        entry.units[ev.unit] = (state, detail, title, tooltip)
        self._set_unit_row(ev.unit, state, detail, tooltip, title)
        if ev.kind == "failed":
            self._failures += 1
            if self._failures <= MAX_FAILURE_NOTIFICATIONS:
                notify_error(user_message(f"{title} failed", ev.error or ev.message,
                                          "its row in the Runs tab has the details"))
        self._update_progress()

    def _update_progress(self):
        entry = self.current
        if entry is None or entry.progress is None:
            return
        text = entry.progress.describe()
        row = list(self.entries).index(entry.run.key)
        item = self.runs_table.item(row, 1)
        if item is not None and item.text() != text:
            self.runs_table.blockSignals(True)
            item.setText(text)
            self.runs_table.blockSignals(False)
        if self.running:
            self.status.setText(text)

    def _on_error(self, exc):
        self.status.setText(user_message("the run failed", exc))
        notify_error(user_message("the run failed", exc, RUN_FIX))

    def _on_finished(self):
        self._end_switch()
        self.worker = None
        self.run_button.setText("Run")
        self.run_button.setEnabled(True)
        self.run_button.setToolTip("Run every unit (file × region × time window) on the environment of the Where tab")
        if self.current is not None and self.current.progress is not None and self.current.progress.ended is None:
            self.current.progress.finish()
        self._refresh_runs()
        self.schedule_stale_check()
        self.run_finished.emit(self.summary)

    def _on_layers_shown(self, names, _spent):
        now = time.perf_counter()
        for unit, build, arrived in self._arrivals:
            self.layer_times.append((unit, build, now - arrived))
            self.layers_added.emit(unit, list(names))
        self._arrivals = []
        self.schedule_stale_check()

    def _end_switch(self):
        if self._switch_held:
            self._switch_held = False
            release_switch_interval()

    def _hide_tracks(self):
        """Hide the trajectories when maps arrive (they would cover the maps)."""
        from .common import trajectory_layers

        for layer in trajectory_layers(self.viewer):
            layer.visible = False

    @property
    def busy(self) -> bool:
        """A run in progress, or layers still being added."""
        return self.running or self.feeder.busy

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


