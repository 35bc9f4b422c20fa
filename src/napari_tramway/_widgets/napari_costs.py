"""napari's own GUI-thread costs that putting maps on screen can avoid, or pay in short turns.

Measured with ``benchmarks/gui_stall.py`` (software OpenGL, 2 shared cores), each of these made a
GUI block of its own when maps arrived:

* a Labels layer builds the visuals of its painting tools (polygon and brush outlines: 60–170 ms,
  mostly vispy's dashed-line atlas) when it is inserted. :func:`paint_tools_on_demand` has them
  built when a painting mode is first chosen on that layer instead. This touches
  ``Layer._overlays``, which is not napari's public API, on a layer this plugin made and before it
  is inserted; if napari changes it, only the saving is lost.
* the first text drawn with a character renders its glyph (a signed-distance field, ~5 ms a
  character): the first colour bar and legend spent ~100 ms in glyphs, in the frame that first
  showed a map. :class:`GlyphWarmer` has them rendered a few per frame before that, in a
  transparent text overlay of the canvas (public API). The first text of that overlay also builds
  its shader program (~45 ms of vispy's Python); :class:`GlyphPrewarm` does that, and renders
  the characters of the maps' names and units, in the seconds after the panel opens.
* inserting a layer makes it napari's active layer: the layer controls switch (and the dock lays
  itself out again), the layer buttons and the previous active layer (the ROIs' highlight)
  update — 40–90 ms of each insert, and the user's active layer (the ROIs being edited) is taken
  away at every map. :func:`inserted_inactive` inserts without it. It sets the layer list's
  ``_activate_on_insert``, which is not napari's public API, on the viewer itself (the proxy
  napari gives plugins warns on private attributes); without it, layers are inserted as napari
  does by default. The feeder makes the last cells layer active once, at the end.
* the canvas redraws after every change, even the insert of a hidden layer (50–70 ms in software
  OpenGL), and Qt lays out and paints napari's layer list and controls after an insert — in the
  same event-loop turn as the change, so that the turn and its frame made one block.
  :class:`CanvasPaints` holds the canvas' repaints (and, for an insert, the window's) while the
  feeder works, and lets them through at a turn of their own. The canvas is found in Qt's widget
  tree (vispy's Qt canvas in the main window of the panel): napari's own attributes for it are
  private, and warn when a plugin touches them. Without it, nothing is held.

Left as it is: the first frame of a colour bar builds its four shader programs in vispy's Python
(~55 ms; the tick labels' text alone ~45 ms, mostly vispy's regular expression stripping shader
comments) and Mesa compiles them: 105–130 ms in software OpenGL, the one block over 100 ms left
in the sample's run. Nothing public builds them earlier or in parts.
"""

from __future__ import annotations

import contextlib
import weakref

#: Characters of colour-bar tick labels, the legend's time line and its punctuation.
TICK_GLYPHS = "0123456789.-+e−▮→:,=t s"
#: Characters of the maps' names, units and legends (rendered when the panel opens).
MAP_GLYPHS = TICK_GLYPHS + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ()[]/·‖₁₀²µ%_'"
#: Glyphs rendered per frame by :class:`GlyphWarmer` (~5 ms each in software).
GLYPHS_PER_TURN = 5
#: The name of the transparent text overlay in which glyphs are rendered.
GLYPH_OVERLAY = "napari_tramway_glyphs"
#: The Labels painting tools whose visuals are built on demand, with the modes that use them.
PAINT_TOOLS = {"polygon": ("polygon",), "brush_stroke": ("paint", "erase")}

_RENDERED: dict[int, set] = {}  # id(glyph overlay) → characters drawn in its canvas' font


def paint_tools_on_demand(layer) -> None:
    """Before a Labels layer is inserted: its painting tools' visuals are built when a painting
    mode is first chosen on it, not at insertion (the tools work as before)."""
    overlays = getattr(layer, "_overlays", None)
    if overlays is None or not hasattr(layer, "events") or not hasattr(layer.events, "mode"):
        return
    deferred = {}
    for name, modes in PAINT_TOOLS.items():
        overlay = overlays.get(name) if hasattr(overlays, "get") else None
        if overlay is not None and getattr(overlay, "visible", False):
            overlay.visible = False
            deferred[name] = (overlay, modes)
    if not deferred:
        return

    def on_mode(_event=None):
        mode = str(getattr(layer.mode, "value", layer.mode))
        for name, (overlay, modes) in list(deferred.items()):
            if mode in modes:
                overlay.visible = True  # napari builds its visual now
                del deferred[name]
        if not deferred:
            layer.events.mode.disconnect(on_mode)

    layer.events.mode.connect(on_mode)


def layer_glyphs(md: dict) -> str:
    """The characters a map layer will have drawn (legend line, colour-bar ticks), from its
    napari-tramway metadata."""
    texts = [md.get("title") or "", md.get("scale_text") or "", TICK_GLYPHS]
    if md.get("kind") == "vectors":
        texts.append(" colours to magma inferno viridis")
    return "".join(texts)


