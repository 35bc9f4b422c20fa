"""ROIs: draw rectangles, ellipses and polygons on the image, see their translocation counts live.

ROIs live in napari Shapes layers (µm, 2D so they show at every time point). Each trajectory
file is analysed in the ROIs of one Shapes layer (by default the same "ROIs" layer for every
file: the same ROIs applied to several files), or over its whole field of view. ROIs have names
(double-click a name in the table to rename it), drawn on the canvas and used in the names of map
layers and figure files; a ROI without a name is called by its index (roi000, roi001...).
"""

from __future__ import annotations

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._layers import (
    METADATA_KEY,
    ROI_STYLE,
    ROI_TEXT,
    locations_of_layer,
    roi_features,
    shapes_from_rois,
)
from .common import (
    notify_error,
    notify_info,
    notify_warning,
    shapes_layers,
    start_worker,
    user_message,
)
from .layout import scrolling
from .roi_layers import rename_roi, roi_names, rois_of_layer, step_counts, sync_roi_labels

WHOLE_FIELD = "(whole field of view)"
ROI_FILTER = "ROI files (*.json *.txt);;napari-tramway ROIs (*.json);;TRamWAy rectangles (*.txt)"


class RoiPanel(QWidget):
    """Shapes layers of ROIs, the ROI table with live counts, grouping, ROI files."""

    rois_changed = Signal()

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self._assignment: dict[int, str] = {}  # id(trajectory layer) -> ROI layer name or WHOLE_FIELD
        self._explicit: set[int] = set()  # files whose ROI layer the user (or a spec) chose
        self._connected: set[int] = set()
        self._count_worker = None
        self._count_dirty = False
        self._filling = False
        self.counts: dict[int, int] = {}
        self.region_counts: dict[str, int] = {}
        layout = scrolling(self)

        top = QGroupBox("ROI layer")
        tl = QVBoxLayout(top)
        row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The Shapes layer whose ROIs are listed below")
        self.layer_combo.currentIndexChanged.connect(self._on_layer_choice)
        row.addWidget(self.layer_combo, 1)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Add a Shapes layer for ROIs (2D, µm)")
        self.new_button.clicked.connect(lambda: self.new_roi_layer())
        row.addWidget(self.new_button)
        tl.addLayout(row)
        row = QHBoxLayout()
        self.draw_buttons = {}
        for mode, text in (("add_rectangle", "Rectangle"), ("add_ellipse", "Ellipse"), ("add_polygon", "Polygon"),
                           ("select", "Select")):
            b = QPushButton(text)
            b.setToolTip({"add_rectangle": "Draw rectangles (drag)", "add_ellipse": "Draw ellipses (drag)",
                          "add_polygon": "Draw a polygon (click the vertices, double-click or Escape to close)",
                          "select": "Select, move and edit ROIs (Delete removes the selected ones)"}[mode])
            b.clicked.connect(lambda _=False, m=mode: self.draw(m))
            row.addWidget(b)
            self.draw_buttons[mode] = b
            if len(self.draw_buttons) == 2:  # two rows of two: the dock stays narrow
                tl.addLayout(row)
                row = QHBoxLayout()
        tl.addLayout(row)
        row = QHBoxLayout()
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add the ROIs of a ROI file (.json, or TRamWAy's .txt rectangles)")
        self.import_button.clicked.connect(self._import_dialog)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save these ROIs (.json keeps every shape; .txt: TRamWAy rectangles)")
        self.export_button.clicked.connect(self._export_dialog)
        row.addWidget(self.import_button)
        row.addWidget(self.export_button)
        tl.addLayout(row)
        layout.addWidget(top)

        lst = QGroupBox("ROIs")
        ll = QVBoxLayout(lst)
        row = QHBoxLayout()
        row.addWidget(QLabel("counts in"))
        self.count_file = QComboBox()
        self.count_file.setToolTip("Translocations (steps whose origin is inside) of this file")
        self.count_file.currentIndexChanged.connect(self.schedule_counts)
        row.addWidget(self.count_file, 1)
        ll.addLayout(row)
        self.group = QCheckBox("group overlapping ROIs")
        self.group.setToolTip("Overlapping ROIs are analysed together as one support region (roi000-002...)")
        self.group.toggled.connect(self._on_group)
        ll.addWidget(self.group)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["name", "shape", "area (µm²)", "translocations", "region"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setToolTip("Double-click a name to rename the ROI: the name is drawn on the canvas and "
                              "used in the names of map layers and figure files")
        self.table.itemSelectionChanged.connect(self._select_shapes)
        self.table.itemChanged.connect(self._on_name_edited)
        ll.addWidget(self.table)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        ll.addWidget(self.summary)
        layout.addWidget(lst, 1)

        files = QGroupBox("ROIs of each file")
        fl = QVBoxLayout(files)
        self.files_table = QTableWidget(0, 2)
        self.files_table.setHorizontalHeaderLabels(["trajectory file", "ROI layer"])
        self.files_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.files_table.verticalHeader().setVisible(False)
        self.files_table.setMaximumHeight(120)
        fl.addWidget(self.files_table)
        self.apply_all = QPushButton("Use for every file")
        self.apply_all.setToolTip("Analyse every trajectory file in the ROIs of the ROI layer chosen above")
        self.apply_all.clicked.connect(self._apply_to_all)
        fl.addWidget(self.apply_all)
        layout.addWidget(files)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._start_counts)

        ev = viewer.layers.events
        ev.inserted.connect(self._on_layers_changed)
        ev.removed.connect(self._on_layers_changed)
        if main is not None and getattr(main, "data", None) is not None:
            main.data.files_changed.connect(self.refresh)
        self.refresh()

    # -- layers --------------------------------------------------------------------------------------
    def data_layers(self) -> list:
        if self.main is not None and getattr(self.main, "data", None) is not None:
            return self.main.data.used_layers()
        from .common import trajectory_layers

        return trajectory_layers(self.viewer)

    def roi_layer(self):
        name = self.layer_combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def new_roi_layer(self, name: str = "ROIs", rois=None, select: bool = True):
        """Add a Shapes layer for ROIs (2D, µm); assign it to the files without ROI layer."""
        data, types = shapes_from_rois(rois or [])
        kwargs = dict(ROI_STYLE)
        layer = self.viewer.add_shapes(data or None, shape_type=types or "rectangle", name=name,
                                       features=roi_features([r.name for r in rois or []]), text=dict(ROI_TEXT),
                                       units=("µm", "µm"), axis_labels=("y", "x"),
                                       metadata={METADATA_KEY: {"kind": "rois"}}, **kwargs)
        layer.current_edge_color = ROI_STYLE["edge_color"]
        layer.current_face_color = ROI_STYLE["face_color"]
        layer.current_edge_width = ROI_STYLE["edge_width"]
        for lay in self.data_layers():
            current = self._assignment.get(id(lay))
            if current is None or (current == WHOLE_FIELD and id(lay) not in self._explicit) or (
                    current != WHOLE_FIELD and current not in self.viewer.layers):
                self._assignment[id(lay)] = layer.name
        self.refresh()
        if select:
            self.layer_combo.setCurrentText(layer.name)
        return layer

    def draw(self, mode: str) -> None:
        layer = self.roi_layer() or self.new_roi_layer()
        self.viewer.layers.selection.active = layer
        layer.mode = mode

    def _on_layers_changed(self, event=None):
        from napari.layers import Shapes, Tracks

        layer = getattr(event, "value", None)
        if layer is None or isinstance(layer, (Shapes, Tracks)):
            self.refresh()

    def refresh(self, *_):
        layers = shapes_layers(self.viewer)
        names = [layer.name for layer in layers]
        for layer in layers:
            if id(layer) not in self._connected:
                sync_roi_labels(layer)
                layer.events.data.connect(self._on_shapes_changed(layer))
                layer.events.name.connect(self.refresh)
                self._connected.add(id(layer))
        current = self.layer_combo.currentText()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)
        # files
        data_layers = self.data_layers()
        cur_file = self.count_file.currentText()
        self.count_file.blockSignals(True)
        self.count_file.clear()
        self.count_file.addItems([layer.name for layer in data_layers])
        if cur_file in [layer.name for layer in data_layers]:
            self.count_file.setCurrentText(cur_file)
        self.count_file.blockSignals(False)
        self.files_table.setRowCount(len(data_layers))
        for i, lay in enumerate(data_layers):
            self.files_table.setItem(i, 0, QTableWidgetItem(lay.name))
            combo = QComboBox()
            combo.addItems(names + [WHOLE_FIELD])
            assigned = self._assignment.get(id(lay))
            if assigned is None or (assigned != WHOLE_FIELD and assigned not in names) or (
                    id(lay) not in self._explicit and assigned == WHOLE_FIELD and names):
                assigned = names[0] if names else WHOLE_FIELD
                self._assignment[id(lay)] = assigned
            combo.setCurrentText(assigned)
            combo.currentTextChanged.connect(self._assigner(id(lay)))
            self.files_table.setCellWidget(i, 1, combo)
        self.schedule_counts()

    def _on_shapes_changed(self, layer):
        def changed(event=None):
            sync_roi_labels(layer)
            self.schedule_counts()
            self.rois_changed.emit()

        return changed

    def _on_name_edited(self, item):
        if item.column() != 0 or self._filling:
            return
        layer = self.roi_layer()
        if layer is None or item.row() >= len(layer.data):
            return
        rename_roi(layer, item.row(), item.text())
        self._start_counts()
        self.rois_changed.emit()

    def rename(self, index: int, name: str, layer=None) -> None:
        """Name ROI ``index`` of the ROI layer shown ('' removes the name)."""
        rename_roi(layer or self.roi_layer(), index, name)
        self._start_counts()
        self.rois_changed.emit()

    def _assigner(self, layer_id):
        return lambda text: self._assign(layer_id, text)

    def _assign(self, layer_id, text):
        self._assignment[layer_id] = text
        self._explicit.add(layer_id)
        self.rois_changed.emit()

    def _apply_to_all(self):
        layer = self.roi_layer()
        for lay in self.data_layers():
            self._assignment[id(lay)] = layer.name if layer is not None else WHOLE_FIELD
            self._explicit.add(id(lay))
        self.refresh()
        self.rois_changed.emit()

    def _on_layer_choice(self, *_):
        self.schedule_counts()

    def _on_group(self, *_):
        self._fill_table()
        self.rois_changed.emit()

    def _select_shapes(self):
        layer = self.roi_layer()
        if layer is None:
            return
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        try:
            layer.selected_data = set(rows)
        except Exception:
            pass

    # -- ROIs and counts ------------------------------------------------------------------------------------
    def rois(self, layer=None) -> list:
        layer = layer or self.roi_layer()
        if layer is None:
            return []
        rois, _ = rois_of_layer(layer)
        return rois

    def schedule_counts(self, *_):
        self._timer.start()

    def _start_counts(self):
        """Count translocations per ROI and per support region, off the GUI thread."""
        if self._count_worker is not None:
            self._count_dirty = True
            return
        layer = self.roi_layer()
        rois, skipped = rois_of_layer(layer) if layer is not None else ([], [])
        self._rois, self._skipped = rois, skipped
        data_layers = {lay.name: lay for lay in self.data_layers()}
        traj = data_layers.get(self.count_file.currentText())
        group = self.group.isChecked()
        self._fill_table()
        if traj is None or not rois:
            self.counts, self.region_counts = {}, {}
            self._fill_table()
            return
        from .roi_layers import layer_acquisition

        analysis = getattr(self.main, "analysis", None)
        discard = bool(analysis is not None and analysis.discard_static.isChecked())

        def done(result):
            self.counts, self.region_counts = result
            self._fill_table()

        def finished():
            self._count_worker = None
            if self._count_dirty:
                self._count_dirty = False
                self._start_counts()

        self._count_worker = start_worker(
            step_counts, locations_of_layer(traj), layer_acquisition(traj), rois, group, discard, returned=done,
            finished=finished,
            what="could not count the translocations in the ROIs",
            errored=lambda exc: self.summary.setText(user_message("could not count", exc)))

    def _fill_table(self):
        from ..core.roi import group_overlapping, roi_label

        rois = getattr(self, "_rois", [])
        regions = group_overlapping(rois, group=self.group.isChecked()) if rois else []
        region_of = {}
        for reg in regions:
            for m in reg.members:
                region_of[m] = reg.label
        self._filling = True
        self.table.setRowCount(len(rois))
        for i, r in enumerate(rois):
            label = r.name or roi_label(i)
            cells = [label, r.kind, f"{r.area:.2f}", f"{self.counts[i]:,}" if i in self.counts else "…",
                     region_of.get(i, "")]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j != 0:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                else:
                    item.setToolTip(f"{label}: double-click to rename")
                self.table.setItem(i, j, item)
        self._filling = False
        parts = [f"{len(rois)} ROI(s) → {len(regions)} region(s)"]
        if self.region_counts:
            parts.append(", ".join(f"{k}: {v:,}" for k, v in self.region_counts.items()))
        skipped = getattr(self, "_skipped", [])
        if skipped:
            parts.append("ignored: " + "; ".join(f"shape {i}: {why}" for i, why in skipped))
        self.summary.setText("\n".join(parts))

    # -- files ------------------------------------------------------------------------------------------------
    def _import_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Import ROIs", "", ROI_FILTER)
        if path:
            self.import_rois(path)

    def import_rois(self, path) -> list:
        from ..core.errors import RoiFormatError
        from ..core.roi import read_rois

        try:
            rois = read_rois(path)
        except RoiFormatError as exc:
            notify_error(user_message("could not read the ROIs", exc, "napari-tramway reads its own .json ROI "
                                      "files and TRamWAy's tab-separated rectangles (.txt)"))
            return []
        layer = self.roi_layer()
        if layer is None:
            self.new_roi_layer(rois=rois)
        else:
            names = roi_names(layer)
            data, types = shapes_from_rois(rois)
            layer.add(data, shape_type=types)
            feats = layer.features.copy().reset_index(drop=True)
            feats["name"] = names + [r.name or "" for r in rois]
            layer.features = feats
            sync_roi_labels(layer)
        notify_info(f"napari-tramway: {len(rois)} ROI(s) imported from {path}")
        return rois

    def _export_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export ROIs", "rois.json", ROI_FILTER)
        if path:
            self.export_rois(path)

    def export_rois(self, path) -> None:
        from ..core.errors import RoiFormatError
        from ..core.roi import write_rois

        rois, skipped = rois_of_layer(self.roi_layer()) if self.roi_layer() is not None else ([], [])
        if skipped:
            notify_warning("napari-tramway: shapes left out: " + "; ".join(f"#{i}: {w}" for i, w in skipped))
        try:
            write_rois(path, rois, group_overlapping_rois=self.group.isChecked() if str(path).endswith(".json") else None)
        except RoiFormatError as exc:
            notify_error(str(exc))
            return
        notify_info(f"napari-tramway: {len(rois)} ROI(s) saved to {path}")

    # -- spec ----------------------------------------------------------------------------------------------
    def to_spec(self, spec) -> None:
        """Shared ROIs when every file uses the same layer; per-file ROIs otherwise."""
        layers = self.data_layers()
        chosen = [self._assignment.get(id(lay), WHOLE_FIELD) for lay in layers]
        spec.group_overlapping_rois = bool(self.group.isChecked())
        per_layer = {}
        for name in set(chosen):
            if name == WHOLE_FIELD or name not in self.viewer.layers:
                per_layer[name] = []
            else:
                per_layer[name] = self.rois(self.viewer.layers[name])
        if len(set(chosen)) <= 1:
            spec.rois = per_layer[chosen[0]] if chosen else []
            for f in spec.files:
                f.rois = None
        else:
            spec.rois = []
            for f, name in zip(spec.files, chosen):
                f.rois = list(per_layer[name])

    def from_spec(self, spec) -> None:
        """Put the spec's ROIs in Shapes layers ("ROIs", or "ROIs · <file>" for per-file ROIs)."""
        self.group.setChecked(bool(spec.group_overlapping_rois))
        self._set_layer_rois("ROIs", spec.rois)
        self._pending_files = []
        labels = spec.file_labels()
        for f, label in zip(spec.files, labels):
            name = "ROIs" if f.rois is None else f"ROIs · {label}"
            if f.rois is not None:
                self._set_layer_rois(name, f.rois)
            self._pending_files.append((f, name if (f.rois or spec.rois or f.rois is None) else WHOLE_FIELD))
        self.assign_from_spec(spec)
        self.refresh()
        self.rois_changed.emit()

    def assign_from_spec(self, spec) -> None:
        """Point each file's layer at its ROI layer (again once files read in the background arrive)."""
        if self.main is None:
            return
        for f, name in getattr(self, "_pending_files", []):
            layer = self.main.data.layer_for_file(spec, f)
            if layer is not None:
                rois = f.rois if f.rois is not None else spec.rois
                self._assignment[id(layer)] = name if rois else WHOLE_FIELD
                self._explicit.add(id(layer))
        self.refresh()

    def _set_layer_rois(self, name, rois):
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = []
            data, types = shapes_from_rois(rois)
            if data:
                layer.add(data, shape_type=types)
                layer.features = roi_features([r.name for r in rois])
                sync_roi_labels(layer)
        else:
            self.new_roi_layer(name, rois, select=False)
        self.layer_combo.setCurrentText(name)
