"""Analysis: the mesh and the model (forms generated from their registries), time windows, and a
preview of the mesh over the ROIs before running."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .common import add_or_update, if_alive, notify_error
from .forms import ParameterForm

PREVIEW_NAME = "mesh preview"


class RegistryChooser(QGroupBox):
    """A method chooser (combo of a registry's entries) and the chosen entry's parameter form."""

    def __init__(self, title: str, registry, default: str, parent=None):
        super().__init__(title, parent)
        self.registry = registry
        layout = QVBoxLayout(self)
        self.combo = QComboBox()
        for name in registry:
            entry = registry[name]
            self.combo.addItem(f"{entry.title} ({name})", name)
            self.combo.setItemData(self.combo.count() - 1, entry.help, 3)  # Qt.ToolTipRole
        layout.addWidget(self.combo)
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: #a0a0a0;")
        layout.addWidget(self.help)
        self.forms: dict[str, ParameterForm] = {}
        self.holder = QVBoxLayout()
        layout.addLayout(self.holder)
        self._advanced = False
        self.combo.currentIndexChanged.connect(self._show)
        self.set_method(default)

    @property
    def method(self) -> str:
        return self.combo.currentData()

    def form(self, name: str | None = None) -> ParameterForm:
        name = name or self.method
        if name not in self.forms:
            form = ParameterForm(self.registry[name])
            form.set_advanced(self._advanced)
            self.forms[name] = form
            self.holder.addWidget(form)
        return self.forms[name]

    def _show(self, *_):
        name = self.method
        for key, form in self.forms.items():
            form.setVisible(key == name)
        self.form(name).setVisible(True)
        entry = self.registry[name]
        self.help.setText(entry.help)

    def set_method(self, name: str) -> None:
        i = self.combo.findData(name)
        self.combo.setCurrentIndex(max(0, i))
        self._show()

    def set_advanced(self, shown: bool) -> None:
        self._advanced = shown
        for form in self.forms.values():
            form.set_advanced(shown)

    def values(self) -> dict:
        return self.form().values()

    def set_values(self, name: str, values: dict) -> None:
        self.set_method(name)
        self.form(name).set_values(values)


class AnalysisPanel(QWidget):
    """Mesh, model, time windows, and the mesh preview."""

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        from ..core.meshes import MESHES
        from ..core.models import MODELS
        from ..pipeline.spec import MeshSpec, ModelSpec

        self.viewer = viewer
        self.main = main
        self._preview_worker = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        scroll.setWidget(inner)
        outer.addWidget(scroll)

        self.advanced = QCheckBox("show advanced parameters")
        self.advanced.toggled.connect(self._on_advanced)
        layout.addWidget(self.advanced)

        self.mesh = RegistryChooser("Mesh (tessellation)", MESHES, MeshSpec().method)
        self.mesh.form().set_values(MeshSpec().parameters)
        layout.addWidget(self.mesh)
        row = QHBoxLayout()
        self.preview_button = QPushButton("Preview mesh")
        self.preview_button.setToolTip("Build the mesh on the ROIs of the first file and show its cells")
        self.preview_button.clicked.connect(self.preview)
        row.addWidget(self.preview_button)
        self.preview_info = QLabel("")
        self.preview_info.setWordWrap(True)
        row.addWidget(self.preview_info, 1)
        layout.addLayout(row)

        self.model = RegistryChooser("Model (inference)", MODELS, ModelSpec().name)
        layout.addWidget(self.model)

        self.time = QGroupBox("Time windows (a map per window; a slider in the viewer)")
        self.time.setCheckable(True)
        self.time.setChecked(False)
        tl = QFormLayout(self.time)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.001, 1e6)
        self.duration.setDecimals(3)
        self.duration.setValue(10.0)
        self.duration.setToolTip("Length of each window (s, or frames)")
        tl.addRow("duration", self.duration)
        shift_row = QHBoxLayout()
        self.shift = QDoubleSpinBox()
        self.shift.setRange(0.001, 1e6)
        self.shift.setDecimals(3)
        self.shift.setValue(10.0)
        self.shift.setToolTip("Time between the starts of two windows (s, or frames)")
        self.shift_auto = QCheckBox("= duration")
        self.shift_auto.setChecked(True)
        self.shift_auto.toggled.connect(lambda c: self.shift.setEnabled(not c))
        self.shift.setEnabled(False)
        shift_row.addWidget(self.shift)
        shift_row.addWidget(self.shift_auto)
        tl.addRow("shift", shift_row)
        self.frames = QCheckBox("duration and shift in frames")
        tl.addRow(self.frames)
        layout.addWidget(self.time)

        other = QGroupBox("Other settings")
        ol = QFormLayout(other)
        self.discard_static = QCheckBox("discard static steps (shorter than the localization error)")
        self.discard_static.setChecked(False)
        ol.addRow(self.discard_static)
        self.stage = QComboBox()
        from ..pipeline.spec import STAGES

        self.stage.addItems(list(STAGES))
        self.stage.setToolTip("tessellate_and_infer: meshes and maps; tessellate: meshes only; infer: maps on stored meshes")
        ol.addRow("stage", self.stage)
        self.stage_label = ol.labelForField(self.stage)
        layout.addWidget(other)
        layout.addStretch(1)
        self._on_advanced(False)

    def _on_advanced(self, shown):
        self.mesh.set_advanced(shown)
        self.model.set_advanced(shown)
        self.stage.setVisible(shown)
        if self.stage_label is not None:
            self.stage_label.setVisible(shown)

    # -- spec ------------------------------------------------------------------------------------------------
    def to_spec(self, spec) -> None:
        from ..pipeline.spec import MeshSpec, ModelSpec, TimeWindowSpec

        spec.mesh = MeshSpec(self.mesh.method, self.mesh.values())
        spec.model = ModelSpec(self.model.method, self.model.values())
        if self.time.isChecked():
            spec.time_windows = TimeWindowSpec(duration=float(self.duration.value()),
                                               shift=None if self.shift_auto.isChecked() else float(self.shift.value()),
                                               frames=bool(self.frames.isChecked()))
        else:
            spec.time_windows = None
        spec.discard_static = bool(self.discard_static.isChecked())
        spec.stage = self.stage.currentText()

    def from_spec(self, spec) -> None:
        self.mesh.set_values(spec.mesh.method, spec.mesh.parameters)
        self.model.set_values(spec.model.name, spec.model.parameters)
        tw = spec.time_windows
        self.time.setChecked(tw is not None)
        if tw is not None:
            self.duration.setValue(tw.duration)
            self.shift_auto.setChecked(tw.shift is None)
            if tw.shift is not None:
                self.shift.setValue(tw.shift)
            self.frames.setChecked(bool(tw.frames))
        self.discard_static.setChecked(bool(spec.discard_static))
        self.stage.setCurrentText(spec.stage)

    # -- preview ------------------------------------------------------------------------------------------------
    def preview(self) -> object | None:
        """Build the mesh of each support region of the first file (background thread) and show it."""
        if self.main is None:
            return None
        try:
            spec = self.main.build_spec(validate=False)
        except Exception as exc:
            notify_error(f"napari-tramway: cannot preview the mesh: {exc}")
            return None
        if not spec.files:
            notify_error("napari-tramway: open trajectories first (Data tab)")
            return None
        grid = self.main.data.image_grid()
        from napari.qt.threading import create_worker

        def work():
            from .._layers import layers_from_meshes
            from ..pipeline.data import DEFAULT_CACHE

            # the file read, cropped and meshed once, with the units of an in-process run
            meshes, regions = [], []
            for label in [r.label for r in DEFAULT_CACHE.regions(spec, 0)]:
                region, steps = DEFAULT_CACHE.region_steps(spec, 0, label)
                if not len(steps):
                    continue
                meshes.append(DEFAULT_CACHE.region_mesh(spec, 0, label))
                regions.append(region)
            return layers_from_meshes(meshes, regions, grid, name=PREVIEW_NAME), [m.n_cells for m in meshes], \
                [r.label for r in regions]

        worker = create_worker(work)
        self.preview_button.setEnabled(False)
        self.preview_info.setText("building…")

        def done(result):
            layers, counts, labels = result
            for data, kwargs, kind in layers:
                add_or_update(self.viewer, data, kwargs, kind)
            self.preview_info.setText(", ".join(f"{lab}: {n} cells" for lab, n in zip(labels, counts)) or "no step in the ROIs")

        def failed(exc):
            self.preview_info.setText("")
            notify_error(f"napari-tramway: mesh preview failed: {exc}")

        worker.returned.connect(if_alive(done))
        worker.errored.connect(if_alive(failed))
        worker.finished.connect(if_alive(lambda: self.preview_button.setEnabled(True)))
        worker.finished.connect(lambda: setattr(self, "_preview_worker", None))
        self._preview_worker = worker
        worker.start()
        return worker
