"""Data: the trajectory layers of the analysis, their metadata, and the image they belong to.

Trajectories are in µm (Tracks layers, scale 1 in space, the frame interval on the time axis);
the wide-field image is aligned on them by its layer scale (the pixel size, µm) and translate
(the position of its corner, µm). Frame interval and localization precision travel with each
trajectory layer (in its metadata) and into the analysis spec.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
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
from ..core.defaults import LOCALIZATION_PRECISION
from ..pipeline.labels import format_labels
from .alignment import ImageAlignment, spin
from .common import (
    notify_error,
    notify_info,
    start_worker,
    trajectory_layers,
    user_message,
)
from .layout import scrolling

#: What to do when a trajectory file cannot be read.
READ_FIX = ("check the file (docs/formats.md lists the formats and columns read), or give its columns "
            "and units when napari-tramway asks")

TRAJECTORY_FILTER = "Trajectories (*.txt *.trxyt *.trxyzt *.csv *.tsv *.xml *.dat);;All files (*)"


class DataPanel(QWidget):
    """Trajectory layers (files), their frame interval and σ, and the image alignment."""

    files_changed = Signal()

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self._excluded: set[int] = set()
        self._workers = []
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
        self.table.setMaximumHeight(150)
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
        self.frame_interval = spin(5, 0.00001, 1000.0, " s", 0.001)
        self.frame_interval.setToolTip("Time between frames (s); converts frame numbers to times")
        self.frame_interval.valueChanged.connect(self._store_meta)
        form.addRow("frame interval (s)", self.frame_interval)
        self.sigma = spin(4, 0.0, 10.0, " µm", 0.005)
        self.sigma.setToolTip("Localization precision σ (µm): the models correct D for it")
        self.sigma.setAccessibleName("localization precision σ")
        self.sigma.valueChanged.connect(self._store_meta)
        form.addRow("σ (µm)", self.sigma)
        self.file_info = QLabel("")
        self.file_info.setWordWrap(True)
        form.addRow(self.file_info)
        fl.addLayout(form)
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
        if layers:
            row = layers.index(selected) if selected in layers else 0
            self.table.selectRow(row)
        self._on_select()
        self.alignment.refresh()
        self.files_changed.emit()

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
        widgets = (self.label_edit, self.labels_edit, self.frame_interval, self.sigma)
        for w in widgets:
            w.blockSignals(True)
            w.setEnabled(layer is not None)
        try:
            if layer is None:
                self.file_info.setText("Open a trajectory file, drop one on the viewer, or open the sample "
                                       "(File ▸ Open Sample ▸ napari-tramway).")
                return
            md = layer.metadata or {}
            self.label_edit.setText(md.get("label") or "")
            self.labels_edit.setText(format_labels(md.get("labels")))
            self.labels_edit.setStyleSheet("")
            fi = md.get("frame_interval")
            self.frame_interval.setValue(float(fi) if fi else 0.02)
            lp = md.get("localization_precision")
            self.sigma.setValue(float(lp) if lp is not None else LOCALIZATION_PRECISION)
            self.file_info.setText(self._describe(layer))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.alignment.update_extent_info()

    def _describe(self, layer) -> str:
        md = layer.metadata or {}
        cache = getattr(self, "_descriptions", None)
        if cache is None:
            cache = self._descriptions = {}
        key = (id(layer), id(md.get("locations")), repr(md.get("reader")))
        if key in cache:
            return cache[key]
        cache[key] = text = self._describe_now(layer, md)
        return text

    def _describe_now(self, layer, md) -> str:
        try:
            loc = locations_of_layer(layer)
        except Exception:
            return ""
        if loc is None or not len(loc):
            return ""
        n_traj = loc["n"].nunique()
        x, y, t = loc["x"], loc["y"], loc["t"]
        reader = md.get("reader") or {}
        extra = f"; read with {reader}" if reader else ""
        return (f"{n_traj:,} trajectories, x {x.min():.2f}–{x.max():.2f} µm, y {y.min():.2f}–{y.max():.2f} µm, "
                f"t {t.min():.2f}–{t.max():.2f} s{extra}")

    def _store_meta(self, *_):
        layer = self.selected_layer()
        if layer is None:
            return
        md = layer.metadata
        old_interval = md.get("frame_interval")
        md["frame_interval"] = float(self.frame_interval.value())
        md["localization_precision"] = float(self.sigma.value())
        md["label"] = self.label_edit.text().strip() or None
        md.setdefault(METADATA_KEY, {"kind": "trajectories"})
        loc = md.get("locations")
        if loc is not None:
            loc.attrs["frame_interval"] = md["frame_interval"]
            loc.attrs["localization_precision"] = md["localization_precision"]
        if old_interval is None or abs(float(old_interval) - md["frame_interval"]) > 0.5 * 10 ** -self.frame_interval.decimals():
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

    def open_file(self, path, options: dict | None = None, frame_interval=None, localization_precision=None,
                  label=None, on_done=None):
        """Read a trajectory file in a background thread and add it as a Tracks layer.

        ``on_done(layer)`` is called once the layer is added, or ``on_done(None)`` if the file
        could not be read (or the user cancelled the column mapping).
        """
        from ..core.errors import TrajectoryFormatError

        opts = dict(options or {})
        if frame_interval is not None:
            opts["frame_interval"] = frame_interval
        if localization_precision is not None:
            opts["localization_precision"] = localization_precision
        if self.trajectories_in_pixels.isChecked() and "pixel_size" not in opts:
            opts.setdefault("space_unit", "pixel")
            opts["pixel_size"] = float(self.pixel_size.value())

        def done(locations):
            from .._reader import trajectory_layer_data

            data, kwargs, kind = trajectory_layer_data(path, locations, opts)
            if label:
                kwargs["metadata"]["label"] = label
            layer = self.viewer.add_tracks(data, **kwargs)
            if on_done is not None:
                on_done(layer)

        def failed(exc):
            from .columns import ask_column_mapping, is_column_problem

            if isinstance(exc, TrajectoryFormatError) and is_column_problem(exc):
                new = ask_column_mapping(path, str(exc), self)
                if new is not None:
                    self.open_file(path, {**opts, **new}, label=label, on_done=on_done)
                    return
            else:
                notify_error(user_message(f"could not read {Path(str(path)).name}", exc, READ_FIX))
            if on_done is not None:
                on_done(None)

        return self._read(path, opts, done, failed)

    def _read(self, path, opts: dict, done, failed):
        """``read_trajectories(path, **opts)`` in a background thread; ``done(locations)`` or
        ``failed(exc)`` (which tells the user: the error is handled once)."""
        from ..core.io import read_trajectories

        worker = start_worker(read_trajectories, path, **opts, what=f"could not read {path}", returned=done,
                              errored=failed, start=False)
        worker.finished.connect(lambda: self._workers.remove(worker) if worker in self._workers else None)
        self._workers.append(worker)
        worker.start()
        return worker

    def reread(self, layer):
        """Read a trajectory layer's file again with its current frame interval and σ, and show it:
        the layer's times (napari's time axis) and locations are then those the analysis reads.
        Layers without a file keep their own times. Returns the worker, if any."""
        md = layer.metadata
        path = md.get("path")
        if not path:
            return None
        opts = {**(md.get("reader") or {}), "frame_interval": md.get("frame_interval"),
                "localization_precision": md.get("localization_precision")}
        opts = {k: v for k, v in opts.items() if v is not None}

        def done(locations):
            from .._reader import trajectory_layer_data

            if layer not in self.viewer.layers or md.get("frame_interval") != opts.get("frame_interval"):
                return  # gone, or changed again meanwhile (a newer reading follows)
            data, kwargs, _ = trajectory_layer_data(path, locations, opts)
            new_md = {**kwargs["metadata"], "label": md.get("label")}
            layer.data = data
            layer.scale = kwargs["scale"]
            layer.tail_length, layer.head_length = kwargs["tail_length"], kwargs["head_length"]
            layer.metadata.update(new_md)
            self.refresh()

        def failed(exc):
            notify_error(user_message(f"could not read {Path(str(path)).name} again", exc, READ_FIX))

        return self._read(path, opts, done, failed)

    def _schedule_reread(self, layer):
        """After a change of frame interval: the times of a file of frame numbers change, and the
        tracks' time axis with them (read again once the value settles)."""
        if layer not in self._to_reread:
            self._to_reread.append(layer)
        self._reread_timer.start()

    def _reread_pending(self):
        layers, self._to_reread = self._to_reread, []
        for layer in layers:
            if layer in self.viewer.layers:
                self.reread(layer)

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
        write_trajectories_text(loc, path)
        md = layer.metadata
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
        from ..pipeline.spec import DataFile

        files = []
        for layer in self.used_layers():
            md = layer.metadata or {}
            path = md.get("path")
            if not path:
                raise ValueError(f"trajectory layer {layer.name!r} has no file: select it in the Data tab and "
                                 "'Save as…' first")
            fi = md.get("frame_interval")
            lp = md.get("localization_precision")
            files.append(DataFile(path=str(path), frame_interval=None if fi is None else float(fi),
                                  localization_precision=None if lp is None else float(lp),
                                  reader=dict(md.get("reader") or {}), label=md.get("label") or None,
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
        """Show the spec's files: reuse open layers, read the others; return the workers started."""
        workers = []
        wanted = []
        pending = [0]

        def loaded(_layer=None):
            pending[0] -= 1
            if pending[0] == 0 and on_all_loaded is not None:
                on_all_loaded()

        for f in spec.files:
            layer = self.layer_for_file(spec, f)
            if layer is not None:
                md = layer.metadata
                if f.frame_interval is not None and f.frame_interval != md.get("frame_interval"):
                    md["frame_interval"] = f.frame_interval
                    self._schedule_reread(layer)
                if f.localization_precision is not None:
                    md["localization_precision"] = f.localization_precision
                md["label"] = f.label
                md["labels"] = dict(f.labels)
                wanted.append(id(layer))
                continue
            pending[0] += 1
            workers.append(self.open_file(str(spec.resolve_path(f)), dict(f.reader), f.frame_interval,
                                          f.localization_precision, f.label, on_done=_labelled(f.labels, loaded)))
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
