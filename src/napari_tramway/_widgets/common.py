"""Small helpers shared by the dock widgets: workers whose errors are handled once, notifications
with the cause and the fix, layer lookups, and the feeder that puts map layers on screen a little
at a time."""

from __future__ import annotations

import functools
import time
from collections import OrderedDict

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal

from .._layers import METADATA_KEY, apply_display, harmonize_maps, tramway_md
from . import gc_pauses
from .gui_first import GUI_WORK
from .napari_costs import (
    CanvasPaints,
    GlyphWarmer,
    inserted_inactive,
    layer_glyphs,
    paint_tools_on_demand,
)

__all__ = ["LayerFeeder", "find_layer", "if_alive", "notify_error", "notify_info", "notify_warning",
           "start_worker", "tramway_md", "user_message"]


def if_alive(fn):
    """Wrap a worker callback: do nothing when its widget was deleted meanwhile (viewer closed)."""

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


def user_message(what: str, exc: BaseException | str, fix: str = "") -> str:
    """One line for the user: what failed, the cause (the error names the file, line or field),
    and what to do: ``napari-tramway could not read x.csv: line 3: 'oops' is not a number — fix``."""
    cause = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    if not isinstance(exc, str) and type(exc).__name__ in ("FileNotFoundError", "PermissionError", "KeyError"):
        cause = f"{type(exc).__name__}: {cause}"
    return f"napari-tramway {what}: {cause}" + (f" — {fix}" if fix else "")


class _RunWithoutWarningsHook:
    """``run`` of superqt's ``WorkerBase`` without its capture of warnings.

    superqt replaces the process-wide ``warnings.showwarning`` (and filters) for as long as a
    worker runs. With workers overlapping (a run, a file read, ROI counts), their save and restore
    interleave: the hook of a finished worker can stay installed, and a warning raised later in
    any thread calls into that deleted worker — napari crashed (a segfault while adding a layer).
    Without it, warnings go where napari sends them (its notification hook under ``napari.run``).
    A worker that ends after its viewer closed (its signals deleted) ends quietly: an exception
    raised in the thread pool's thread would abort the process.
    """

    def run(self):
        try:
            self.started.emit()
            self._running = True
            try:
                result = self.work()
                if isinstance(result, Exception):
                    if isinstance(result, RuntimeError):
                        return  # the worker object was deleted (viewer closed): nothing to tell
                    raise result
                if not self.abort_requested:
                    self.returned.emit(result)
            except Exception as exc:
                self.errored.emit(exc)
            self._running = False
            self.finished.emit()
            self._finished.emit(self)
        except RuntimeError as exc:  # its signals were deleted with the viewer: an error here would abort
            if "has been deleted" not in str(exc):
                raise


def _worker_class(fn):
    import inspect

    from napari.qt.threading import FunctionWorker, GeneratorWorker

    base = GeneratorWorker if inspect.isgeneratorfunction(fn) else FunctionWorker
    if base not in _WORKER_CLASSES:
        _WORKER_CLASSES[base] = type(f"Tramway{base.__name__}", (_RunWithoutWarningsHook, base), {})
    return _WORKER_CLASSES[base]


_WORKER_CLASSES: dict = {}


