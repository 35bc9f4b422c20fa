"""Analysis: the mesh and the model (forms generated from their registries with magicgui), time
windows, and a preview of the mesh over the ROIs before running."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .common import LayerFeeder, start_worker
from .forms import ParameterForm, form_for
from .layout import narrow, scrolling

PREVIEW_NAME = "mesh preview"


class RegistryChooser(QGroupBox):
    """A method chooser (combo of a registry's entries) and the chosen entry's parameter form."""

    def __init__(self, title: str, registry, default: str, parent=None):
        super().__init__(title, parent)
        self.registry = registry
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
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
            form = form_for(self.registry[name])
            form.set_advanced(self._advanced)
            narrow(form.native)
            self.forms[name] = form
            self.holder.addWidget(form.native)
        return self.forms[name]

    def _show(self, *_):
        name = self.method
        for key, form in self.forms.items():
            form.visible = key == name
        self.form(name).visible = True
        self.help.setText(self.registry[name].help)

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


def time_window_parameters():
    """The time-window settings, as the analysis spec describes them (one description: the spec's)."""
    from ..pipeline.schema import schema_fields
    from ..pipeline.spec import TimeWindowSpec

    return tuple(kind.parameter for _, kind in schema_fields(TimeWindowSpec))


#: The window length a new form shows (s): the spec has no default, a window must be chosen.
FIRST_DURATION = 10.0


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
        self.feeder = LayerFeeder(viewer, self)
        layout = scrolling(self)

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

        self.time = QGroupBox("Time windows")
        self.time.setToolTip("A map per time window, stacked on a time axis (a slider in the viewer, in s)")
        self.time.setCheckable(True)
        self.time.setChecked(False)
        tl = QVBoxLayout(self.time)
        tl.setContentsMargins(6, 6, 6, 6)
        self.windows = form_for(time_window_parameters())
        self.windows.set_value({"duration": FIRST_DURATION})
        self.windows.fields["frames"].changed.connect(self._on_frames)
        tl.addWidget(self.windows.native)
        layout.addWidget(self.time)

        other = QGroupBox("Other settings")
        ol = QFormLayout(other)
        self.discard_static = QCheckBox("discard static steps")
        self.discard_static.setToolTip("Leave out the steps shorter than the localization error (σ)")
        self.discard_static.setChecked(False)
        ol.addRow(self.discard_static)
        self.stage = QComboBox()
        from ..pipeline.spec import STAGES

        self.stage.addItems(list(STAGES))
        self.stage.setToolTip("tessellate_and_infer: meshes and maps; tessellate: meshes only; infer: maps on the "
                              "meshes of an earlier 'tessellate' (same settings); tessellate_then_infer: meshes, "
                              "then maps (on a cluster: the maps' jobs start when the meshes' have succeeded)")
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

    def _on_frames(self, *_):
        unit = "frames" if self.windows.fields["frames"].value else "s"
        for name in ("duration", "shift"):
            self.windows.fields[name].label = f"{name} ({unit})"

    # -- spec ------------------------------------------------------------------------------------------------
    def to_spec(self, spec) -> None:
        from ..pipeline.spec import MeshSpec, ModelSpec, TimeWindowSpec

        spec.mesh = MeshSpec(self.mesh.method, self.mesh.values())
        spec.model = ModelSpec(self.model.method, self.model.values())
        if self.time.isChecked():
            w = self.windows.value
            spec.time_windows = TimeWindowSpec(duration=w["duration"], shift=w["shift"], frames=bool(w["frames"]))
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
            self.windows.set_value({"duration": tw.duration, "shift": tw.shift, "frames": bool(tw.frames)})
            self._on_frames()
        self.discard_static.setChecked(bool(spec.discard_static))
        self.stage.setCurrentText(spec.stage)

    def set_time_windows(self, duration: float | None, shift: float | None = None, frames: bool = False) -> None:
        """Time windows of ``duration`` (s, or frames), or none (``duration=None``)."""
        self.time.setChecked(duration is not None)
        if duration is not None:
            self.windows.set_value({"duration": duration, "shift": shift, "frames": frames})
            self._on_frames()

    # -- preview ------------------------------------------------------------------------------------------------
    def preview(self) -> object | None:
        """Build the mesh of each support region of the first file (background thread) and show it."""
        from .common import notify_error, user_message

        if self.main is None:
            return None
        try:
            spec = self.main.build_spec(validate=False)
        except Exception as exc:
            notify_error(user_message("cannot preview the mesh", exc, "check the Data and Analysis tabs"))
            return None
        if not spec.files:
            notify_error("napari-tramway: open trajectories first (Data tab)")
            return None
        grid = self.main.data.image_grid()

        def work():
            from .._layers import layers_from_meshes
            from .._layers.runs import region_title
            from ..pipeline.data import DEFAULT_CACHE

            # the file read, cropped and meshed once, with the units of an in-process run
            meshes, regions = [], []
            for label in [r.label for r in DEFAULT_CACHE.regions(spec, 0)]:
                region, steps = DEFAULT_CACHE.region_steps(spec, 0, label)
                if not len(steps):
                    continue
                meshes.append(DEFAULT_CACHE.region_mesh(spec, 0, label))
                regions.append(region)
            titles = [region_title(spec.to_dict(), 0, r.label) for r in regions]
            layers = layers_from_meshes(meshes, regions, grid, name=PREVIEW_NAME, titles=titles,
                                        metadata={"key": PREVIEW_NAME})
            return layers, [m.n_cells for m in meshes], titles

        def done(result):
            layers, counts, titles = result
            self.feeder.feed(layers, settle=False)
            self.preview_info.setText(", ".join(f"{t}: {n} cells" for t, n in zip(titles, counts)) or "no step in the ROIs")

        def failed(exc):
            self.preview_info.setText("")
            notify_error(user_message("could not preview the mesh", exc, "check the ROIs and the mesh settings"))

        def finished():
            self.preview_button.setEnabled(True)
            self._preview_worker = None

        self.preview_button.setEnabled(False)
        self.preview_info.setText("building…")
        self._preview_worker = start_worker(work, what="mesh preview", returned=done, errored=failed,
                                            finished=finished)
        return self._preview_worker
