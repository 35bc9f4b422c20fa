"""Stages chosen in the Analysis tab (advanced settings): meshes only, then maps on the stored
meshes, and the two chained in one run (``tessellate_then_infer``), as a user would click them.
Run under ``xvfb-run``."""

from __future__ import annotations

import pytest
from widget_helpers import draw_rois, wait_idle

pytestmark = pytest.mark.gui


def map_layers(viewer, prefix):
    return [la for la in viewer.layers if la.name.startswith(prefix)]


def d_on_hexagons(session):
    """The sample's three ROIs, D on hexagons of 1 µm."""
    viewer, w = session
    draw_rois(viewer, w)
    w.analysis.model.set_values("d", {})
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.0})
    return viewer, w


def run_stage(w, qtbot, stage):
    w.analysis.advanced.setChecked(True)  # the stage is an advanced setting
    assert not w.analysis.stage.isHidden()
    w.analysis.stage.setCurrentText(stage)
    w.runs.start()
    wait_idle(qtbot, w)
    return w.runs.summary


def test_chained_stage_from_the_gui_gives_meshes_then_maps(session, qtbot):
    viewer, w = d_on_hexagons(session)
    summary = run_stage(w, qtbot, "tessellate_then_infer")
    assert summary.ok and summary.count("done") == 3, summary.errors
    store = w.runs.analysis.store
    assert len(list(store.root.joinpath("tessellations").rglob("*.ntw"))) == 3  # one mesh per region, kept
    assert len(map_layers(viewer, "log₁₀ D")) == 1 and len(map_layers(viewer, "cells ·")) == 1
    assert w.runs.runs_table.item(0, 1).text().startswith("D fit — 3 of 3 units")
    # the spec saved from the panel runs the same chain from a script or the CLI
    spec = w.build_spec()
    assert spec.stage == "tessellate_then_infer"


def test_meshes_first_then_maps_on_the_stored_meshes(session, qtbot):
    viewer, w = d_on_hexagons(session)
    summary = run_stage(w, qtbot, "tessellate")
    assert summary.ok and summary.count("done") == 3, summary.errors
    assert map_layers(viewer, "log₁₀ D") == []  # meshes only: no map
    # but each region's cells, to check them before the fit, grouped with the run
    meshes = map_layers(viewer, "mesh · ")
    assert sorted(la.name for la in meshes) == [f"mesh · roi00{k} · run 1 (D, hexagon 1 µm)" for k in range(3)]
    assert all(la.visible and len(la.features) > 10 for la in meshes)
    key = next(iter(w.runs.entries))
    assert {la.name for la in w.runs.run_layers(key)} >= {la.name for la in meshes}
    assert w.runs.runs_table.item(0, 1).text().startswith("meshes — 3 of 3 units")
    summary = run_stage(w, qtbot, "infer")
    assert summary.ok and summary.count("done") == 3, summary.errors
    assert len(map_layers(viewer, "log₁₀ D")) == 1
