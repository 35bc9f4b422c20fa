"""A user's session driven through the widgets: sample, ROIs, mesh, model, runs, maps as layers.

Run under ``xvfb-run -a -s "-screen 0 1280x1024x24"``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from widget_helpers import (
    POLYGON,
    RECT_A,
    RECT_B,
    Heartbeat,
    alive,
    draw_rois,
    set_file_setting,
    settle,
    wait_idle,
)

from napari_tramway._layers.colour import feature_name
from napari_tramway.pipeline import open_results

pytestmark = pytest.mark.gui


def roi_counts(widget):
    t = widget.rois.table
    return [t.item(i, 3).text() if t.item(i, 3) else "" for i in range(t.rowCount())]


def layer(viewer, prefix):
    hits = [la for la in viewer.layers if la.name.startswith(prefix)]
    assert hits, f"no layer named {prefix!r}…; layers: {[la.name for la in viewer.layers]}"
    return hits[0]


def check_layers_against_store(viewer, store, stacked=False):
    """Every done unit's maps (the store) = the layers' pixels at cell centres and the cells' features."""
    results = open_results(store)
    labels = results.labels()
    assert labels
    d_layer = layer(viewer, "log₁₀ D")
    cells = layer(viewer, "cells")
    features = cells.features
    checked = 0
    for label in labels:
        maps, meta = results.unit(label)
        t = maps.table
        f = features[features["unit"] == label]
        if stacked:
            f = f[f["window"] == meta["unit"]["segment_index"]]
        assert len(f) == len(t), label
        np.testing.assert_allclose(f["D (µm²/s)"].to_numpy(float), t["diffusivity"].to_numpy(float), equal_nan=True)
        for col in ("n", "potential", "force x"):
            if col in t.columns:
                np.testing.assert_allclose(f[feature_name(col)].to_numpy(float), t[col].to_numpy(float),
                                           equal_nan=True)
        # pixels: at each fitted cell's centre, the labels layer names the cell and the D layer holds log10 D
        ok = (t["n"] > 0).to_numpy() & np.isfinite(t["diffusivity"].to_numpy(float))
        centres = np.asarray(maps.mesh.centres)[ok]
        expected_label = f["index"].to_numpy()[ok]
        expected_d = np.log10(t["diffusivity"].to_numpy(float)[ok])
        window = [meta["unit"]["segment_index"]] if stacked else []
        hits = 0
        for (x, y), lab, dv in zip(centres, expected_label, expected_d):
            world = [*([cells.data_to_world([window[0], 0, 0])[0]] if stacked else []), y, x]
            ij = np.round(np.asarray(cells.world_to_data(world))).astype(int)
            if np.any(ij < 0) or np.any(ij >= np.asarray(cells.data.shape)):
                continue
            if cells.data[tuple(ij)] != lab:  # centre of a cell clipped by its ROI: not its pixel
                continue
            ij2 = np.round(np.asarray(d_layer.world_to_data(world))).astype(int)
            assert d_layer.data[tuple(ij2)] == pytest.approx(dv, rel=1e-5, abs=1e-6)
            hits += 1
        from napari_tramway._layers import region_of_unit

        inside = int(region_of_unit(meta).contains(centres).sum())
        assert hits >= 0.95 * inside - 2, (label, hits, inside, ok.sum())
        checked += hits
    return labels, checked


