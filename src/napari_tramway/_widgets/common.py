"""Small helpers shared by the dock widgets: notifications, layer lookups, adding map layers."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal

from .._layers import METADATA_KEY, apply_display


def if_alive(fn):
    """Wrap a worker callback: do nothing when its widget was deleted meanwhile (viewer closed)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuntimeError as exc:
            if "has been deleted" in str(exc):
                return None
            raise

    return wrapper


def notify_info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(message)


def notify_warning(message: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(message)


def notify_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(message)


def tramway_md(layer) -> dict:
    md = (getattr(layer, "metadata", None) or {}).get(METADATA_KEY)
    return md if isinstance(md, dict) else {}


def is_map_layer(layer) -> bool:
    return tramway_md(layer).get("kind") in ("map", "cells", "vectors", "mesh")


def trajectory_layers(viewer) -> list:
    from napari.layers import Tracks

    return [layer for layer in viewer.layers if isinstance(layer, Tracks)]


def image_layers(viewer) -> list:
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image) and not is_map_layer(layer)]


def shapes_layers(viewer) -> list:
    from napari.layers import Shapes

    return [layer for layer in viewer.layers if isinstance(layer, Shapes)]


def is_layer_type(layer, layer_type: str) -> bool:
    """Whether ``layer`` is of napari type ``layer_type`` ('image', 'labels'...); works on proxies."""
    import napari.layers as L

    cls = {"image": L.Image, "labels": L.Labels, "vectors": L.Vectors, "shapes": L.Shapes, "tracks": L.Tracks,
           "points": L.Points, "surface": L.Surface}.get(layer_type)
    return cls is not None and isinstance(layer, cls)


def add_or_update(viewer, data, kwargs: dict, layer_type: str):
    """Add a layer-data tuple, or replace the data of the layer of the same name and type."""
    name = kwargs.get("name")
    layer = None
    if name is not None and name in viewer.layers:
        existing = viewer.layers[name]
        if is_layer_type(existing, layer_type):
            layer = existing
    if layer is None:
        layer = getattr(viewer, f"add_{layer_type}")(data, **kwargs)
        if tramway_md(layer).get("kind") == "map":
            # one colour bar per quantity: the first visible layer's, also when the user toggles eyes
            layer.events.visible.connect(lambda event=None: harmonize_maps(viewer, limits=False))
    else:
        if "scale" in kwargs and len(kwargs["scale"]) == layer.ndim:
            layer.scale = kwargs["scale"]
        if "translate" in kwargs and len(kwargs["translate"]) == layer.ndim:
            layer.translate = kwargs["translate"]
        if layer_type == "vectors":
            # one redraw of the arrows instead of one per property (100k arrows: ~0.1 s each)
            with layer.events.set_data.blocker(), layer.events.edge_color.blocker():
                layer.data = data
                if "features" in kwargs:
                    layer.features = kwargs["features"]
                if kwargs.get("edge_contrast_limits") is not None:
                    layer.edge_contrast_limits = kwargs["edge_contrast_limits"]
                layer.length = kwargs.get("length", layer.length)
            layer.events.edge_color()
        elif layer_type == "labels":
            layer.data = data
            if "features" in kwargs:
                layer.features = kwargs["features"]
        else:
            layer.data = data
            if "contrast_limits" in kwargs:
                layer.contrast_limits = kwargs["contrast_limits"]
        if "metadata" in kwargs:
            layer.metadata = kwargs["metadata"]
    apply_display(layer)
    return layer


def harmonize_maps(viewer, limits: bool = True) -> None:
    """Same contrast limits for the same quantity across units, and one colour bar per quantity.

    Colours are then comparable between cells and files; the colour bar is shown on the first
    visible layer of each quantity only (they would otherwise stack up in the canvas).
    """
    groups: dict = {}
    for layer in viewer.layers:
        md = tramway_md(layer)
        if md.get("kind") != "map" or not hasattr(layer, "contrast_limits"):
            continue
        groups.setdefault((md.get("column"), md.get("transform")), []).append(layer)
    for (column, _), layers in groups.items():
        lims = np.array([md_limits(layer) for layer in layers], float)
        lo, hi = float(np.nanmin(lims[:, 0])), float(np.nanmax(lims[:, 1]))
        if column == "potential" and len(layers) > 1:
            centre = float(np.nanmedian(lims.mean(axis=1)))
            half = max(hi - centre, centre - lo)
            lo, hi = centre - half, centre + half
        shown = False
        for layer in layers:
            if limits and np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                layer.contrast_limits = (lo, hi)
            on = bool(layer.visible) and not shown
            try:
                layer.colorbar.visible = on
            except Exception:
                pass
            shown = shown or on


