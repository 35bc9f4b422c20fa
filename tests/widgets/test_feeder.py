"""The layer feeder puts maps on screen in short GUI turns (``benchmarks/gui_stall.py`` measures
them; no timed assertion here): what each turn does, and that every function stays — colour bars,
cell outlines, hover on the cells layer, the Labels painting tools, updates in place.

Run under ``xvfb-run -a -s "-screen 0 1280x1024x24"``.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from widget_helpers import settle

from napari_tramway._layers.sources import layers_from_path
from napari_tramway._widgets import gc_pauses
from napari_tramway._widgets.napari_costs import GLYPH_OVERLAY
from napari_tramway.core.roi import Rectangle

pytestmark = pytest.mark.gui

ROIS = [Rectangle(3.5, 8, 10.5, 16, name="cell A"), Rectangle(15, 16, 22, 21, name="cell B")]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A DF run of the sample's two cells (maps of D, its uncertainty and force arrows)."""
    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway._sample_data import sample_files

    _, _, _, _, path = sample_files()
    root = tmp_path_factory.mktemp("feeder") / "results"
    spec = AnalysisSpec(files=[DataFile(str(path), 0.02, 0.02)], rois=ROIS,
                        mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("df", {}))
    assert Analysis(spec, store=root).run(env="inprocess").ok
    return root


@pytest.fixture
def panel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-tramway", "cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    yield viewer, widget
    settle(widget, qtbot)


def feed(widget, qtbot, layer_data):
    feeder = widget.runs.feeder
    start = len(feeder.turns)
    feeder.feed(layer_data, settle=False)
    qtbot.waitUntil(lambda: not feeder.busy, timeout=60_000)
    return [what for what, _ in feeder.turns[start:]]


def by_prefix(viewer, prefix):
    return next(la for la in viewer.layers if la.name.startswith(prefix))


def index_of(turns, prefix):
    return next(i for i, what in enumerate(turns) if what.startswith(prefix))


def test_maps_arrive_in_short_turns_with_every_function(panel, store, qtbot):
    viewer, w = panel
    turns = feed(w, qtbot, layers_from_path(store))
    d = by_prefix(viewer, "log₁₀ D")
    cells = by_prefix(viewer, "cells ·")
    # a map: made, inserted hidden, its colour bar made (still hidden), shown, then its bar shown
    name = d.name
    order = [index_of(turns, f"{step} {name}") for step in
             ("make", "add", "make the colour bar of", "show", "colour bar of")]
    assert order == sorted(order), turns
    # the glyphs of its legend and colour bar were rendered before it was shown, then the
    # (transparent) overlay they were drawn in emptied
    assert index_of(turns, "glyphs") < order[3]
    glyphs = viewer.canvas.overlays[GLYPH_OVERLAY]
    assert glyphs.text == "" and glyphs.color[3] == 0
    # one colour bar, without napari's background box (nor behind the legend and scale bar)
    bars = [la for la in viewer.layers if hasattr(la, "colorbar") and la.colorbar.visible]
    assert bars == [d] and not d.colorbar.box
    assert not viewer.canvas.overlays["text"].box and not viewer.canvas.overlays["scale_bar"].box
    assert "log₁₀ D (µm²/s)" in viewer.canvas.overlays["text"].text
    # the cells last, made the active layer once at the end (hover in µm²/s), outlines on
    adds = [i for i, what in enumerate(turns) if what.startswith("add ")]
    assert turns[adds[-1]].startswith("add cells ·")
    assert viewer.layers.selection.active is cells and cells.contour == 1
    assert "D (µm²/s)" in cells.features.columns
    assert not by_prefix(viewer, "D sd").visible


def test_a_turn_and_the_frame_that_shows_it_are_apart(panel, store, qtbot):
    """Each turn that changes the picture is followed by a turn that only lets the canvas repaint;
    an insert (the picture unchanged) by one that lets napari lay out its layer list and controls;
    no repaint of the canvas happens inside an insert's turn; the user's active layer stays
    active until the end; nothing is held once the maps are on screen."""
    viewer, w = panel
    feeder = w.runs.feeder
    roi_layer = w.rois.new_roi_layer()
    assert viewer.layers.selection.active.name == roi_layer.name
    active, turns_at_frame = [], []
    start = len(feeder.turns)
    viewer.layers.selection.events.active.connect(lambda e: active.append(len(feeder.turns) - start))
    viewer.window.show()  # painted on the (virtual) display
    canvas = feeder._paints._widget()
    window = feeder._paints._main_window()
    assert canvas is not None and window is not None  # found through Qt's widget tree, not napari's privates
    canvas.frameSwapped.connect(lambda: turns_at_frame.append(feeder.turns[-1][0] if feeder.turns else ""))
    turns = feed(w, qtbot, layers_from_path(store))
    for i, what in enumerate(turns[:-1]):
        if what.startswith(("show ", "colour bar of", "update ", "glyphs ")):
            assert turns[i + 1] == "draw", (what, turns[i + 1])
        if what.startswith("add "):
            assert turns[i + 1] == "layout", (what, turns[i + 1])
    assert not any(what.startswith("add ") for what in turns_at_frame)  # no frame right after an insert
    assert turns_at_frame  # the canvas did repaint (after the draw turns)
    # the active layer changed only at the finishing step that makes the cells active
    assert active and min(active) > max(i for i, what in enumerate(turns) if what.startswith(("add ", "show ")))
    assert viewer.layers.selection.active.name == by_prefix(viewer, "cells ·").name
    assert canvas.updatesEnabled() and window.updatesEnabled()
    assert not feeder._paints.held and not feeder._paints.window_held