def test_in_process_session(session, qtbot, tmp_path):
    viewer, w = session
    assert "trajectories (simulated)" in viewer.layers
    tracks = viewer.layers["trajectories (simulated)"]
    assert tracks.metadata["frame_interval"] == pytest.approx(0.02)
    assert len(tracks.metadata["locations"]) == 60_000
    draw_rois(viewer, w)
    qtbot.waitUntil(lambda: len(roi_counts(w)) == 3 and all(c[:1].isdigit() for c in roi_counts(w)), timeout=20_000)
    counts = [int(c.replace(",", "")) for c in roi_counts(w)]
    assert all(c > 1000 for c in counts)
    # the mesh and model forms come from the registries
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.0})
    w.analysis.model.set_values("dv", {})
    form = w.analysis.mesh.form()
    assert form.fields["resolution"].label == "resolution (µm)"
    assert "µm" in form.fields["resolution"].tooltip
    w.environment.select("inprocess")
    spec = w.build_spec()
    assert [r.kind for r in spec.rois] == ["rectangle", "rectangle", "polygon"]
    assert spec.rois[0].bounds == pytest.approx((RECT_A[0, 1], RECT_A[0, 0], RECT_A[1, 1], RECT_A[1, 0]))
    assert spec.mesh.parameters.given == {"resolution": 1.0} and spec.model.name == "dv"

    # the mesh preview before running
    worker = w.analysis.preview()
    qtbot.waitUntil(lambda: "mesh preview" in viewer.layers, timeout=30_000)
    assert viewer.layers["mesh preview"].data.max() > 100
    assert "cells" in w.analysis.preview_info.text()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)

    beat = Heartbeat(15)
    beat.start()
    worker = w.runs.start()
    assert w.runs.run_button.text() == "Cancel"
    wait_idle(qtbot, w)
    beat.stop()
    print(f"\nGUI event loop during the in-process run: worst stall {1000 * beat.max_gap:.0f} ms, "
          f"99th percentile {1000 * np.percentile(beat.gaps, 99):.0f} ms")
    # (no timed assertion: the machine is shared; benchmarks/gui_stall.py measures the stalls)
    assert w.runs.run_button.text() == "Run"
    assert w.runs.summary.ok, w.runs.summary.describe()
    assert [w.runs.unit_state(u) for u in w.runs.unit_labels()] == ["done"] * 3
    labels, checked = check_layers_against_store(viewer, w.runs.analysis.store.root)
    assert len(labels) == 3 and checked > 100
    # one set of layers for the file (its three ROIs together), aligned with the image, with provenance
    d = layer(viewer, "log₁₀ D")
    md = d.metadata["napari_tramway"]
    assert md["spec"]["model"]["name"] == "dv" and md["environment"] == "inprocess"
    assert d.name == "log₁₀ D (µm²/s) · run 1 (DV, hexagon 1 µm)"  # named after its run
    assert md["software"].startswith("napari-tramway")
    assert sorted(md["units"]) == sorted(labels)
    assert d.colorbar.visible
    assert layer(viewer, "cells").contour == 1
    assert layer(viewer, "‖F‖ (kT/µm)").data.shape[1:] == (2, 2)
    assert not layer(viewer, "D sd").visible  # uncertainty: its own layer, hidden at first
    # maps below, arrows above them, cell outlines on top; the ROI layer above all
    order = [viewer.layers.index(layer(viewer, p)) for p in ("log₁₀ D", "V (kT)", "D sd", "‖F‖ (kT/µm)", "cells")]
    assert order == sorted(order)
    assert viewer.layers[-1].name == "ROIs"
    print("\nlayers on screen (unit, build s, arrival→screen s):", w.runs.layer_times)


def test_local_processes_time_windows(session, qtbot):
    viewer, w = session
    draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.analysis.model.set_values("d", {})
    w.analysis.set_time_windows(30.0)
    w.environment.select("local")
    w.environment.workers.setValue(2)
    spec = w.build_spec()
    assert spec.environment.name == "local" and spec.environment.options == {"worker_count": 2}
    w.runs.start()
    wait_idle(qtbot, w, timeout=180_000)
    assert w.runs.summary.ok, w.runs.summary.describe()
    results = open_results(w.runs.analysis.store.root)
    labels = results.labels()
    assert len(labels) == 6 and all("/t=" in lab for lab in labels)
    # time windows are a leading axis (per region); the slider axis is in seconds
    d = layer(viewer, "log₁₀ D")
    assert d.data.ndim == 3 and d.data.shape[0] == 2
    assert d.scale[0] == pytest.approx(30.0, rel=0.05)
    assert tuple(d.axis_labels) == ("t", "y", "x") and str(d.units[0]) == "second"
    stacks = [la for la in viewer.layers if la.name.startswith("log₁₀ D")]
    assert len(stacks) == 3, [la.name for la in stacks]  # one per region
    md = d.metadata["napari_tramway"]
    assert md["environment"] == "local"
    for region_layer in stacks:
        units = region_layer.metadata["napari_tramway"]["units"]
        cells = [la for la in viewer.layers if la.name == "cells · " + region_layer.name.split(" · ", 1)[1]][0]
        for label in units:
            maps, meta = results.unit(label)
            f = cells.features[cells.features["unit"] == label]
            np.testing.assert_allclose(f["D (µm²/s)"].to_numpy(float), maps.table["diffusivity"].to_numpy(float),
                                       equal_nan=True)
            assert set(f["window"]) == {meta["unit"]["segment_index"]}


