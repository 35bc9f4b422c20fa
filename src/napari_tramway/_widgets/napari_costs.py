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
  transparent text overlay of the canvas (public API).
"""

from __future__ import annotations

import weakref

#: Characters of colour-bar tick labels, the legend's time line and its punctuation.
TICK_GLYPHS = "0123456789.-+e−▮→:,=t s"
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
