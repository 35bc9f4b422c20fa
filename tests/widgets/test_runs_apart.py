"""Runs kept apart and maps a biologist can read: two runs side by side, named after their
settings, with units; stale maps marked; named ROIs; readable progress; units on every form field.
Run under ``xvfb-run``."""

from __future__ import annotations

import numpy as np
import pytest
from widget_helpers import draw_rois, set_file_setting, settle, wait_idle

from napari_tramway._layers.display import legend_text, overlay
from napari_tramway._widgets.run_progress import RunProgress, format_duration
from napari_tramway.pipeline.events import UnitEvent

pytestmark = pytest.mark.gui


def names_starting(viewer, prefix):
    return [la.name for la in viewer.layers if la.name.startswith(prefix)]


def test_two_runs_with_different_meshes_side_by_side(session, qtbot):
    viewer, w = session
    draw_rois(viewer, w)
    w.analysis.model.set_values("d", {})
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.runs.start()
    wait_idle(qtbot, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 0.8})
    w.runs.start()
    wait_idle(qtbot, w)
    assert w.runs.summary.ok
    d = sorted(names_starting(viewer, "log₁₀ D"))
    assert d == ["log₁₀ D (µm²/s) · run 1 (D, hexagon 1.5 µm)", "log₁₀ D (µm²/s) · run 2 (D, hexagon 0.8 µm)"]
    run1, run2 = (viewer.layers[n] for n in d)
    assert run1.visible and run2.visible  # both
    cells1, cells2 = (viewer.layers[f"cells · {n.split(' · ', 1)[1]}"] for n in d)
    assert len(cells2.features) > 2 * len(cells1.features)  # finer hexagons: more cells
    # one colour scale and one colour bar for the quantity, titled with its unit and scale
    assert tuple(run1.contrast_limits) == pytest.approx(tuple(run2.contrast_limits))
    assert [run1.colorbar.visible, run2.colorbar.visible].count(True) == 1
    text = legend_text(viewer)
    assert "log₁₀ D (µm²/s)" in text and "log₁₀ scale: −1 = 0.1 µm²/s" in text
    assert overlay(viewer, "text").visible and overlay(viewer, "scale_bar").visible
    assert all(str(u) == "micrometer" for u in run2.units)
    # hover: the cells layer is active, its features are the cell's values in their units
    active = viewer.layers.selection.active
    assert active.name == "cells · run 2 (D, hexagon 0.8 µm)" and "D (µm²/s)" in active.features.columns
    # each run's layers are together in the layer list
    for run in ("run 1", "run 2"):
        idx = [i for i, la in enumerate(viewer.layers) if f"· {run} (" in la.name]
        assert idx == list(range(min(idx), max(idx) + 1)), (run, [la.name for la in viewer.layers])
    # the runs table: a row per run with its progress; hiding a run hides its layers
    rows = [w.runs.runs_table.item(i, 0).text() for i in range(w.runs.runs_table.rowCount())]
    assert rows == ["run 1 (D, hexagon 1.5 µm)", "run 2 (D, hexagon 0.8 µm)"]
    assert w.runs.runs_table.item(0, 1).text().startswith("D fit — 3 of 3 units in ")
    key1 = next(iter(w.runs.entries))
    w.runs.show_run(key1, False)
    assert not run1.visible and run2.visible
    w.runs.show_run(key1, True)
    assert run1.visible
    # on disk too: the second run has its own results directory, named after its settings
    stores = [e.run.key.split("|")[0] for e in w.runs.entries.values()]
    assert stores[1] == stores[0] + "/D hexagon 0.8 µm"
    # running the second settings again updates its layers (skipping its done units): no third run
    w.runs.start()
    wait_idle(qtbot, w)
    assert len(names_starting(viewer, "log₁₀ D")) == 2 and len(w.runs.entries) == 2
    assert w.runs.summary.count("skipped") == 3


def test_maps_whose_inputs_changed_are_marked_stale(session, qtbot):
    viewer, w = session
    rois = draw_rois(viewer, w)
    w.analysis.model.set_values("d", {})
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.runs.start()
    wait_idle(qtbot, w)
    d = viewer.layers[names_starting(viewer, "log₁₀ D")[0]]
    opacity = d.opacity
    key = next(iter(w.runs.entries))
    # renaming a ROI does not change the maps
    w.rois.rename(0, "nucleus")
    assert w.runs.check_stale() == {}
    moved = [np.asarray(x).copy() for x in rois.data]
    moved[1] = moved[1] + np.array([0.5, -0.5])
    rois.data = moved
    qtbot.waitUntil(lambda: bool(w.runs.entries[key].stale), timeout=10_000)
    assert w.runs.entries[key].stale == ["ROI roi001 changed"]
    assert d.name.endswith(" [stale]") and d.opacity <= 0.35
    assert w.runs.runs_table.item(0, 1).text().startswith("stale: ROI roi001 changed\nD fit — 3 of 3 units")
    assert "Run again" in w.runs.runs_table.item(0, 1).toolTip()
    # the ROI back where it was: the maps match their inputs again
    moved[1] = moved[1] - np.array([0.5, -0.5])
    rois.data = moved
    qtbot.waitUntil(lambda: not w.runs.entries[key].stale, timeout=10_000)
    assert not d.name.endswith("[stale]") and d.opacity == pytest.approx(opacity)
    # a file's σ changed
    w.data.table.selectRow(0)
    set_file_setting(w, "localization_precision", "0.05")
    qtbot.waitUntil(lambda: bool(w.runs.entries[key].stale), timeout=10_000)
    assert any("σ of" in r for r in w.runs.entries[key].stale)


