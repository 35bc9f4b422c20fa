"""Results: a run's summary table and its conditions side by side, updated while the run goes.

The panel follows the run of the Runs tab: each ``done`` or ``skipped`` event (from the façade's
run handle, relayed by the Runs panel) asks for an update; an update refreshes the store's
``summary.csv`` and shows the table, then reads the per-cell values, compares the conditions and
draws the figure as a PNG (:func:`napari_tramway.summary_plots.render_comparisons`), all in a
worker thread, so that the GUI thread only swaps a table model and a pixmap. Updates never overlap: events that arrive during one give
one more update after it, and while the tab is hidden updates wait until it is shown (the worker
thread shares the interpreter with the GUI thread: no drawing that nobody looks at). *Open…*
shows the summary of any result store.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QAbstractTableModel, Qt, Signal
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .common import notify_error, notify_info, start_worker

#: figure panel size (inches at 100 dpi) and the number of panels per row
FIGURE_PANEL = (2.6, 3.0)
FIGURE_COLUMNS = 2


class DataFrameModel(QAbstractTableModel):
    """A read-only Qt view of a pandas DataFrame (cells are formatted when shown, not before)."""

    def __init__(self, table=None, parent=None):
        super().__init__(parent)
        import pandas as pd

        self.table = table if table is not None else pd.DataFrame()

    def rowCount(self, parent=None):
        return 0 if parent is not None and parent.isValid() else len(self.table)

    def columnCount(self, parent=None):
        return 0 if parent is not None and parent.isValid() else len(self.table.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        value = self.table.iat[index.row(), index.column()]
        return _text(value)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self.table.columns[section])
        return str(section + 1)


def _text(value) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class FigureImage(QLabel):
    """A PNG shown as large as the label allows, keeping its aspect ratio (rescaled on resize)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.original = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_png(self, png: bytes) -> None:
        self.original = QPixmap()
        self.original.loadFromData(png, "PNG")
        self._rescale()

    def _rescale(self) -> None:
        if self.original.isNull() or self.width() < 10 or self.height() < 10:
            return
        self.setPixmap(self.original.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._rescale()


class ResultsPanel(QWidget):
    """The summary of the current (or an opened) run: table, comparisons and figure."""

    updated = Signal(object)
    """Emitted (GUI thread) when an update shows its summary table."""
    figure_shown = Signal(bytes)
    """Emitted (GUI thread) when an update shows its figure (the PNG)."""

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self.store = None
        self.spec = None
        self.table = None
        self.comparisons: list = []
        self.png: bytes | None = None
        self.worker = None
        self._dirty = False
        self._last_error: str | None = None
        self.gui_seconds: list[float] = []
        """Seconds each update spent in the GUI thread (table model and pixmap swapped), for tests."""
        self.destroyed.connect(lambda *_: self._quit_worker())
        if getattr(main, "tabs", None) is not None:
            main.tabs.currentChanged.connect(self._on_tab_changed)
        layout = QVBoxLayout(self)

        # three short rows: the dock stays as narrow as the other tabs (a laptop's canvas)
        self.store_label = QLabel("no run yet: start one in the Runs tab, or open a results directory")
        self.store_label.setWordWrap(True)
        self.store_label.setStyleSheet("color: #a0a0a0;")
        layout.addWidget(self.store_label)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Show the summary of a results directory (this session's, an earlier one's, the CLI's)")
        self.open_button.clicked.connect(self._open_dialog)
        row.addWidget(self.open_button)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the results directory again, with the labels the Data tab has now "
                                       "(relabelled files show without recomputing)")
        self.refresh_button.clicked.connect(self.refresh)
        row.addWidget(self.refresh_button)
        self.save_button = QPushButton("Figure…")
        self.save_button.setToolTip("Save the figure as PNG, SVG or PDF")
        self.save_button.clicked.connect(self._save_dialog)
        self.save_button.setEnabled(False)
        row.addWidget(self.save_button)
        layout.addLayout(row)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.by_combo = QComboBox()
        self.by_combo.setToolTip("The label whose two values are compared (set labels in the Data tab)")
        self.by_combo.currentTextChanged.connect(self._on_by_changed)
        form.addRow("compare by", self.by_combo)
        self.reference_combo = QComboBox()
        self.reference_combo.setToolTip("The condition the other is compared with (ratio other / reference for D, "
                                        "difference other − reference otherwise)")
        self.reference_combo.currentTextChanged.connect(self._on_reference_chosen)
        self._reference_chosen: str | None = None
        form.addRow("reference", self.reference_combo)
        layout.addLayout(form)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        split = QSplitter(Qt.Orientation.Vertical)
        self.view = QTableView()
        self.model = DataFrameModel(parent=self)
        self.view.setModel(self.model)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 6)
        self.view.setWordWrap(False)
        split.addWidget(self.view)
        self.figure = FigureImage()
        split.addWidget(self.figure)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([160, 480])
        layout.addWidget(split, 1)

    # -- following a run ----------------------------------------------------------------------------
    def show_store(self, store, spec=None) -> None:
        """Show the summary of ``store`` (labels from ``spec``, default the store's) and update it."""
        from ..pipeline.store import ResultStore

        store = store if isinstance(store, ResultStore) else ResultStore(store)
        if self.store is None or Path(self.store.root) != Path(store.root) or spec is not self.spec:
            self.store, self.spec = store, spec
            self.store_label.setText(f"results: {store.root}")
            self._set_keys(spec)
        self.request_update()

    def on_event(self, event) -> None:
        """A run event (GUI thread): a finished unit asks for an update of the current run's summary."""
        if event.unit is None or event.kind not in ("done", "skipped"):
            return
        analysis = getattr(getattr(self.main, "runs", None), "analysis", None)
        if analysis is not None and (self.store is None or Path(self.store.root) != Path(analysis.store.root)
                                     or self.spec is not analysis.spec):
            self.show_store(analysis.store, analysis.spec)
        else:
            self.request_update()

    def refresh(self) -> None:
        """Update now; for the Runs tab's results, with the labels the panel's spec has now (the
        Data tab), so that relabelled files show without recomputing."""
        from ..pipeline.spec import SpecError

        runs = getattr(self.main, "runs", None)
        analysis = getattr(runs, "analysis", None)
        if analysis is not None and self.store is not None and Path(self.store.root) == Path(analysis.store.root):
            try:
                self.spec = self.main.build_spec()
            except (SpecError, ValueError) as exc:
                notify_error(f"napari-tramway: the labels cannot be read from the panel: {exc}")
                return
            self._set_keys(self.spec)
        self.request_update()

    def request_update(self) -> None:
        """Update in a worker thread (or once more after the running update, or when the tab is shown)."""
        if self.store is None:
            return
        if self.worker is not None or not self.shown:
            self._dirty = True
            return
        self._dirty = False
        self.status.setText("updating the summary…" if self.table is None else self.status.text())
        self.worker = start_worker(_updates, self.store, self.spec, self.by_combo.currentText() or "condition",
                                   self.reference_combo.currentText() or None, what="summary",
                                   yielded=self._on_yielded, errored=self._on_failed, finished=self._on_finished)

    @property
    def busy(self) -> bool:
        """An update runs, or one is due while the tab is shown."""
        return self.worker is not None or (self._dirty and self.shown)

    # -- worker results (GUI thread) ----------------------------------------------------------------
    def _on_yielded(self, message) -> None:
        import time

        t0 = time.perf_counter()
        if message[0] == "table":
            table = self.table = message[1]
            self.model.beginResetModel()
            self.model.table = table
            self.model.endResetModel()
            if self.spec is None:
                self._set_keys(None, table.attrs.get("label_keys"))
            self._set_values(table)
            self.status.setText(self._table_line() + "\ncomparing the conditions…")
        else:
            _, self.comparisons, notes, self.png = message
            self.status.setText("\n".join([self._table_line()] + self._comparison_lines() + notes))
            self.status.setToolTip("\n\n".join(c.describe() for c in self.comparisons))
            self.figure.set_png(self.png)
            self.save_button.setEnabled(True)
            self._last_error = None
        self.gui_seconds.append(time.perf_counter() - t0)
        if message[0] == "table":
            self.updated.emit(self.table)
        else:
            self.figure_shown.emit(self.png)

    def _table_line(self) -> str:
        return f"{len(self.table)} finished unit(s): {self.store.root / 'summary.csv'}"

    def _comparison_lines(self) -> list[str]:
        """One short line per comparison, then how the intervals were made (the tooltip has it all)."""
        if not self.comparisons:
            return []
        from ..pipeline.compare import FEW_REPLICATES

        c = self.comparisons[0]
        n = min(min(x.n_reference, x.n_other) for x in self.comparisons)
        how = (f"{100 * c.confidence:.0f} % intervals: bootstrap over {c.replicate}s ({c.n_reference} {c.reference}, "
               f"{c.n_other} {c.other})" + (f"; fewer than {FEW_REPLICATES} per condition: fragile" if n < FEW_REPLICATES
                                            else ""))
        return [x.short() for x in self.comparisons] + [how]

    def _on_failed(self, exc) -> None:
        text = f"napari-tramway: the summary of {self.store.root if self.store else '?'} could not be made: {exc}"
        self.status.setText(text)
        if text != self._last_error:  # one notification per distinct problem, not one per unit
            notify_error(text)
            self._last_error = text

    def _on_finished(self) -> None:
        self.worker = None
        if self._dirty:
            self.request_update()

    @property
    def shown(self) -> bool:
        """The Results tab is the current tab of its panel (always, for a panel on its own)."""
        tabs = getattr(self.main, "tabs", None)
        return tabs is None or tabs.currentWidget() is self

    def _on_tab_changed(self, *_):
        if self._dirty and self.worker is None and self.shown:
            self.request_update()

    def _quit_worker(self) -> None:
        if self.worker is not None:
            try:
                self.worker.quit()
            except RuntimeError:
                pass

    # -- labels, dialogs ------------------------------------------------------------------------------
    def _set_keys(self, spec, keys=None) -> None:
        if spec is not None:
            from ..pipeline.summary import label_keys

            keys = label_keys(spec)
        keys = list(keys or [])
        current = self.by_combo.currentText()
        self.by_combo.blockSignals(True)
        self.by_combo.clear()
        self.by_combo.addItems(keys or ["condition"])
        choice = current if current in keys else ("condition" if "condition" in keys or not keys else keys[0])
        self.by_combo.setCurrentText(choice)
        self.by_combo.blockSignals(False)

    def _set_values(self, table) -> None:
        """The values of the compared label, for the reference: alphabetical, the first by default;
        a reference the user chose is kept while the label has it."""
        by = self.by_combo.currentText()
        values = sorted({str(v) for v in table[by].dropna()}) if by in table.columns else []
        if values == [self.reference_combo.itemText(i) for i in range(self.reference_combo.count())]:
            return
        self.reference_combo.blockSignals(True)
        self.reference_combo.clear()
        self.reference_combo.addItems(values)
        if self._reference_chosen in values:
            self.reference_combo.setCurrentText(self._reference_chosen)
        self.reference_combo.blockSignals(False)

    def _on_reference_chosen(self, text) -> None:
        self._reference_chosen = text or None
        self.request_update()

    def _on_by_changed(self, _text) -> None:
        self.request_update()

    def _open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a results directory")
        if path:
            self.open_store(path)

    def open_store(self, path) -> None:
        from ..pipeline.store import ResultStore

        store = ResultStore(path)
        if not store.exists():
            notify_error(f"napari-tramway: {path} is not a results directory (no store.json)")
            return
        self.show_store(store, None)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the figure", "summary.png",
                                              "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if path:
            self.save_figure(path)

    def save_figure(self, path):
        """Draw the figure again in a worker thread and write it (PNG, SVG or PDF)."""
        from ..summary_plots import save_figure, summary_figure

        store, spec, by, comparisons = self.store, self.spec, self.by_combo.currentText() or "condition", self.comparisons

        def work():
            from ..pipeline.summary import cell_values, summary_table

            fig = summary_figure(cell_values(store, spec), summary_table(store, spec), by=by, comparisons=comparisons)
            return save_figure(fig, path)

        return start_worker(work, what="could not save the figure", fix="choose another folder or file name",
                            returned=lambda p: notify_info(f"napari-tramway: figure saved to {p}"))


def _updates(store, spec, by: str, reference: str | None):
    """The steps of an update (in a worker thread): the table, then the comparisons and the figure."""
    from ..pipeline.summary import refresh_summary
    from ..summary_plots import render_comparisons

    table = refresh_summary(store, spec)
    yield ("table", table)
    width, height = FIGURE_PANEL
    yield ("figure", *render_comparisons(store, spec, table, by=by, reference=reference, columns=FIGURE_COLUMNS,
                                         width=width, height=height))
