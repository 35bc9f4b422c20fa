"""The runs of the Runs tab: a row per run (its name, settings and progress, a box that shows or
hides its layers), the units of the selected run, where each run's results go, and the stale marks
of maps whose inputs changed since they were made (see :mod:`napari_tramway._layers.runs`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QTableWidgetItem

from .common import tramway_md
from .run_progress import RunProgress

STATE_COLOURS = {
    "queued": "#a0a0a0", "pending": "#d0b060", "started": "#60a0e0", "running": "#60a0e0", "done": "#60c060",
    "skipped": "#60c060", "failed": "#e06060", "cancelled": "#c08040", "stale": "#e0a040",
}
STALE_SUFFIX = " [stale]"
STALE_OPACITY = 0.35


@dataclass
class RunEntry:
    """One run as the panel shows it."""

    run: object  # RunLabel
    spec: dict | None = None
    progress: RunProgress | None = None
    units: dict = field(default_factory=dict)  # label -> (state, detail, title, tooltip)
    status: str = ""
    stale: list = field(default_factory=list)
    hidden: list = field(default_factory=list)  # layers hidden with the run's box



class RunList:
    """The runs part of :class:`~napari_tramway._widgets.runs.RunsPanel` (which has ``viewer``,
    ``main``, ``entries``, ``current``, ``running``, ``store_dir()``, ``runs_table``, ``table`` and
    ``_stale_timer``)."""

    def entry_for(self, run, spec: dict | None = None) -> RunEntry:
        """The entry of ``run`` (a RunLabel), made when first seen."""
        entry = self.entries.get(run.key)
        if entry is None:
            entry = self.entries[run.key] = RunEntry(run, spec)
            self._refresh_runs()
        elif spec is not None and entry.spec is None:
            entry.spec = spec
        return entry

    def _new_run_label(self, spec, store):
        """``run N`` for a new run; the same name for the same settings in the same results directory."""
        from .._layers import run_label

        label = run_label(spec.to_dict(), str(store), name="run")
        if label.key in self.entries:
            return self.entries[label.key].run
        n = 1 + sum(1 for e in self.entries.values() if e.run.name.startswith("run "))
        return label.renamed(f"run {n}")

    def store_for(self, spec) -> Path:
        """The result store of a run of ``spec``: the results directory itself when it is a store of
        these settings (or not a store yet and empty), else its sub-folder named after the settings
        (``DV hexagon 1 µm``, then ``… 2``...): runs with other settings never overwrite each other's
        results, and running the same settings again skips the units already done."""
        from .._layers.runs import run_settings, settings_summary
        from ..figures import safe_name

        root = self.store_dir()
        wanted = run_settings(spec.to_dict())

        def fits(path: Path) -> bool | None:
            """True: a store of these settings; False: a store of others; None: not a store."""
            info = path / "store.json"
            if not info.is_file():
                return None
            try:
                return run_settings(json.loads(info.read_text()).get("spec")) == wanted
            except (OSError, ValueError):
                return False

        if fits(root) is True or (fits(root) is None and (not root.exists() or not any(root.iterdir()))):
            return root
        model, summary, _ = settings_summary(spec.to_dict())
        base = safe_name(f"{model} {summary}")
        for k in range(1, 1000):
            candidate = root / (base if k == 1 else f"{base} {k}")
            if fits(candidate) is not False:
                return candidate
        raise ValueError(f"{root}: too many runs with the settings {base!r}")

    def run_layers(self, key: str) -> list:
        """The layers of run ``key``."""
        return [la for la in self.viewer.layers if (tramway_md(la).get("run") or {}).get("key") == key]

    def _on_layer_inserted(self, event):
        """Runs opened elsewhere (drag and drop of a result, Open results…) get their row too."""
        md = tramway_md(event.value)
        info = md.get("run")
        if isinstance(info, dict) and info.get("key") and info["key"] not in self.entries:
            from .._layers import RunLabel

            self.entry_for(RunLabel(**info), md.get("spec"))

    def _on_layer_removed(self, event):
        """A run whose layers were all deleted leaves the table (its results stay on disk)."""
        info = tramway_md(event.value).get("run")
        key = info.get("key") if isinstance(info, dict) else None
        if key in self.entries and not self.run_layers(key) and not (self.running and self.current is not None
                                                                      and self.current.run.key == key):
            del self.entries[key]
            self._refresh_runs()

    def _refresh_runs(self):
        t = self.runs_table
        t.blockSignals(True)
        selected = self.selected_entry()
        entries = list(self.entries.values())
        t.setRowCount(len(entries))
        for i, e in enumerate(entries):
            name = QTableWidgetItem(e.run.text)
            name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Unchecked if e.hidden else Qt.CheckState.Checked)
            name.setToolTip(f"{e.run.text}\n{e.run.details}\n{e.run.key.split('|')[0]}")
            name.setData(Qt.ItemDataRole.UserRole, e.run.key)
            t.setItem(i, 0, name)
            text = e.progress.describe() if e.progress is not None else (e.status or "opened")
            tip = text
            if e.stale:
                text = f"stale: {'; '.join(e.stale)}" + (f"\n{text}" if text else "")
                tip = (f"Made before: {'; '.join(e.stale)}. Its layers are marked [stale] and faded. Run again "
                       f"(same settings) to update them.\n{tip}")
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            if e.stale:
                item.setForeground(QColor(STATE_COLOURS["stale"]))
            t.setItem(i, 1, item)
        t.resizeRowsToContents()
        if entries:
            keys = [e.run.key for e in entries]
            row = keys.index(selected.run.key) if selected is not None and selected.run.key in keys else len(keys) - 1
            if self.current is not None and self.current.run.key in keys and self.running:
                row = keys.index(self.current.run.key)
            t.selectRow(row)
        t.blockSignals(False)
        self._show_units()

    def selected_entry(self) -> RunEntry | None:
        rows = self.runs_table.selectionModel().selectedRows() if self.runs_table.selectionModel() else []
        if not rows:
            return None
        item = self.runs_table.item(rows[0].row(), 0)
        return None if item is None else self.entries.get(item.data(Qt.ItemDataRole.UserRole))

    def _on_run_item_changed(self, item):
        if item.column() != 0:
            return
        entry = self.entries.get(item.data(Qt.ItemDataRole.UserRole))
        if entry is not None:
            self.show_run(entry.run.key, item.checkState() == Qt.CheckState.Checked)

    def show_run(self, key: str, shown: bool) -> None:
        """Show or hide a run's layers (those hidden by the user stay hidden when shown again)."""
        entry = self.entries[key]
        if not shown:
            entry.hidden = [la for la in self.run_layers(key) if la.visible]
            for la in entry.hidden:
                la.visible = False
        else:
            for la in entry.hidden:
                if la in self.viewer.layers:
                    la.visible = True
            entry.hidden = []

    # -- run -------------------------------------------------------------------------------------------------------
    def _show_units(self):
        entry = self.selected_entry()
        self.table.setRowCount(0)
        if entry is None:
            return
        for label, (state, detail, title, tooltip) in entry.units.items():
            self._set_unit_row(label, state, detail, tooltip, title, entry)

    def _set_unit_row(self, label, state, detail, tooltip, title, entry=None):
        entry = entry or self.current
        if entry is not self.selected_entry():
            return
        labels = list(entry.units)
        row = labels.index(label) if label in labels else self.table.rowCount()
        if row >= self.table.rowCount():
            self.table.setRowCount(row + 1)
        name = QTableWidgetItem(title)
        name.setToolTip(label)
        self.table.setItem(row, 0, name)
        item = QTableWidgetItem(state)
        item.setForeground(QColor(STATE_COLOURS.get(state, "#d0d0d0")))
        self.table.setItem(row, 1, item)
        d = QTableWidgetItem(detail)
        d.setToolTip(tooltip or detail)
        self.table.setItem(row, 2, d)

    def unit_labels(self) -> list[str]:
        """The units of the run being (or last) run."""
        return list(self.current.units) if self.current is not None else []

    def unit_state(self, label) -> str | None:
        entry = self.current or self.selected_entry()
        row = None if entry is None else entry.units.get(label)
        return None if row is None else row[0]

    def schedule_stale_check(self, *_):
        self._stale_timer.start()

    def check_stale(self) -> dict[str, list[str]]:
        """Mark the runs whose inputs changed since their maps were made (and unmark those whose
        inputs are back); return ``run key → reasons`` of the stale ones."""
        from .._layers import input_changes

        if self.main is None:
            return {}
        try:
            current = self.main.build_spec(validate=False)
        except Exception:
            return {}  # the widgets do not describe an analysis now (a file without path...)
        out = {}
        for key, entry in self.entries.items():
            layers = self.run_layers(key)
            inputs = [i for la in layers for i in (tramway_md(la).get("inputs") or {}).values() if i]
            reasons = input_changes(inputs, current)
            if reasons != entry.stale:
                entry.stale = reasons
                for la in layers:
                    mark_stale(la, bool(reasons))
            if reasons:
                out[key] = reasons
        self._refresh_runs()
        return out

    # -- open results / reattach / figures ----------------------------------------------------------------------------------

def mark_stale(layer, stale: bool) -> None:
    """Mark a map layer stale (name suffix, faded) or not any more (name and opacity restored)."""
    md = tramway_md(layer)
    if stale and "stale" not in md:
        md["stale"] = float(layer.opacity)
        layer.opacity = min(float(layer.opacity), STALE_OPACITY)
        if not layer.name.endswith(STALE_SUFFIX):
            layer.name = layer.name + STALE_SUFFIX
    elif not stale and "stale" in md:
        layer.opacity = md.pop("stale")
        if layer.name.endswith(STALE_SUFFIX):
            layer.name = layer.name[: -len(STALE_SUFFIX)]