def test_named_rois_on_canvas_in_layer_and_file_names(session, qtbot, tmp_path):
    viewer, w = session
    layer = draw_rois(viewer, w)
    w.rois.rename(0, "nucleus")
    assert list(layer.features["label"]) == ["nucleus", "roi001", "roi002"]
    assert layer.text.string.format == "{label}" and layer.text.visible  # drawn on the canvas
    qtbot.waitUntil(lambda: w.rois.table.item(0, 0) is not None and w.rois.table.item(0, 0).text() == "nucleus",
                    timeout=10_000)
    w.rois.table.item(1, 0).setText("cytoplasm")  # renamed in the table, as a user does
    assert list(layer.features["name"]) == ["nucleus", "cytoplasm", ""]
    assert [r.name for r in w.build_spec().rois] == ["nucleus", "cytoplasm", None]
    w.analysis.model.set_values("d", {})
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.analysis.set_time_windows(30.0)  # a stack per region: the region's name is in the layer names
    w.runs.start()
    wait_idle(qtbot, w, timeout=180_000)
    d = names_starting(viewer, "log₁₀ D")
    assert any(n.endswith("· nucleus") for n in d) and any(n.endswith("· cytoplasm") for n in d), d
    assert any(n.endswith("· roi002") for n in d)
    cells = viewer.layers[next(n for n in names_starting(viewer, "cells ·") if n.endswith("nucleus"))]
    assert set(cells.features["region"]) == {"nucleus"}
    # publication figures of the run, a colour scale per region: files named after the ROIs
    w.runs.save_figures(next(iter(w.runs.entries)), tmp_path / "fig.png", shared_scale=False)
    qtbot.waitUntil(lambda: w.runs._figure_worker is None, timeout=120_000)
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "fig D nucleus.png" in files and "fig D cytoplasm.png" in files, files
    settle(w, qtbot)


def test_progress_reads_like_a_sentence():
    clock = [100.0]
    p = RunProgress([f"u{i}" for i in range(40)], what="DV fit", clock=lambda: clock[0])
    assert p.describe() == "DV fit — 0 of 40 units — starting"
    p.update(UnitEvent("started", "u0", where="vm:1464"))
    for i in range(12):
        p.update(UnitEvent("done", f"u{i}"))
    clock[0] += 24.0  # 12 units in 24 s: 28 left take 56 s
    assert p.describe() == "DV fit — 12 of 40 units — 56 s left"
    p.update(UnitEvent("failed", "u12", error="ValueError: no step"))
    assert p.describe().endswith("— 1 failed")
    for i in range(13, 40):
        p.update(UnitEvent("done", f"u{i}"))
    clock[0] += 80.0
    p.finish()
    assert p.describe() == "DV fit — 40 of 40 units in 1 m 44 s — 1 failed"
    assert format_duration(80) == "1 m 20 s" and format_duration(7260) == "2 h 01 m"
    from napari_tramway._widgets.run_progress import unit_detail

    assert unit_detail(UnitEvent("started", "u0", where="vm:1464")) == ("running", "running on vm (process 1464)")
    assert unit_detail(UnitEvent("progress", "u0", fraction=0.45, message="DV, iteration 12")) == (
        "running", "DV, iteration 12 · 45 %")


def test_every_form_field_states_its_unit(qtbot):
    """Every number of the mesh, model, time-window, environment and data-file forms has its unit in its label
    (or says it has none), and an unset value shows as 'auto', never as a number."""
    from napari_tramway._widgets.analysis import time_window_parameters
    from napari_tramway._widgets.file_form import file_settings_form
    from napari_tramway._widgets.forms import AUTO, UNSET_HINT, UNSET_WORD, form_for
    from napari_tramway.analysis import environment_kinds
    from napari_tramway.core.meshes import MESHES
    from napari_tramway.core.models import MODELS

    entries = [*MESHES.values(), *MODELS.values(), *environment_kinds().values()]
    forms = [form_for(e) for e in entries] + [form_for(time_window_parameters()), file_settings_form()]
    checked = 0
    for form in forms:
        qtbot.addWidget(form.native)
        for p in form.parameters:
            field = form.fields[p.name]
            if p.type == "float":
                assert field.label.endswith(")"), field.label  # "(µm)", "(s)", "(no unit)"
                checked += 1
            if p.default is None and not p.required:
                if field.auto is not None:  # an integer: 'auto' ticked, the word 'unset' instead of a number
                    assert field.auto.value and not field.editor.visible and field.unset.value == f"<i>{UNSET_WORD}</i>"
                elif hasattr(field.editor, "choices"):
                    assert field.editor.value is None and AUTO in [c[0] for c in field.editor._widget._mgui_get_choices()]
                else:  # a text field: empty, with the grey hint 'auto (unset)'
                    assert field.editor.value == "" and field.editor.native.placeholderText() == UNSET_HINT
                assert field.value is None
    assert checked > 30
    w = form_for(time_window_parameters())
    assert w.fields["duration"].label == "duration (s)" and w.fields["shift"].label == "shift (s)"