class GlyphWarmer:
    """Renders characters in the canvas' font a few per frame, in a transparent text overlay
    (napari's glyph cache is shared by every text of the canvas: legend, colour bars, scale bar).

    :meth:`want` queues characters not drawn yet in this viewer; each :meth:`step` puts the next
    few in the overlay (they are rendered at the next frame). Without an overlay (napari changed),
    nothing is queued.
    """

    def __init__(self, viewer):
        self.viewer = viewer
        self._todo: list[str] = []
        self._overlay = None

    @property
    def busy(self) -> bool:
        return bool(self._todo)

    def want(self, chars: str) -> None:
        overlay = self._glyph_overlay()
        if overlay is None:
            return
        rendered = _RENDERED.get(id(overlay), set())
        for c in dict.fromkeys(chars):
            if not c.isspace() and c not in rendered and c not in self._todo:
                self._todo.append(c)

    def step(self, count: int = GLYPHS_PER_TURN) -> str:
        """Put the next ``count`` characters in the overlay (rendered at the next frame); return them."""
        chunk, self._todo = self._todo[:count], self._todo[count:]
        overlay = self._glyph_overlay()
        if overlay is None:
            self._todo = []
            return ""
        _RENDERED.get(id(overlay), set()).update(chunk)
        overlay.text = "".join(chunk)
        return overlay.text

    def clear(self) -> None:
        overlay = self._glyph_overlay()
        if overlay is not None and overlay.text:
            overlay.text = ""

    def _glyph_overlay(self):
        if self._overlay is not None:
            return self._overlay
        try:
            overlays = self.viewer.canvas.overlays
            overlay = overlays.get(GLYPH_OVERLAY) if hasattr(overlays, "get") else None
            if overlay is None:
                from napari.components.overlays import TextOverlay

                overlay = TextOverlay(text="", color=(0, 0, 0, 0), box=False, position="bottom_left",
                                      font_size=6, visible=True)
                overlays[GLYPH_OVERLAY] = overlay
            if id(overlay) not in _RENDERED:
                _RENDERED[id(overlay)] = set()
                weakref.finalize(overlay, _RENDERED.pop, id(overlay), None)
        except Exception:  # napari without extensible canvas overlays: glyphs are drawn when first shown
            return None
        self._overlay = overlay
        return overlay


@contextlib.contextmanager
def inserted_inactive(viewer):
    """Within: inserting a layer in ``viewer`` leaves the active layer and the selection as they are."""
    layers = getattr(getattr(viewer, "__wrapped__", viewer), "layers", None)
    if layers is None or not isinstance(getattr(layers, "_activate_on_insert", None), bool):
        yield
        return
    before = layers._activate_on_insert
    layers._activate_on_insert = False
    try:
        yield
    finally:
        layers._activate_on_insert = before


class CanvasPaints:
    """Holds the repaints of a viewer's canvas (Qt updates of its OpenGL widget) while layers
    that do not change the picture are inserted, and on request those of the rest of its window
    (the layer list and controls napari lays out for a new layer). :meth:`release_window` and
    :meth:`release` let them repaint (once, at the next event-loop turn). Idempotent. ``anchor``
    is a widget in the viewer's window (the panel)."""

    def __init__(self, anchor):
        self.anchor = anchor
        self._held = None
        self._window = None
        self._canvas = None  # found once (a walk of the window's widgets), again if it was deleted

    @property
    def held(self) -> bool:
        return self._held is not None

    @property
    def window_held(self) -> bool:
        return self._window is not None

    def _main_window(self):
        from qtpy.QtWidgets import QMainWindow

        window = self.anchor
        while window is not None and not isinstance(window, QMainWindow):
            window = window.parentWidget()
        return window

    def _widget(self):
        """vispy's canvas widget in the main window of ``anchor`` (a floating dock still has it as
        its parent), or None."""
        from qtpy.QtWidgets import QWidget

        try:
            if self._canvas is not None:
                self._canvas.updatesEnabled()  # RuntimeError once Qt deleted it
                return self._canvas
        except RuntimeError:
            self._canvas = None
        try:
            window = self._main_window()
            if window is None:
                return None
            self._canvas = next((c for c in window.findChildren(QWidget)
                                 if type(c).__module__.startswith("vispy.app.backends")), None)
            return self._canvas
        except RuntimeError:  # deleted with its viewer
            return None

    def hold(self, window: bool = False) -> None:
        """Hold the canvas' repaints (and the window's, with ``window``)."""
        if self._held is None:
            widget = self._widget()
            if widget is None or not widget.updatesEnabled():
                return
            widget.setUpdatesEnabled(False)  # explicitly: it stays held when the window is released
            self._held = widget
        if window and self._window is None:
            with contextlib.suppress(RuntimeError):
                main = self._main_window()
                if main is not None and main.updatesEnabled():
                    main.setUpdatesEnabled(False)
                    self._window = main

    def release_window(self) -> None:
        main, self._window = self._window, None
        if main is not None:
            with contextlib.suppress(RuntimeError):  # deleted with its viewer
                main.setUpdatesEnabled(True)

    def release(self) -> None:
        self.release_window()
        widget, self._held = self._held, None
        if widget is None:
            return
        with contextlib.suppress(RuntimeError):  # the canvas was deleted with its viewer
            widget.setUpdatesEnabled(True)  # Qt schedules a repaint


class GlyphPrewarm:
    """When the panel opens: :class:`GlyphWarmer` renders :data:`MAP_GLYPHS` a few per frame
    (every :attr:`INTERVAL_MS`), before any map goes on screen. It steps aside while
    ``paused()`` is true (a run goes: a fit in this process would slow each frame down, and the
    feeder renders what it needs) and stops once everything is rendered."""

    INTERVAL_MS = 40

    def __init__(self, viewer, parent, paused=lambda: False):
        from qtpy.QtCore import QTimer

        self._paused = paused
        self._warmer = GlyphWarmer(viewer)
        self._warmer.want(MAP_GLYPHS)
        self._timer = QTimer(parent)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self.step)
        if self._warmer.busy:
            self._timer.start()

    @property
    def busy(self) -> bool:
        return self._timer.isActive()

    def step(self) -> None:
        from .gui_first import GUI_WORK

        if GUI_WORK.busy or self._paused():
            return
        if self._warmer.busy:
            self._warmer.step()
        else:
            self._timer.stop()
            self._warmer.clear()
