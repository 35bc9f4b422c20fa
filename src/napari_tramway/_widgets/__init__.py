"""The dock widgets of napari-tramway: views of one analysis spec that only drive the library.

:class:`TramwayWidget` is the panel napari docks ("TRamWAy maps"): Save / Load / Reset spec, and
one tab per step of a session —

* **Data**: trajectory layers (files), how each is read (the data-file settings form), image alignment;
* **ROIs**: Shapes layers of ROIs, live translocation counts, grouping, ROI files, ROIs per file;
* **Analysis**: mesh and model forms generated from the registries, time windows, mesh preview;
* **Environment**: in-process, local processes or a cluster site; site check with Qt dialogs;
* **Runs**: Run/Cancel, every unit's state, maps added as layers as units finish, reattach;
* **Results**: the run's summary table and its conditions compared, updated as units finish.

Everything a widget does has a script twin in :mod:`napari_tramway.pipeline`: the spec saved
here runs unchanged with ``napari-tramway run spec.json``.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .analysis import AnalysisPanel
from .common import notify_error, notify_info
from .data import DataPanel
from .environment import EnvironmentPanel
from .layout import DOCK_WIDTH, narrow
from .results import ResultsPanel
from .rois import RoiPanel
from .runs import RunsPanel

__all__ = ["TramwayWidget", "DataPanel", "RoiPanel", "AnalysisPanel", "EnvironmentPanel", "RunsPanel", "ResultsPanel"]

SPEC_FILTER = "Analysis spec (*.json *.toml);;All files (*)"


class TramwayWidget(QWidget):
    """The napari-tramway panel: one analysis spec seen through six tabs."""

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        if napari_viewer is None:
            import napari

            napari_viewer = napari.current_viewer()
        self.viewer = napari_viewer
        from .._layers.display import install

        install(napari_viewer)
        self.spec_path: Path | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        bar = QHBoxLayout()
        self.save_button = QPushButton("Save spec…")
        self.save_button.setToolTip("Save the analysis spec (JSON): re-run it with `napari-tramway run spec.json`")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load spec…")
        self.load_button.setToolTip("Load an analysis spec (JSON or TOML): files, ROIs, mesh, model, environment")
        self.load_button.clicked.connect(self._load_dialog)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Default mesh, model, time windows and environment (data and ROIs are kept)")
        self.reset_button.clicked.connect(self.reset)
        for b in (self.save_button, self.load_button, self.reset_button):
            bar.addWidget(b)
        layout.addLayout(bar)
        self.spec_label = QLabel("")
        self.spec_label.setStyleSheet("color: #a0a0a0;")
        self.spec_label.setWordWrap(True)
        layout.addWidget(self.spec_label)

        self.tabs = QTabWidget()
        self.data = DataPanel(napari_viewer, self)
        self.rois = RoiPanel(napari_viewer, self)
        self.analysis = AnalysisPanel(napari_viewer, self)
        self.analysis.discard_static.toggled.connect(self.rois.schedule_counts)  # counts = steps the fit uses
        self.environment = EnvironmentPanel(napari_viewer, self)
        self.runs = RunsPanel(napari_viewer, self)
        self.results = ResultsPanel(napari_viewer, self)
        for panel, title, tip in (
                (self.data, "Data", "Trajectory files, how each is read (units, pixel size, frame interval, σ), "
                 "the image under them"),
                (self.rois, "ROIs", "Regions of interest: draw, name, import; translocations in each"),
                (self.analysis, "Analysis", "Mesh, model and time windows"),
                (self.environment, "Where", "Environment: where the units run (here, local processes, a cluster)"),
                (self.runs, "Runs", "Run, follow, cancel; every run's maps; figures"),
                (self.results, "Results", "The run's summary table, conditions compared, a figure")):
            self.tabs.addTab(panel, title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, tip)
        self.runs.unit_event.connect(self.results.on_event)
        from .napari_costs import GlyphPrewarm

        # the characters of the maps' names and units, rendered in the seconds after the panel opens
        self.glyphs = GlyphPrewarm(napari_viewer, self, paused=lambda: self.runs.busy or self.analysis.feeder.busy)
        layout.addWidget(self.tabs, 1)
        narrow(self)
        # maps made before their ROIs or file settings changed are marked stale
        self.rois.rois_changed.connect(self.runs.schedule_stale_check)
        self.data.files_changed.connect(self.runs.schedule_stale_check)
        # a question of the run (host key, password) stops waiting when the run is cancelled
        self.environment.bridge.cancelled = lambda: self.runs.cancel_requested
        self._docked = False

    def sizeHint(self):  # noqa: N802 (Qt API): the dock opens narrow, the canvas keeps the window
        hint = super().sizeHint()
        hint.setWidth(DOCK_WIDTH)
        return hint

    def event(self, event):
        """Closing the panel (its dock's ×) takes it out of the window: stop following its run
        then, as when the viewer closes (see :meth:`RunsPanel.shutdown`); nothing could cancel it later."""
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self._docked = False
                self.runs.shutdown()
        return super().event(event)

    # -- the spec ------------------------------------------------------------------------------------------
    def build_spec(self, validate: bool = True):
        """The analysis spec the widgets show (validated: raises :class:`SpecError` with every problem)."""
        from ..pipeline.spec import AnalysisSpec

        spec = AnalysisSpec()
        self.data.to_spec(spec)
        self.rois.to_spec(spec)
        self.analysis.to_spec(spec)
        self.environment.to_spec(spec)
        if self.spec_path is not None:
            spec.name = self.spec_path.stem
        if validate:  # the sections were checked when the tabs made them; check() does the rest, once
            spec.check(source="the napari-tramway panel")
        return spec

    def save_spec(self, path) -> Path:
        """Validate and save the spec (JSON); data paths are absolute."""
        spec = self.build_spec()
        path = spec.save(path)
        self.spec_path = Path(path)
        self.spec_label.setText(f"spec: {path}")
        return path

    def load_spec(self, spec_or_path, on_loaded=None):
        """Show a spec (object or file): read its files, draw its ROIs, set every form.

        Returns the workers reading the data files (already open files are reused).
        """
        from ..pipeline.spec import AnalysisSpec

        if not isinstance(spec_or_path, AnalysisSpec):
            self.spec_path = Path(spec_or_path)
            spec = AnalysisSpec.load(spec_or_path)
            self.spec_label.setText(f"spec: {spec_or_path}")
        else:
            spec = spec_or_path
        self.analysis.from_spec(spec)
        self.environment.from_spec(spec)

        def files_loaded():
            self.rois.assign_from_spec(spec)
            if on_loaded is not None:
                on_loaded()

        self.rois.from_spec(spec)
        return self.data.from_spec(spec, on_all_loaded=files_loaded)

    def reset(self):
        """Default settings (mesh, model, time windows, environment, grouping); keep data and ROIs."""
        from ..pipeline.spec import AnalysisSpec

        spec = AnalysisSpec()
        self.analysis.from_spec(spec)
        self.environment.from_spec(spec)
        self.rois.group.setChecked(spec.group_overlapping_rois)

    def _save_dialog(self):
        from ..pipeline.spec import SpecError

        path, _ = QFileDialog.getSaveFileName(self, "Save the analysis spec", "analysis.json", SPEC_FILTER)
        if not path:
            return
        try:
            self.save_spec(path)
        except SpecError as exc:
            notify_error("napari-tramway: the spec is not valid: " + "; ".join(f"{p}: {m}" for p, m in exc.problems))
            return
        except ValueError as exc:
            notify_error(f"napari-tramway: {exc}")
            return
        notify_info(f"napari-tramway: spec saved to {path}")

    def _load_dialog(self):
        from ..pipeline.spec import SpecError

        path, _ = QFileDialog.getOpenFileName(self, "Load an analysis spec", "", SPEC_FILTER)
        if not path:
            return
        try:
            self.load_spec(path)
        except SpecError as exc:
            notify_error(f"napari-tramway could not load {path}: " + "; ".join(f"{p}: {m}" for p, m in exc.problems)
                         + " — correct the spec file")
