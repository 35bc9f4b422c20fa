"""The dock widgets of napari-tramway; they only drive the pipeline API."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class TramwayWidget(QWidget):
    """Placeholder main panel (the full widgets come with the napari-plugin issue)."""

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        layout = QVBoxLayout(self)
        self.status = QLabel("napari-tramway: analysis widgets coming")
        layout.addWidget(self.status)
