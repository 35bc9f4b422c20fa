"""The list of cluster runs recorded in the ledger, to reattach to one left by an earlier session."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

FINAL_STATUSES = ("done", "cancelled", "failed", "submit-failed")


def recorded_runs(include_finished: bool = False) -> list[dict]:
    """Run records of the ledger, newest first (finished runs only when asked)."""
    from ..analysis import list_runs

    runs = list_runs()
    if not include_finished:
        runs = [r for r in runs if r.get("status") not in FINAL_STATUSES]
    return list(reversed(runs))


class ReattachDialog(QDialog):
    """Choose a recorded run; ``selected`` is its run id."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("napari_tramway_reattach")
        self.setWindowTitle("napari-tramway: reattach to a cluster run")
        self.selected: str | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Runs recorded on this computer. Reattaching reconnects, collects the units that "
                                "finished meanwhile and follows the others."))
        self.show_all = QCheckBox("show finished runs too")
        self.show_all.toggled.connect(self.refresh)
        layout.addWidget(self.show_all)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["run", "site", "status", "units", "results directory"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(lambda *_: self.accept())
        layout.addWidget(self.table)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Reattach")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.resize(760, 320)
        self.refresh()

    def refresh(self, *_):
        from ..analysis import run_states_text

        try:
            self.runs = recorded_runs(self.show_all.isChecked())
        except Exception as exc:
            self.runs = []
            self.table.setRowCount(1)
            self.table.setItem(0, 0, QTableWidgetItem(f"cannot read the ledger: {exc}"))
            return
        self.table.setRowCount(len(self.runs))
        for i, r in enumerate(self.runs):
            site = r.get("site") or {}
            cells = [r.get("run_id", "?"), site.get("name") or site.get("class") or "?", r.get("status", "?"),
                     run_states_text(r), r.get("local_store", "")]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(str(text)))
        if self.runs:
            self.table.selectRow(0)

    def accept(self):
        rows = self.table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self.runs):
            self.selected = self.runs[rows[0].row()].get("run_id")
        super().accept()