def test_a_layer_napari_refuses_is_one_notification_and_holds_nothing(panel, store, qtbot, monkeypatch):
    from napari_tramway._widgets import common

    viewer, w = panel
    feeder = w.runs.feeder
    told = []
    monkeypatch.setattr(common, "notify_warning", told.append)
    original = viewer.layers.insert
    calls = []

    def refuse_first(index, layer):
        calls.append(layer.name)
        if len(calls) == 1:
            raise ValueError("napari said no")
        return original(index, layer)

    monkeypatch.setattr(type(viewer.layers), "insert", lambda self, i, la: refuse_first(i, la))
    feed(w, qtbot, layers_from_path(store))
    assert len(told) == 1 and "napari said no" in told[0] and "could not put a map on screen" in told[0]
    assert len(calls) > 1  # the other maps went on
    assert not feeder._paints.held and not feeder._paints.window_held
    assert feeder._paints._widget().updatesEnabled() and feeder._paints._main_window().updatesEnabled()


def test_labels_painting_tools_are_built_when_first_used(panel, store, qtbot):
    viewer, w = panel
    feed(w, qtbot, layers_from_path(store))
    cells = by_prefix(viewer, "cells ·")
    tools = cells._overlays  # napari's (private) overlays of the layer: what the feeder defers
    assert not tools["polygon"].visible and not tools["brush_stroke"].visible
    cells.mode = "polygon"
    assert tools["polygon"].visible and tools["polygon"].enabled
    visuals = viewer.window._qt_viewer.canvas._layer_overlay_to_visual[cells]
    assert tools["polygon"] in visuals  # napari built the tool's visual on demand
    cells.mode = "paint"
    assert tools["brush_stroke"].visible and tools["brush_stroke"].enabled
    y, x = np.argwhere(np.asarray(cells.data) > 0)[0]
    cells.selected_label = 7
    cells.paint((y, x), 7, refresh=True)  # the painting tools work as on any Labels layer
    assert np.asarray(cells.data)[y, x] == 7


def test_newer_data_updates_only_what_changed(panel, store, qtbot):
    viewer, w = panel
    feed(w, qtbot, layers_from_path(store))
    layers = [by_prefix(viewer, p) for p in ("log₁₀ D", "‖F‖", "cells ·")]
    moved, changed = [], []
    for layer in layers:
        layer.events.scale.connect(lambda e, la=layer: moved.append(la.name))
        layer.events.translate.connect(lambda e, la=layer: moved.append(la.name))
        layer.events.data.connect(lambda e, la=layer: changed.append(la.name))
    turns = feed(w, qtbot, layers_from_path(store))  # the same maps again: updated in place
    assert all(any(what == f"update {la.name}" for what in turns) for la in layers), turns
    assert moved == []  # same place: napari is not asked to move (and redraw) them
    assert sorted(set(changed)) == sorted(la.name for la in layers)
    assert len([la for la in viewer.layers if la.name.startswith("log₁₀ D")]) == 1


def test_the_collector_scans_less_only_while_maps_go_on_screen(panel, store, qtbot, monkeypatch):
    viewer, w = panel
    feeder = w.runs.feeder
    seen = []
    original = feeder._step

    def step():
        original()
        seen.append(gc.get_freeze_count())

    monkeypatch.setattr(feeder, "_step", step)
    feeder._timer.timeout.disconnect()
    feeder._timer.timeout.connect(step)
    assert gc.get_freeze_count() == 0
    feed(w, qtbot, layers_from_path(store))
    assert seen and max(seen[:-1]) > 0  # while the maps went on screen: the objects alive before are not scanned
    assert gc.get_freeze_count() == 0  # then back to Python's collector: nothing kept alive longer
    monkeypatch.setenv("NAPARI_TRAMWAY_GC_FREEZE", "0")
    assert gc_pauses.hold(object()) is False and gc.get_freeze_count() == 0  # the user's choice: Python's default


def test_in_process_units_wait_while_the_gui_puts_maps_on_screen():
    import threading
    import time

    from napari_tramway._widgets.gui_first import GuiWork, _CancelAfterGui, gui_first
    from napari_tramway.environments.local import InProcess, LocalHost

    work, cancel = GuiWork(), threading.Event()
    seen = _CancelAfterGui(cancel, work)
    work.begin("feeder")
    answers = []
    unit = threading.Thread(target=lambda: answers.append((seen.is_set(), time.perf_counter())))
    unit.start()
    time.sleep(0.3)
    assert answers == []  # the unit waits at its check while the GUI works
    t_end = time.perf_counter()
    work.end("feeder")
    unit.join(5)
    assert answers and answers[0][0] is False and answers[0][1] >= t_end
    work.begin("feeder")
    cancel.set()
    assert seen.is_set() is True  # a cancellation is seen at once, GUI busy or not
    work.end("feeder")
    # only units run in this process wait; worker processes do not share napari's GIL
    env = InProcess()
    assert gui_first(env) is env and env._gui_first and gui_first(env) is env
    other = LocalHost(worker_count=1)
    assert gui_first(other) is other and not getattr(other, "_gui_first", False)