def md_limits(layer):
    """The contrast limits a map layer was created with (kept in its metadata), else its own."""
    md = tramway_md(layer)
    lim = md.get("limits")
    if lim is None:
        lim = tuple(layer.contrast_limits)
        md["limits"] = lim
    return lim


class LayerFeeder(QObject):
    """Adds layer-data tuples to a viewer one per event-loop turn, so that the GUI stays responsive.

    Tuples for a layer name still waiting are replaced by newer ones (a unit's newer data wins).
    ``idle`` is emitted with the names added or updated and the GUI seconds spent, once the queue
    is empty (after harmonising colour limits and bars, and keeping the ROI layers on top).
    """

    idle = Signal(list, float)

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self._queue: OrderedDict = OrderedDict()
        self._to_show: list = []
        self._done: list[str] = []
        self._spent = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._step)

    @property
    def busy(self) -> bool:
        return bool(self._queue) or bool(self._to_show)

    def feed(self, layer_data) -> None:
        for data, kwargs, kind in layer_data:
            name = kwargs["name"]
            self._queue.pop(name, None)
            self._queue[name] = (data, kwargs, kind)
        if self._queue and not self._timer.isActive():
            self._timer.start()

    def _step(self):
        """One event-loop turn of work: show one layer added hidden at the previous turn, or add at
        most one new layer (hidden: its visual is drawn, and its shaders built, at the next turn);
        layers that exist already are updated together."""
        t0 = time.perf_counter()
        if self._to_show:
            layer = self._to_show.pop(0)
            layer.visible = True
            apply_display(layer)
        else:
            added = False
            for name in list(self._queue):
                data, kwargs, kind = self._queue[name]
                exists = name in self.viewer.layers and is_layer_type(self.viewer.layers[name], kind)
                if not exists and added:
                    continue
                del self._queue[name]
                try:
                    if exists:
                        add_or_update(self.viewer, data, kwargs, kind)
                    else:
                        layer = add_or_update(self.viewer, data, {**kwargs, "visible": False}, kind)
                        if kwargs.get("visible", True):
                            self._to_show.append(layer)
                        added = True
                    self._done.append(name)
                except Exception as exc:  # one bad layer must not block the others
                    notify_warning(f"napari-tramway: could not show {name}: {exc}")
        self._spent += time.perf_counter() - t0
        if not self._queue and not self._to_show:
            self._timer.stop()
            t1 = time.perf_counter()
            order_map_layers(self.viewer)
            raise_rois(self.viewer)
            harmonize_maps(self.viewer)
            self._spent += time.perf_counter() - t1
            done, spent = self._done, self._spent
            self._done, self._spent = [], 0.0
            self.idle.emit(done, spent)


def order_map_layers(viewer) -> None:
    """Within each set of map layers: images (maps, uncertainties) below, arrows above them,
    cell outlines on top — whatever the order they were added in."""
    rank = {"map": 0, "vectors": 1, "cells": 2}
    groups: dict = {}
    for layer in viewer.layers:
        md = tramway_md(layer)
        if md.get("kind") in rank:
            groups.setdefault(md.get("unit"), []).append(layer)
    layers = viewer.layers
    for group in groups.values():
        desired = sorted(group, key=lambda la: rank[tramway_md(la)["kind"]])  # stable: keeps image order
        if desired == sorted(group, key=layers.index):
            continue
        prev = layers.index(desired[0])
        for layer in desired[1:]:
            i = layers.index(layer)
            if i != prev + 1:
                layers.move(i, prev + 1)
            prev = layers.index(layer)


def raise_rois(viewer) -> None:
    """Keep the ROI shapes above the maps."""
    from napari.layers import Shapes

    layers = viewer.layers
    for layer in [la for la in layers if isinstance(la, Shapes)]:
        i = layers.index(layer)
        if i != len(layers) - 1:
            layers.move(i, len(layers))