def test_cancel_and_responsiveness(session, qtbot):
    """A long run on a local worker process: the GUI keeps ticking while maps arrive; Cancel stops
    the run (the worker is killed) and keeps what was done."""
    viewer, w = session
    draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 0.4})
    w.analysis.model.set_values("dv", {"max_iter": 100000, "tolerance": 1e-12})
    w.analysis.set_time_windows(6.0)  # 10 windows × 3 regions: 30 units
    w.environment.select("local")
    w.environment.workers.setValue(1)
    beat = Heartbeat(15)
    beat.start()
    w.runs.start()
    # cancel once maps of a few units are on screen, while others are being fitted
    qtbot.waitUntil(lambda: len(w.runs.layer_times) >= 8, timeout=120_000)
    if w.runs.running:
        w.runs.run_button.click()  # the Run button is Cancel now
        assert w.runs.status.text().startswith("cancelling")
    wait_idle(qtbot, w, timeout=60_000)
    beat.stop()
    summary = w.runs.summary
    assert summary.cancelled, summary.describe()
    assert summary.count("done") >= 8 and summary.count("cancelled") >= 1
    assert set(summary.states.values()) <= {"done", "cancelled"}
    states = [w.runs.unit_state(u) for u in w.runs.unit_labels()]
    assert states.count("done") >= 8 and "cancelled" in states
    assert not any(alive(pid) for pid in w.runs.handle.env.pids)  # the worker process is gone
    assert w.runs.run_button.text() == "Run"
    # what was done is kept and shown
    results = open_results(w.runs.analysis.store.root)
    assert sorted(results.labels()) == sorted(u for u, st in summary.states.items() if st == "done")
    gaps = beat.gaps
    print(f"\nGUI event loop during a long run (local process) with maps arriving (heartbeat 15 ms, {len(gaps)} ticks "
          f"in {beat.times[-1] - beat.times[0]:.1f} s): worst stall {1000 * beat.max_gap:.0f} ms, "
          f"99th percentile {1000 * np.percentile(gaps, 99):.0f} ms, median {1000 * np.median(gaps):.0f} ms; "
          f"layers on screen (unit, build s, arrival→screen s): {w.runs.layer_times}")
    # (no timed assertion: the machine is shared; benchmarks/gui_stall.py measures the stalls)


def test_spec_round_trip(session, make_napari_viewer, qtbot, tmp_path):
    viewer, w = session
    draw_rois(viewer, w)
    w.rois.group.setChecked(True)
    w.analysis.mesh.set_values("kmeans", {"resolution": 1.2, "seed": 3})
    w.analysis.model.set_values("dd", {"diffusivity_prior": 2.0})
    w.analysis.set_time_windows(20.0, shift=10.0)
    w.environment.select("local")
    w.environment.workers.setValue(1)
    tracks = viewer.layers["trajectories (simulated)"]
    w.data.table.selectRow(0)
    set_file_setting(w, "localization_precision", "0.03")
    path = w.save_spec(tmp_path / "analysis.json")
    saved = json.loads(path.read_text())
    assert saved["format"] == "napari-tramway/spec"
    assert saved["files"][0]["localization_precision"] == pytest.approx(0.03)
    assert tracks.metadata["localization_precision"] == pytest.approx(0.03)

    # a second viewer, empty: loading the spec reads the file, draws the ROIs, sets the forms
    viewer2 = make_napari_viewer()
    _, w2 = viewer2.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    loaded = []
    workers = w2.load_spec(path, on_loaded=lambda: loaded.append(True))
    for worker in workers:
        qtbot.waitUntil(lambda worker=worker: not worker.is_running, timeout=30_000)
    qtbot.waitUntil(lambda: bool(loaded), timeout=10_000)
    assert any(la.name.startswith("simulated-cells") for la in viewer2.layers)
    assert "ROIs" in viewer2.layers and len(viewer2.layers["ROIs"].data) == 3
    spec1 = w.build_spec().to_dict()
    spec2 = w2.build_spec().to_dict()
    spec1.pop("name", None), spec2.pop("name", None)
    assert spec2 == spec1
    # Reset: default settings, data and ROIs kept
    w2.reset()
    spec3 = w2.build_spec()
    assert spec3.mesh.method == "hexagon" and spec3.model.name == "d" and spec3.time_windows is None
    assert len(spec3.rois) == 3 and len(spec3.files) == 1
    settle(w2, qtbot)


