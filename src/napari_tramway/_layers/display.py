"""What a viewer shows around the map layers: colour bars (one per quantity, with its title and
unit), contours, a scale bar in µm, the time in s, and hover in the maps' units.

These functions use napari's public model API (layers, the canvas overlays ``scale_bar`` and ``text``,
``viewer.tooltip``, ``viewer.dims``), no Qt, and are cheap: they run on the GUI thread.

* napari's colour bar has ticks but no title: the text overlay (top right, above the colour bars)
  names each bar shown, top to bottom, with its unit and scale (``log₁₀ D (µm²/s)``), and the
  colours of the arrows (which have no colour bar);
* D is drawn as log₁₀ D; hovering the map with the cells layer active (it is made active when maps
  arrive) shows the cell's D in µm²/s, and every other column with its unit;
* with a time axis (time windows, trajectories), the overlay also says where the slider is, in s;
* the scale bar, the legend and the colour bars have no background box: napari rebuilds a box's
  shaders whenever any layer is added, which made every map added a longer GUI block.
"""

from __future__ import annotations

import numpy as np

from .colour import shared_limits
from .maps import METADATA_KEY, TIME_AXIS

_INSTALLED: set[int] = set()


def tramway_md(layer) -> dict:
    md = (getattr(layer, "metadata", None) or {}).get(METADATA_KEY)
    return md if isinstance(md, dict) else {}


def apply_display(layer) -> None:
    """Settings a layer-data tuple cannot carry (colour bar, label contours), from its metadata."""
    md = tramway_md(layer)
    display = md.get("display") or {}
    if display.get("colorbar") and hasattr(layer, "colorbar"):
        if layer.colorbar.box:
            layer.colorbar.box = False  # see install: no background box
        on = bool(layer.visible) and not md.get("bar_pending")
        if layer.colorbar.visible != on:
            layer.colorbar.visible = on
    if display.get("contour") and hasattr(layer, "contour") and layer.contour != int(display["contour"]):
        layer.contour = int(display["contour"])


def map_layers(viewer) -> list:
    return [la for la in viewer.layers if tramway_md(la).get("kind") == "map" and hasattr(la, "contrast_limits")]


def harmonize_maps(viewer, limits: bool = True) -> None:
    """Same colour limits for the same quantity across map layers (so colours compare between
    regions, files and runs), and one colour bar per quantity, on its first visible layer (they
    would otherwise stack up in the canvas). Limits are changed only when they differ. A layer whose
    metadata says ``bar_pending`` (the feeder shows its bar a turn after its first draw) keeps the
    bar's place without showing it."""
    groups: dict = {}
    for layer in map_layers(viewer):
        md = tramway_md(layer)
        groups.setdefault((md.get("column"), md.get("transform")), []).append(layer)
    for layers in groups.values():
        lo, hi = shared_limits(created_limits(layer) for layer in layers)
        shown = False
        for layer in layers:
            if limits and np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                if not np.allclose(layer.contrast_limits, (lo, hi)):
                    layer.contrast_limits = (lo, hi)
            # a layer's bar may be held back for a turn (its first draw comes first): it keeps its place
            pending = bool(layer.visible) and bool(tramway_md(layer).get("bar_pending"))
            on = bool(layer.visible) and not shown and not pending
            if layer.colorbar.visible != on:
                layer.colorbar.visible = on
            shown = shown or on or pending
    update_legend(viewer)


def created_limits(layer) -> tuple[float, float]:
    """The contrast limits a map layer was created with (kept in its metadata), else its own."""
    md = tramway_md(layer)
    lim = md.get("limits")
    if lim is None:
        lim = tuple(layer.contrast_limits)
        md["limits"] = lim
    return lim