def start_worker(fn, *args, what: str, fix: str = "", returned=None, yielded=None, finished=None, errored=None,
                 start: bool = True, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a napari worker thread whose errors are handled here, once.

    napari's re-raise of a worker's exception in the GUI thread is turned off (``_ignore_errors``):
    it would add a traceback and a second notification in napari, and abort a host without
    napari's exception hook. An error calls ``errored(exc)`` when given (which then tells the user
    itself), else shows one notification, :func:`user_message` ``(what, exc, fix)``. Callbacks are
    skipped once their widget is deleted. The worker leaves the process's warnings alone (see
    :class:`_RunWithoutWarningsHook`).
    """
    from napari.qt.threading import create_worker

    worker = create_worker(fn, *args, _ignore_errors=True, _start_thread=False, _worker_class=_worker_class(fn),
                           **kwargs)

    def on_error(exc):
        if errored is not None:
            errored(exc)
        else:
            notify_error(user_message(what, exc, fix))

    for signal, callback in (("returned", returned), ("yielded", yielded), ("finished", finished)):
        if callback is not None:
            getattr(worker, signal).connect(if_alive(callback))
    worker.errored.connect(if_alive(on_error))
    if start:
        worker.start()
    return worker


def is_map_layer(layer) -> bool:
    return tramway_md(layer).get("kind") in ("map", "cells", "vectors", "mesh")


def find_layer(viewer, key: str):
    """The napari-tramway layer whose metadata ``key`` is ``key`` (layers may be renamed), or None."""
    for layer in viewer.layers:
        if tramway_md(layer).get("key") == key:
            return layer
    return None


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
    """Whether ``layer`` is of napari type ``layer_type`` ('image', 'labels'...)."""
    return type(layer).__name__.lower() == layer_type


def update_layer(layer, data, kwargs: dict, layer_type: str) -> None:
    """Give an existing layer a newer layer-data tuple (its name, visibility and the user's
    display changes are kept). Only what changed is set: napari redraws a layer (its slice, contours,
    thumbnail) for each property set, changed or not."""
    for name in ("scale", "translate"):
        value = kwargs.get(name)
        if value is not None and len(value) == layer.ndim and not np.allclose(getattr(layer, name), value):
            setattr(layer, name, value)
    if layer_type == "vectors":
        # one redraw of the arrows instead of one per property (100k arrows: ~0.1 s each)
        with layer.events.set_data.blocker(), layer.events.edge_color.blocker():
            layer.data = data
            if "features" in kwargs:
                layer.features = kwargs["features"]
            if kwargs.get("edge_contrast_limits") is not None:
                layer.edge_contrast_limits = kwargs["edge_contrast_limits"]
            if kwargs.get("length") is not None and not np.isclose(layer.length, kwargs["length"]):
                layer.length = kwargs["length"]
        layer.events.edge_color()
    else:
        layer.data = data
        if "features" in kwargs:
            layer.features = kwargs["features"]
        if layer_type == "image" and "contrast_limits" in kwargs:
            layer.contrast_limits = kwargs["contrast_limits"]
    if "metadata" in kwargs:
        old = tramway_md(layer)
        new = dict(kwargs["metadata"][METADATA_KEY])
        for keep in ("stale", "limits_user", "bar_pending"):
            if keep in old:
                new[keep] = old[keep]
        layer.metadata = {**kwargs["metadata"], METADATA_KEY: new}
    apply_display(layer)


RANK = {"map": 0, "vectors": 1, "cells": 2}


def insert_index(viewer, md: dict) -> int:
    """Where a map layer goes: with the other layers of its run and collection (images below,
    arrows above them, cell outlines on top), else above everything but the ROI layers on top."""
    from napari.layers import Shapes

    layers = list(viewer.layers)
    rank = RANK.get(md.get("kind"), 0)
    same = [(i, RANK.get(tramway_md(la).get("kind"), 0)) for i, la in enumerate(layers)
            if tramway_md(la).get("group") == md.get("group") and md.get("group") is not None]
    if same:
        above = [i for i, r in same if r > rank]
        return min(above) if above else max(i for i, _ in same) + 1
    i = len(layers)
    while i > 0 and isinstance(layers[i - 1], Shapes):
        i -= 1
    return i


class LayerFeeder(QObject):
    """Adds layer-data tuples to a viewer a little at a time, so that the GUI stays responsive.

    A layer is identified by its metadata ``key`` (else its name): tuples for a layer still waiting
    are replaced by newer ones, and a layer on screen gets the newer data in place (only what
    changed is set). Work starts once no new data came for :attr:`SETTLE_MS` (units finishing close
    together are then added once, not added then updated), or at the latest :attr:`MAX_WAIT_MS`
    after the first. Each event-loop turn (the next one :attr:`TURN_MS` after its end, so that
    other events come between them) does one thing with the canvas' repaints held; when that changed the picture,
    the next turn only lets the canvas repaint, so that a piece of work and the frame that shows
    it are never one long block of the GUI thread (see ``benchmarks/gui_stall.py``):

    * make a layer object (a Labels layer's painting tools are left to be built on demand, see
      :mod:`.napari_costs`), then render a few glyphs its legend line and colour bar will need;
    * insert it hidden (napari builds its controls and visual), leaving the active layer as it is
      (the picture has not changed: no repaint; see :mod:`.napari_costs`);
    * when it will hold its quantity's colour bar: make the bar, still hidden;
    * show it (its first draw builds its shaders and uploads its texture), then show its bar.

    While there is work, units running in this process wait (:mod:`.gui_first`). ``idle`` is
    emitted with the keys shown and the GUI seconds spent, once the queue is empty (after
    harmonising colour limits and bars and making the last cells layer active).
    """

    SETTLE_MS = 250
    MAX_WAIT_MS = 1500
    TURN_MS = 10
    idle = Signal(list, float)

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self._queue: OrderedDict = OrderedDict()
        self._to_show: list = []
        self._to_reveal: list = []
        self._to_insert: list = []
        self._done: list[str] = []
        self._spent = 0.0
        self._last_cells = None
        self._first_feed: float | None = None
        self._finishing: list = []
        self.turns: list[tuple[str, float]] = []
        """(what, seconds) of every turn: ``add <name>``, ``show <name>``, ``update <name>``, ``finish``."""
        self._glyphs = GlyphWarmer(viewer)
        self._paints = CanvasPaints(parent)
        self._draw_next = False  # the previous turn changed the picture: this one only repaints
        self._last_done = False  # the last finishing step ran
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)  # restarted at the end of each turn: TURN_MS of other events between turns
        self._timer.setInterval(self.TURN_MS)
        self._timer.timeout.connect(self._step)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self._timer.start)
        self.destroyed.connect(lambda *_: self._end_work())

    @property
    def busy(self) -> bool:
        """Layers waiting, or being put on screen."""
        return (bool(self._queue) or bool(self._to_show) or bool(self._to_insert) or bool(self._to_reveal)
                or self._glyphs.busy or self._timer.isActive()
                or self._settle.isActive())

    @staticmethod
    def key_of(kwargs) -> str:
        md = (kwargs.get("metadata") or {}).get(METADATA_KEY) or {}
        return md.get("key") or kwargs["name"]

    def feed(self, layer_data, settle: bool = True) -> None:
        """Queue layer-data tuples; ``settle=False`` starts at once (nothing more is coming)."""
        for data, kwargs, kind in layer_data:
            key = self.key_of(kwargs)
            self._queue.pop(key, None)
            self._queue[key] = (data, kwargs, kind)
        if not self._queue or self._timer.isActive():
            return
        now = time.perf_counter()
        if self._first_feed is None:
            self._first_feed = now
        waited = 1000 * (now - self._first_feed)
        if not settle or waited >= self.MAX_WAIT_MS:
            self._settle.stop()
            self._timer.start()
        else:
            self._settle.start(int(min(self.SETTLE_MS, self.MAX_WAIT_MS - waited)))

    def flush(self) -> None:
        """Start now: nothing more is coming (the run ended)."""
        if self._queue and not self._timer.isActive():
            self._settle.stop()
            self._timer.start()

    def _existing(self, key, kind):
        """The layer of ``key``: on screen, or made and waiting to be inserted."""
        layer = find_layer(self.viewer, key)
        if layer is None:
            layer = next((la for la, _ in self._to_insert if tramway_md(la).get("key") == key), None)
        return layer if layer is not None and is_layer_type(layer, kind) else None

    def _step(self):
        """One event-loop turn: either the repaint of what the previous turn changed, alone, or one
        piece of work, with the canvas' repaints held (see :meth:`_work`)."""
        t0 = time.perf_counter()
        GUI_WORK.begin(self)  # units in this process wait meanwhile (see gui_first)
        gc_pauses.hold(self)  # short collector pauses until the maps are on screen
        if self._paints.window_held:  # napari's widgets for the layer inserted: laid out and painted now
            self._paints.release_window()
            what = "layout"
            finished = self._last_done and not self._draw_next
        elif self._draw_next:  # the canvas repaints after this turn, in a turn of its own
            self._draw_next = False
            self._paints.release()
            what = "draw"
            finished = self._last_done
        else:
            self._paints.hold(window=bool(self._to_insert) and not (self._glyphs.busy or self._to_reveal
                                                                     or self._to_show))
            try:
                what = self._work()
            except Exception as exc:  # napari refused a layer: the others go on, nothing stays held
                self._paints.release()
                notify_warning(user_message("could not put a map on screen", exc))
                what = f"failed: {exc}"
            changed = not what.startswith(("add ", "make "))  # those leave the picture as it was
            self._draw_next = changed and self._paints.held
            finished = self._last_done and not self._draw_next and not self._paints.window_held
        if finished and (self._queue or self._to_show or self._to_insert or self._to_reveal or self._glyphs.busy):
            finished = self._last_done = False  # more came meanwhile: the finishing steps again after it
        dt = time.perf_counter() - t0
        self._spent += dt
        self.turns.append((what, dt))
        if not finished:
            self._timer.start()
        else:
            self._end_work()
            self._first_feed = None
            self._last_done = False
            done, spent = self._done, self._spent
            self._done, self._spent = [], 0.0
            self.idle.emit(done, spent)

    def _work(self) -> str:
        """One piece of work: show one layer inserted hidden at an earlier turn (its colour bar made
        at a turn of its own first), or update one layer on screen, or insert one new layer
        (hidden); once the queue is empty, one of the finishing steps (colour scales, then the
        active layer). Returns what it did."""
        if self._glyphs.busy:
            return f"glyphs {self._glyphs.step()}"
        if self._to_reveal:
            layer = self._to_reveal.pop(0)
            tramway_md(layer).pop("bar_pending", None)
            harmonize_maps(self.viewer, limits=False)
            return f"colour bar of {layer.name}"
        if self._to_show:
            layer = self._to_show[0]
            md = tramway_md(layer)
            if not md.get("bar_pending") and self._bar_first(layer):
                md["bar_pending"] = True  # shown at the turn after the layer's first draw
                layer.colorbar.visible = True  # napari builds the bar's visuals now (hidden with the layer)
                layer.colorbar.visible = False
                return f"make the colour bar of {layer.name}"
            self._to_show.pop(0)
            layer.visible = True
            apply_display(layer)
            if md.get("bar_pending"):
                self._to_reveal.append(layer)
            return f"show {layer.name}"
        if self._to_insert:
            layer, shown = self._to_insert.pop(0)
            with inserted_inactive(self.viewer):  # the user's active layer stays active
                self.viewer.layers.insert(insert_index(self.viewer, tramway_md(layer)), layer)
            apply_display(layer)
            if shown:
                self._to_show.append(layer)
            return f"add {layer.name}"
        if self._queue:
            return self._take_one()
        if not self._finishing:
            self._finishing = [harmonize_maps, self._activate_cells, self._clear_glyphs]
        step = self._finishing.pop(0)
        step(self.viewer)
        self._last_done = not self._finishing
        return f"finish: {step.__name__.strip('_')}"

    def _end_work(self) -> None:
        self._paints.release()
        GUI_WORK.end(self)
        gc_pauses.release(self)

    def _bar_first(self, layer) -> bool:
        """Whether ``layer``, about to be shown, will hold its quantity's colour bar and that bar is
        not made yet: it is then made at a turn of its own, before the layer's first draw."""
        md = tramway_md(layer)
        if not (md.get("display") or {}).get("colorbar") or not hasattr(layer, "colorbar") or layer.colorbar.visible:
            return False
        group = (md.get("column"), md.get("transform"))
        for other in self.viewer.layers:
            omd = tramway_md(other)
            if (other is not layer and other.visible and (omd.get("column"), omd.get("transform")) == group
                    and getattr(getattr(other, "colorbar", None), "visible", False)):
                return False  # another layer shows this quantity's bar
        return True

    def _take_one(self) -> str:
        # the cells (Labels) last: the last cells layer is made the active one at the end (hover
        # in the maps' units)
        key = next((k for k, v in self._queue.items() if v[2] != "labels"), next(iter(self._queue)))
        data, kwargs, kind = self._queue[key]
        del self._queue[key]
        self._finishing = []
        try:
            layer = self._existing(key, kind)
            if layer is not None:
                update_layer(layer, data, kwargs, kind)
                what = f"update {layer.name}"
            else:  # the layer made in this turn, added to napari at the next
                from napari.layers import Layer

                layer = Layer.create(data, {**kwargs, "visible": False}, kind)
                if kind == "labels":
                    paint_tools_on_demand(layer)
                if kwargs.get("visible", True):
                    self._glyphs.want(layer_glyphs(tramway_md(layer)))
                self._to_insert.append((layer, kwargs.get("visible", True)))
                what = f"make {layer.name}"
            if kind == "labels" and tramway_md(layer).get("kind") == "cells":
                self._last_cells = layer
            self._done.append(key)
            return what
        except Exception as exc:  # one bad layer must not block the others
            notify_warning(user_message(f"could not show {kwargs.get('name')}", exc))
            return f"failed {kwargs.get('name')}"

    def _clear_glyphs(self, viewer):
        self._glyphs.clear()

    def _activate_cells(self, viewer):
        """Make the last cells layer added the active one: hover then shows its features, the
        cell's values with their units (D in µm²/s...)."""
        cells = self._last_cells
        self._last_cells = None
        if cells is not None and cells in viewer.layers and cells.visible:
            viewer.layers.selection.active = cells