def test_roi_files_and_per_file_rois(session, qtbot, tmp_path):
    viewer, w = session
    draw_rois(viewer, w)
    qtbot.waitUntil(lambda: len(roi_counts(w)) == 3, timeout=10_000)
    w.rois.export_rois(tmp_path / "rois.json")
    w.rois.export_rois(tmp_path / "rois.txt")  # rectangles only: refused with a notification
    from napari_tramway.core.roi import read_rois

    rois = read_rois(tmp_path / "rois.json")
    assert [r.kind for r in rois] == ["rectangle", "rectangle", "polygon"]
    assert sorted(map(tuple, np.round(rois[2].vertices[:, ::-1], 9))) == sorted(map(tuple, POLYGON))
    layer2 = w.rois.new_roi_layer("ROIs 2", select=True)
    w.rois.import_rois(tmp_path / "rois.json")
    assert len(layer2.data) == 3
    # group overlapping: a rectangle overlapping RECT_B joins its region
    layer2.add_rectangles(RECT_B + 1.0)
    w.rois.group.setChecked(True)
    qtbot.waitUntil(lambda: w.rois.table.rowCount() == 4, timeout=10_000)
    qtbot.waitUntil(lambda: "roi001-003" in w.rois.summary.text(), timeout=10_000)
    spec = w.build_spec()
    assert len(spec.rois) == 3  # the file still uses the first ROI layer
    # per-file ROIs: the file uses "ROIs 2"
    combo = w.rois.files_table.cellWidget(0, 1)
    combo.setCurrentText("ROIs 2")
    spec = w.build_spec()
    assert len(spec.rois) == 4 and spec.group_overlapping_rois


def test_failed_unit_is_reported_with_its_error(session, qtbot, monkeypatch):
    """A ROI where nobody moved: its unit fails; the table says why, a notification tells, the others go on."""
    viewer, w = session
    layer = draw_rois(viewer, w)
    layer.add_rectangles(np.array([[0.2, 0.2], [0.8, 0.8]]))  # a corner without any trajectory
    w.analysis.mesh.set_values("hexagon", {"resolution": 2.0})
    w.analysis.model.set_values("d", {})
    errors = []
    monkeypatch.setattr("napari_tramway._widgets.runs.notify_error", errors.append)
    monkeypatch.setattr("napari_tramway._widgets.runs.notify_warning", errors.append)
    w.runs.start()
    wait_idle(qtbot, w)
    summary = w.runs.summary
    assert summary.count("done") == 3 and summary.count("failed") == 1
    failed = [u for u, st in summary.states.items() if st == "failed"][0]
    assert failed.endswith("roi003")
    row = w.runs.unit_labels().index(failed)
    assert w.runs.table.item(row, 1).text() == "failed"
    assert "step" in w.runs.table.item(row, 2).text()  # the error itself
    assert "Traceback" in w.runs.table.item(row, 2).toolTip() or w.runs.table.item(row, 2).toolTip()
    assert any("roi003" in e for e in errors)
    assert any(la.name.startswith("log₁₀ D") for la in viewer.layers)  # the others are shown


def test_run_again_after_editing_an_roi(session, qtbot):
    """Move one ROI and run again in the same results directory: only its unit is computed again, the
    others are skipped, and the layers show the new maps of the moved region."""
    viewer, w = session
    layer = draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.analysis.model.set_values("d", {})
    w.runs.start()
    wait_idle(qtbot, w)
    assert w.runs.summary.ok and w.runs.summary.count("done") == 3
    moved = [np.asarray(d).copy() for d in layer.data]
    moved[1] = moved[1] + np.array([0.5, -0.5])  # RECT_B, half a micrometre aside
    layer.data = moved
    assert list(layer.shape_type) == ["rectangle", "rectangle", "polygon"]
    w.runs.start()
    wait_idle(qtbot, w)
    states = w.runs.summary.states
    assert sorted(states.values()) == ["done", "skipped", "skipped"], states
    assert [u for u, st in states.items() if st == "done"][0].endswith("roi001")
    labels, checked = check_layers_against_store(viewer, w.runs.analysis.store.root)
    assert len(labels) == 3 and checked > 20
    d_layers = [la for la in viewer.layers if la.name.startswith("log₁₀ D")]  # updated, not added again
    assert len(d_layers) == 1 and sorted(d_layers[0].metadata["napari_tramway"]["units"]) == sorted(labels)