def legend_text(viewer) -> str:
    """The text beside the colour bars: the time (when there is a time axis), then the title of
    each colour bar shown, in the order napari stacks them (top to bottom)."""
    lines = []
    labels = tuple(viewer.dims.axis_labels)
    timed = any(la.visible and la.ndim > 2 and TIME_AXIS in tuple(la.axis_labels) for la in viewer.layers)
    if timed and TIME_AXIS in labels:
        axis = labels.index(TIME_AXIS)
        if axis not in viewer.dims.displayed:
            lines.append(f"t = {float(viewer.dims.point[axis]):.2f} s")
    bars = [la for la in viewer.layers if hasattr(la, "colorbar") and la.visible and la.colorbar.visible]
    for layer in reversed(bars):  # napari stacks the top layer's bar first
        md = tramway_md(layer)
        title = md.get("title") or layer.name
        scale = md.get("scale_text")
        lines.append(f"▮ {title}" + (f"\n   {scale}" if scale else ""))
    shown = set()
    for layer in reversed(list(viewer.layers)):  # arrows have no colour bar: their colours in words
        md = tramway_md(layer)
        if md.get("kind") == "vectors" and layer.visible and md.get("title") not in shown:
            shown.add(md.get("title"))
            lo, hi = layer.edge_contrast_limits
            lines.append(f"→ {md.get('title')}: {layer.edge_colormap.name} colours, {lo:.3g} to {hi:.3g}")
    return "\n".join(lines)


def overlay(viewer, name: str):
    """A canvas overlay of ``viewer``: ``text`` or ``scale_bar`` (``viewer.canvas.overlays`` in napari 0.9)."""
    return getattr(viewer.canvas.overlays, name)


def update_legend(viewer) -> None:
    text = legend_text(viewer)
    overlay_ = overlay(viewer, "text")
    if overlay_.text != text:
        overlay_.text = text
        if overlay_.visible and text:  # napari places the colour bars beside it again: its size changed
            overlay_.visible = False
    if overlay_.visible != bool(text):
        overlay_.visible = bool(text)


def install(viewer) -> None:
    """Set up ``viewer`` for maps (idempotent): scale bar (µm), legend beside the colour bars,
    time readout, hover tooltip; and apply each napari-tramway layer's display settings as it comes."""
    if viewer is None or id(viewer) in _INSTALLED:
        return
    _INSTALLED.add(id(viewer))
    # no background boxes behind the scale bar, legend and colour bars: napari rebuilds each box's
    # shaders whenever a layer is added (~10 ms a box and a layer in software OpenGL)
    scale_bar = overlay(viewer, "scale_bar")
    scale_bar.box = False
    scale_bar.visible = True
    text = overlay(viewer, "text")
    text.box = False
    text.position = "top_right"
    text.font_size = 9
    text.text = " "
    text.visible = True  # its visual is made now, not when the first maps arrive
    viewer.canvas.overlay_tiling.top_right = "vertical"  # the legend above the colour bars, whatever its width
    viewer.tooltip.visible = True

    def on_insert(event):
        layer = event.value
        apply_display(layer)
        if tramway_md(layer).get("kind") == "map":
            layer.events.visible.connect(lambda _e=None: harmonize_maps(viewer, limits=False))
            harmonize_maps(viewer, limits=False)
        else:  # a layer with a time axis shown or hidden: the time line of the legend
            layer.events.visible.connect(lambda _e=None: update_legend(viewer))

    viewer.layers.events.inserted.connect(on_insert)
    viewer.layers.events.removed.connect(lambda _e=None: update_legend(viewer))

    def on_grid(_e=None):  # in a grid, colour bars are in each panel: the legend goes where none is
        text.position = "top_left" if viewer.canvas.grid.enabled else "top_right"

    viewer.canvas.grid.events.enabled.connect(on_grid)
    viewer.layers.events.moved.connect(lambda _e=None: update_legend(viewer))
    viewer.dims.events.point.connect(lambda _e=None: update_legend(viewer))
    try:
        import weakref

        weakref.finalize(viewer, _INSTALLED.discard, id(viewer))
    except TypeError:
        pass
