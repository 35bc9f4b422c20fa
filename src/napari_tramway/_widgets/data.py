"""Data: the trajectory layers of the analysis, how each file is read, and the image they belong to.

Trajectories are in µm (Tracks layers, scale 1 in space, the frame interval on the time axis);
the wide-field image is aligned on them by its layer scale (the pixel size, µm) and translate
(the position of its corner, µm). How the selected file is read — its column mapping, the units of
its positions and times, pixel size, frame interval, σ — is the data-file settings form
(:mod:`.file_form`, generated from :data:`~napari_tramway.core.io.FILE_SETTINGS`: the fields of the
command line and of the spec's files); its values travel with the layer (``metadata["reader"]``)
into the analysis spec, and a change reads the file again (:mod:`.data_files`).
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
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

from .._layers import METADATA_KEY, locations_of_layer
from ..pipeline.labels import format_labels
from .alignment import ImageAlignment
from .common import notify_error, notify_info, trajectory_layers
from .data_files import FileReading
from .file_form import DOCK_LABEL_WIDTH, file_settings_form, settings_message, settings_of
from .layout import narrow, scrolling

__all__ = ["DataPanel"]

TRAJECTORY_FILTER = "Trajectories (*.txt *.trxyt *.trxyzt *.csv *.tsv *.xml *.dat);;All files (*)"


class DataPanel(FileReading, QWidget):
    """Trajectory layers (files), how each is read (the data-file settings form), and the image
    alignment."""

    files_changed = Signal()

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self._excluded: set[int] = set()
        self._workers = []
        self._refused: str | None = None
        self._filling = False
        self._to_reread: list = []
        self._reread_timer = QTimer(self)
        self._reread_timer.setSingleShot(True)
        self._reread_timer.setInterval(300)
        self._reread_timer.timeout.connect(self._reread_pending)
        layout = scrolling(self)

        files = QGroupBox("Trajectory files")
        fl = QVBoxLayout(files)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open trajectories: read a trajectory file (TRamWAy text, CSV, TrackMate XML…) "
                                    "as a Tracks layer")
        self.open_button.clicked.connect(self._open_dialog)
        row.addWidget(self.open_button)
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Write the selected trajectories (µm, s) to a TRamWAy text file, so that "
                                    "the analysis can read them (needed for tracks made by another plugin)")
        self.save_button.clicked.connect(self._save_selected)
        row.addWidget(self.save_button)
        fl.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["use", "layer", "locations", "file"])
        header = self.table.horizontalHeader()
        for col, mode in ((0, QHeaderView.ResizeMode.ResizeToContents), (1, QHeaderView.ResizeMode.Stretch),
                          (2, QHeaderView.ResizeMode.ResizeToContents), (3, QHeaderView.ResizeMode.Stretch)):
            header.setSectionResizeMode(col, mode)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._on_select)
        self.table.itemChanged.connect(self._on_item_changed)
        fl.addWidget(self.table)
        form = QFormLayout()
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("file name (default)")
        self.label_edit.setToolTip("The file's label in unit names and result paths")
        self.label_edit.editingFinished.connect(self._store_meta)
        form.addRow("label", self.label_edit)
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("condition=treated, replicate=2")
        self.labels_edit.setToolTip("What this file is, for the run's summary and its comparisons: KEY=VALUE pairs "
                                    "separated by commas (changing them recomputes nothing)")
        self.labels_edit.editingFinished.connect(self._store_labels)
        form.addRow("labels", self.labels_edit)
        fl.addLayout(form)
        heading = QLabel("<b>How to read it</b> (empty or <i>auto</i>: from the file)")
        heading.setWordWrap(True)
        heading.setToolTip("The data-file settings: the same as the command line's --columns, --space-unit, "
                           "--pixel-size, --time-unit, --frame-interval... and the spec's files (docs/formats.md)")
        fl.addWidget(heading)
        self.settings_form = file_settings_form()
        self.settings_form.wrap_labels(DOCK_LABEL_WIDTH)
        narrow(self.settings_form.native)
        self.settings_form.on_commit(self._commit_settings)
        fl.addWidget(self.settings_form.native)
        self.advanced = QCheckBox("advanced settings (scale factors)")
        self.advanced.toggled.connect(self.settings_form.set_advanced)
        fl.addWidget(self.advanced)
        self.read_as = QLabel("")
        self.read_as.setWordWrap(True)
        self.read_as.setStyleSheet("color: #a0a0a0;")
        self.read_as.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fl.addWidget(self.read_as)
        self.file_info = QLabel("")
        self.file_info.setWordWrap(True)
        fl.addWidget(self.file_info)
        layout.addWidget(files)

        self.alignment = ImageAlignment(self.viewer, self.selected_layer)
        self.image_combo, self.pixel_size = self.alignment.image_combo, self.alignment.pixel_size
        self.trajectories_in_pixels = self.alignment.trajectories_in_pixels
        layout.addWidget(self.alignment)
        layout.addStretch(1)

        self._connect_viewer()
        self.refresh()

    # -- viewer -------------------------------------------------------------------------------------
    def _connect_viewer(self):
        ev = self.viewer.layers.events
        ev.inserted.connect(self._on_layers_changed)
        ev.removed.connect(self._on_layers_changed)

    def _on_layers_changed(self, event=None):
        from napari.layers import Image, Tracks

        from .common import is_map_layer

        layer = getattr(event, "value", None)
        if layer is not None and (is_map_layer(layer) or not isinstance(layer, (Image, Tracks))):
            return  # maps, ROIs, labels...: nothing to show here
        if layer is not None and hasattr(layer, "events") and hasattr(layer.events, "name"):
            try:
                layer.events.name.connect(self._on_name)
            except Exception:
                pass
        self.refresh()

    def _on_name(self, event=None):
        self.refresh()

    def layers(self) -> list:
        """Trajectory layers in the table, in order."""
        return trajectory_layers(self.viewer)

    def used_layers(self) -> list:
        return [layer for layer in self.layers() if id(layer) not in self._excluded]

    def selected_layer(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        layers = self.layers()
        if rows and rows[0].row() < len(layers):
            return layers[rows[0].row()]
        return None

    def refresh(self):
        layers = self.layers()
        selected = self.selected_layer()
        self.table.blockSignals(True)
        self.table.setRowCount(len(layers))
        for i, layer in enumerate(layers):
            use = QTableWidgetItem()
            use.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            use.setCheckState(Qt.CheckState.Unchecked if id(layer) in self._excluded else Qt.CheckState.Checked)
            self.table.setItem(i, 0, use)
            self.table.setItem(i, 1, QTableWidgetItem(layer.name))
            md = layer.metadata or {}
            loc = md.get("locations")
            n = len(loc) if loc is not None else len(layer.data)
            self.table.setItem(i, 2, QTableWidgetItem(f"{n:,}"))
            path = md.get("path")
            item = QTableWidgetItem(Path(path).name if path else "(no file: save it first)")
            item.setToolTip(str(path or "These tracks are not read from a file napari-tramway knows"))
            self.table.setItem(i, 3, item)
        self.table.blockSignals(False)
        self._fit_table(len(layers))
        if layers:
            row = layers.index(selected) if selected in layers else 0
            self.table.selectRow(row)
        self._on_select()
        self.alignment.refresh()
        self.files_changed.emit()

    def _fit_table(self, rows: int) -> None:
        """The files table as high as its rows (at least two, at most 150 px): the form below stays in view."""
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        height += self.table.verticalHeader().defaultSectionSize() * max(2, rows)
        self.table.setFixedHeight(min(150, height + 2))

    def _on_item_changed(self, item):
        if item.column() != 0:
            return
        layers = self.layers()
        if item.row() >= len(layers):
            return
        layer = layers[item.row()]
        if item.checkState() == Qt.CheckState.Checked:
            self._excluded.discard(id(layer))
        else:
            self._excluded.add(id(layer))
        self.files_changed.emit()

    def _on_select(self):
        layer = self.selected_layer()
        widgets = (self.label_edit, self.labels_edit)
        for w in widgets:
            w.blockSignals(True)
            w.setEnabled(layer is not None)
        md = (layer.metadata or {}) if layer is not None else {}
        self.settings_form.enabled = bool(md.get("path"))  # settings describe a file
        self._refused = None
        self._filling = True  # the editors report the values set here: not the user's edits
        try:
            with self.settings_form.changed.blocked():
                self.settings_form.set_value(dict(md.get("reader") or {}))
            self._filling = False
            if layer is None:
                self.read_as.setText("")
                self.file_info.setText("Open a trajectory file, drop one on the viewer, or open the sample "
                                       "(File ▸ Open Sample ▸ napari-tramway).")
                return
            self.label_edit.setText(md.get("label") or "")
            self.labels_edit.setText(format_labels(md.get("labels")))
            self.labels_edit.setStyleSheet("")
            self._show_reading(layer)
            self.file_info.setText(self._describe(layer))
        finally:
            self._filling = False
            for w in widgets:
                w.blockSignals(False)
        self.alignment.update_extent_info()

    def _show_reading(self, layer) -> None:
        """What the last reading of the layer's file did (units, factors, frame interval, σ), or
        why it failed with the settings given."""
        md = layer.metadata or {}
        error, provenance = md.get("read_error"), md.get("provenance")
        if error:
            self.read_as.setStyleSheet("color: #e07070;")
            self.read_as.setText(f"cannot read it with these settings: {error}")
            return
        self.read_as.setStyleSheet("color: #a0a0a0;")
        if provenance is None:
            self.read_as.setText("" if md.get("path") else "Not read from a file: Save as… writes one.")
            self.read_as.setToolTip("")
            return
        lines = [ln for ln in provenance.describe()[1:] if not ln.startswith("warning: ")]
        if provenance.warnings:
            lines.append(f"⚠ {len(provenance.warnings)} warning(s): hover here")
        self.read_as.setText("Read as: " + "\n".join(lines))
        self.read_as.setToolTip("\n\n".join(provenance.warnings) or f"{provenance.path} ({provenance.format})")

    def _describe(self, layer) -> str:
        md = layer.metadata or {}
        cache = getattr(self, "_descriptions", None)
        if cache is None:
            cache = self._descriptions = {}
        key = (id(layer), id(md.get("locations")))
        if key in cache:
            return cache[key]
        cache[key] = text = self._describe_now(layer)
        return text

    def _describe_now(self, layer) -> str:
        try:
            loc = locations_of_layer(layer)
        except Exception:
            return ""
        if loc is None or not len(loc):
            return ""
        n_traj = loc["n"].nunique()
        x, y, t = loc["x"], loc["y"], loc["t"]
        return (f"{n_traj:,} trajectories, x {x.min():.2f}–{x.max():.2f} µm, y {y.min():.2f}–{y.max():.2f} µm, "
                f"t {t.min():.2f}–{t.max():.2f} s")

    def _store_meta(self, *_):
        layer = self.selected_layer()
        if layer is None:
            return
        md = layer.metadata
        md["label"] = self.label_edit.text().strip() or None
        md.setdefault(METADATA_KEY, {"kind": "trajectories"})
        self.files_changed.emit()

    def _commit_settings(self):
        """The form's settings, validated once (:class:`~napari_tramway.core.io.FileSettings`),
        into the selected layer's metadata; the file is then read again with them. A bad value is
        one notification naming its field (the same values are not reported twice), and changes
        nothing."""
        from ..core.errors import SettingsError

        layer = self.selected_layer()
        if self._filling or layer is None or not (layer.metadata or {}).get("path"):
            return
        try:
            settings = settings_of(self.settings_form)
        except SettingsError as exc:
            message = settings_message(layer.name, exc) + " — correct it in the Data tab"
            if message != self._refused:
                self._refused = message
                notify_error(message)
            return
        self._refused = None
        md = layer.metadata
        new = settings.to_dict()
        if new == (md.get("reader") or {}):
            return
        md["reader"] = new
        md.setdefault(METADATA_KEY, {"kind": "trajectories"})
        self._schedule_reread(layer)
        self.files_changed.emit()

    def _store_labels(self):
        """The labels field, parsed (:func:`~napari_tramway.pipeline.labels.parse_labels`) into the
        layer's metadata; a text that cannot be read is one notification and changes nothing."""
        from ..pipeline.labels import LabelError, parse_labels

        layer = self.selected_layer()
        if layer is None:
            return
        try:
            labels = parse_labels(self.labels_edit.text(), where=f"labels of {layer.name}")
        except LabelError as exc:
            self.labels_edit.setStyleSheet("color: #e06060;")
            notify_error(f"napari-tramway: {exc}")
            return
        self.labels_edit.setStyleSheet("")
        if labels != (layer.metadata.get("labels") or {}):
            layer.metadata["labels"] = labels
            self.files_changed.emit()

    # -- opening and saving files ----------------------------------------------------------------------
    def _open_dialog(self):
        paths, _ = QFileDialog.getOpenFileNames(self, "Open trajectory files", "", TRAJECTORY_FILTER)
        for p in paths:
            self.open_file(p)

    def _save_selected(self):
        layer = self.selected_layer()
        if layer is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save trajectories", f"{layer.name}.txt", "TRamWAy text (*.txt)")
        if path:
            self.save_layer(layer, path)

    def save_layer(self, layer, path) -> None:
        """Write a trajectory layer's locations to a TRamWAy text file and use that file."""
        from ..core.io import write_trajectories_text

        loc = locations_of_layer(layer)
        md = layer.metadata
        p = md.get("provenance")  # recorded: what the file or the user said, not an estimate or a default
        fi = p.frame_interval if p is not None and not p.frame_interval_estimated else None
        sigma = p.localization_precision if p is not None and p.localization_precision_source != "default" else None
        write_trajectories_text(loc, path, frame_interval=fi, localization_precision=sigma)
        md["path"] = str(Path(path).resolve())
        md["locations"] = loc
        md.setdefault(METADATA_KEY, {"kind": "trajectories"})
        notify_info(f"napari-tramway: trajectories saved to {path}")
        self.refresh()

    def image_grid(self):
        """The :class:`ImageGrid` of the chosen image (None without an image)."""
        return self.alignment.image_grid()

    # -- spec ------------------------------------------------------------------------------------------------
    def to_spec(self, spec) -> None:
        """The used layers as the spec's files: path, label, labels and the data-file settings."""
        from ..pipeline.spec import DataFile

        files = []
        for layer in self.used_layers():
            md = layer.metadata or {}
            path = md.get("path")
            if not path:
                raise ValueError(f"trajectory layer {layer.name!r} has no file: select it in the Data tab and "
                                 "'Save as…' first")
            files.append(DataFile(path=str(path), **dict(md.get("reader") or {}), label=md.get("label") or None,
                                  labels=dict(md.get("labels") or {})))
        spec.files = files

    def layer_for_file(self, spec, file) -> object | None:
        want = Path(spec.resolve_path(file)).resolve()
        for layer in self.layers():
            p = (layer.metadata or {}).get("path")
            if p and Path(p).resolve() == want:
                return layer
        return None

    def from_spec(self, spec, on_all_loaded=None) -> list:
        """Show the spec's files: reuse open layers (read again when the spec's settings differ),
        read the others; return the workers started."""
        workers = []
        wanted = []
        pending = [0]

        def loaded(_layer=None):
            pending[0] -= 1
            if pending[0] == 0 and on_all_loaded is not None:
                on_all_loaded()

        for f in spec.files:
            settings = f.settings.to_dict()
            layer = self.layer_for_file(spec, f)
            if layer is not None:
                md = layer.metadata
                if settings != (md.get("reader") or {}):
                    md["reader"] = settings
                    self._schedule_reread(layer)
                md["label"] = f.label
                md["labels"] = dict(f.labels)
                wanted.append(id(layer))
                continue
            pending[0] += 1
            workers.append(self.open_file(str(spec.resolve_path(f)), settings, label=f.label,
                                          on_done=_labelled(f.labels, loaded)))
        # use exactly the spec's files (those being read are added, and used, when they arrive)
        self._excluded = {id(layer) for layer in self.layers() if id(layer) not in wanted} if spec.files else set()
        self.refresh()
        if pending[0] == 0 and on_all_loaded is not None:
            on_all_loaded()
        return workers


def _labelled(labels: dict, then):
    """``on_done`` of a file opened from a spec: its labels into the new layer's metadata."""
    def done(layer):
        if layer is not None:
            layer.metadata["labels"] = dict(labels)
        then(layer)
    return done
