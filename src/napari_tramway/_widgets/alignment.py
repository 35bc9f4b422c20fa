"""The image alignment box of the Data tab: which wide-field image the trajectories belong to, its
pixel size (µm) and the position of its corner (µm) in the trajectories' frame."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
)

from .._layers import METADATA_KEY, ImageGrid, image_transform, locations_of_layer
from .common import image_layers


def spin(decimals, lo, hi, suffix, step=None) -> QDoubleSpinBox:
    """A spin box with its unit as suffix, that reports only finished edits."""
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSuffix(suffix)
    s.setKeyboardTracking(False)
    if step:
        s.setSingleStep(step)
    return s


class ImageAlignment(QGroupBox):
    """Image layer, pixel size and corner: applied to the image layer's scale, translate and units
    (µm), so that it overlays the trajectories (µm); ``selected_trajectories()`` gives the Tracks
    layer whose extent is compared with the image's."""

    def __init__(self, viewer, selected_trajectories, parent=None):
        super().__init__("Image alignment", parent)
        self.setToolTip("Trajectories are in µm: the image is placed under them by its pixel size and corner (µm)")
        self.viewer = viewer
        self.selected_trajectories = selected_trajectories
        il = QFormLayout(self)
        self.image_combo = QComboBox()
        self.image_combo.setToolTip("The wide-field image the trajectories belong to")
        self.image_combo.currentIndexChanged.connect(self._on_image)
        il.addRow("image", self.image_combo)
        self.pixel_size = spin(5, 0.00001, 1000.0, " µm", 0.005)
        self.pixel_size.setValue(0.1)
        self.pixel_size.setToolTip("Size of an image pixel (µm): the image layer's scale")
        self.pixel_size.valueChanged.connect(self._apply)
        il.addRow("image pixel (µm)", self.pixel_size)  # not the file setting "pixel size (µm)"
        self.offset_x = spin(4, -1e6, 1e6, " µm", 0.1)
        self.offset_y = spin(4, -1e6, 1e6, " µm", 0.1)
        for s, axis in ((self.offset_x, "x"), (self.offset_y, "y")):
            s.setToolTip("Position (µm) of the image's top-left corner in the trajectories' frame")
            s.valueChanged.connect(self._apply)
            il.addRow(f"corner {axis} (µm)", s)
        self.trajectories_in_pixels = QCheckBox("files in pixels of this image")
        self.trajectories_in_pixels.setToolTip("Read newly opened files with this pixel size (positions × pixel size)")
        il.addRow(self.trajectories_in_pixels)
        self.extent_info = QLabel("")
        self.extent_info.setWordWrap(True)
        il.addRow(self.extent_info)

    def refresh(self):
        current = self.image_combo.currentText()
        names = [layer.name for layer in image_layers(self.viewer)]
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        self.image_combo.blockSignals(False)
        self._on_image()

    def image_layer(self):
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def image_grid(self) -> ImageGrid | None:
        """The :class:`ImageGrid` of the chosen image (None without an image)."""
        layer = self.image_layer()
        return None if layer is None else ImageGrid.from_layer(layer)

    def _on_image(self, *_):
        layer = self.image_layer()
        for s in (self.pixel_size, self.offset_x, self.offset_y):
            s.setEnabled(layer is not None)
        if layer is not None:
            if all(str(u) == "pixel" for u in layer.units[-2:]):
                layer.units = list(layer.units)[:-2] + ["µm", "µm"]  # its scale is the pixel size in µm
            grid = self.image_grid()
            for s, v in ((self.pixel_size, grid.pixel_size), (self.offset_x, grid.origin[0]),
                         (self.offset_y, grid.origin[1])):
                s.blockSignals(True)
                s.setValue(v)
                s.blockSignals(False)
        self.update_extent_info()

    def _apply(self, *_):
        layer = self.image_layer()
        if layer is None:
            return
        scale, translate = image_transform((self.offset_x.value(), self.offset_y.value()), self.pixel_size.value())
        nd = layer.ndim
        layer.scale = list(layer.scale)[: nd - 2] + list(scale)
        layer.translate = list(layer.translate)[: nd - 2] + list(translate)
        layer.units = list(layer.units)[: nd - 2] + ["µm", "µm"]  # the scale bar reads µm
        md = layer.metadata.setdefault(METADATA_KEY, {"kind": "image"})
        md["pixel_size"] = float(self.pixel_size.value())
        md["origin"] = [float(self.offset_x.value()), float(self.offset_y.value())]
        self.update_extent_info()

    def update_extent_info(self):
        """Say where the image and the trajectories lie (µm), and how many locations fall on the image."""
        layer = self.image_layer()
        traj = self.selected_trajectories()
        parts = []
        g = self.image_grid() if layer is not None else None
        if g is not None:
            x0, x1, y0, y1 = g.extent()
            parts.append(f"image: x {x0:.2f}–{x1:.2f} µm, y {y0:.2f}–{y1:.2f} µm ({g.shape[1]}×{g.shape[0]} px)")
        if traj is not None:
            try:
                loc = locations_of_layer(traj)
            except Exception:
                loc = None
            if loc is not None and len(loc):
                x, y = loc["x"].to_numpy(), loc["y"].to_numpy()
                parts.append(f"trajectories: x {x.min():.2f}–{x.max():.2f} µm, y {y.min():.2f}–{y.max():.2f} µm")
                if g is not None:
                    inside = np.mean((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
                    parts.append(f"{100 * inside:.0f}% of the locations fall on the image")
        self.extent_info.setText("\n".join(parts))
