"""The Results tab: labels set in the Data tab, a run followed live (the table grows while units
finish), the comparison and the figure shown, and a screenshot. Run under ``xvfb-run``."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from widget_helpers import Heartbeat, settle, wait_idle

from napari_tramway.core.io.text import write_trajectories_text
from napari_tramway.core.simulate import simulate_conditions
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec, TimeWindowSpec

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def conditions_spec(tmp_path_factory):
    """Eight files, four per condition (D 0.1 and 0.08 µm²/s), DV on 1 µm hexagons, four time windows."""
    d = tmp_path_factory.mktemp("conditions")
    files = []
    for k, f in enumerate(simulate_conditions({"control": 0.1, "treated": 0.08}, 4, 6000, seed=15)):
        path = d / f"cell{k}.txt"
        write_trajectories_text(f["locations"], path, frame_interval=f["acquisition"].frame_interval,
                                localization_precision=f["acquisition"].localization_precision)
        files.append(DataFile(str(path), frame_interval=0.02, localization_precision=0.02,
                              labels={"condition": f["condition"], "replicate": str(f["replicate"])}))
    spec = AnalysisSpec(files=files, mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("dv", {}),
                        time_windows=TimeWindowSpec(5.0, 5.0), discard_static=False)
    return spec.save(d / "analysis.json")


def test_results_tab_follows_a_run_and_shows_the_table_and_figure(make_napari_viewer, qtbot, tmp_path,
                                                                   conditions_spec):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    try:
        w.load_spec(conditions_spec)
        qtbot.waitUntil(lambda: len(w.data.layers()) == 8, timeout=60_000)
        # the Data tab shows the selected file's labels; a mistake is one notification and changes nothing
        loaded = AnalysisSpec.load(conditions_spec)
        layer = w.data.layer_for_file(loaded, loaded.files[0])  # files are read in parallel: any order
        w.data.table.selectRow(w.data.layers().index(layer))
        assert w.data.selected_layer() is layer
        assert w.data.labels_edit.text() == "condition=control, replicate=0"
        w.data.labels_edit.setText("condition")
        w.data.labels_edit.editingFinished.emit()
        assert layer.metadata["labels"] == {"condition": "control", "replicate": "0"}
        w.data.labels_edit.setText("condition=control, replicate=0, operator=ada")
        w.data.labels_edit.editingFinished.emit()
        assert layer.metadata["labels"]["operator"] == "ada"
        spec = w.build_spec()
        by_path = {f.path: f.labels for f in spec.files}
        for f in loaded.files:
            expected = dict(f.labels, **({"operator": "ada"} if f is loaded.files[0] else {}))
            assert by_path[f.path] == expected

        updates, dones = [], []
        w.results.updated.connect(lambda table: updates.append((len(table), w.runs.running, time.perf_counter() - t0)))
        w.runs.unit_event.connect(lambda ev: dones.append(time.perf_counter() - t0) if ev.kind == "done" else None)
        n_units = None
        w.tabs.setCurrentWidget(w.results)
        beat = Heartbeat(15)
        beat.start()
        t0 = time.perf_counter()
        worker = w.runs.start(spec=spec, env_factory=lambda: "local:1", store=tmp_path / "results")
        assert worker is not None
        wait_idle(qtbot, w, timeout=300_000)
        run_seconds = time.perf_counter() - t0
        n_units = len(w.runs.current.units)
        qtbot.waitUntil(lambda: not w.results.busy and bool(updates) and updates[-1][0] == n_units, timeout=120_000)
        beat.stop()
        print(f"\n{n_units} units in {run_seconds:.1f} s; Results updates (rows, run still going): {updates}; GUI-thread time per "
              f"update {1000 * max(w.results.gui_seconds):.0f} ms at most; done at {[round(x, 1) for x in dones]}; GUI "
              f"heartbeat (15 ms) worst stall {1000 * beat.max_gap:.0f} ms, 99th percentile "
              f"{1000 * float(np.percentile(beat.gaps, 99)):.0f} ms")
        assert w.runs.summary.ok
        assert any(0 < rows < n_units and running for rows, running, _ in updates), "no update while the run went"
        assert [u[0] for u in updates] == sorted(u[0] for u in updates)
        # what the panel does in the GUI thread (the heartbeat's stalls, printed above, are the Runs
        # tab adding 32 stacked map layers: the same with the Results tab not following the run)
        assert max(w.results.gui_seconds) < 0.1
        # the table is the store's summary.csv, the comparisons are shown, the figure drawn
        table = pd.read_csv(tmp_path / "results" / "summary.csv")
        assert w.results.model.rowCount() == len(table) == n_units
        assert w.results.model.headerData(0, __import__("qtpy.QtCore").QtCore.Qt.Orientation.Horizontal) == "condition"
        text = w.results.status.text()

        assert "diffusivity: treated / control = " in text and "|force|: treated − control = " in text
        assert "potential depth: treated − control = " in text and "bootstrap over files (4 control, 4 treated)" in text
        assert "expanded percentile bootstrap over files" in w.results.status.toolTip()
        assert {c.quantity for c in w.results.comparisons} == {"diffusivity", "|force|", "potential", "potential depth"}
        assert not w.results.figure.original.isNull() and w.results.figure.original.width() > 400
        assert w.results.by_combo.currentText() == "condition"
        assert [w.results.reference_combo.itemText(i) for i in range(2)] == ["control", "treated"]
        # a screenshot of the tab (looked at when the test was written: table, comparison, four panels)
        viewer.window._qt_window.resize(1280, 1000)
        w.setMinimumWidth(640)
        qtbot.wait(300)
        pix = w.results.figure.pixmap()
        assert pix is not None and not pix.isNull() and pix.width() > 200  # scaled to the panel
        shot = w.results.grab()
        out = tmp_path / "results-tab.png"
        assert shot.save(str(out))
        img = shot.toImage()
        colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
        assert len(colours) > 20  # not a blank widget
        print(f"screenshot: {out}")
        # the other reference: the ratio is inverted
        ratio = w.results.comparisons[0].estimate
        w.results.reference_combo.setCurrentText("treated")
        qtbot.waitUntil(lambda: not w.results.busy and w.results.comparisons[0].reference == "treated", timeout=60_000)
        assert w.results.comparisons[0].estimate == pytest.approx(1 / ratio)
        assert "diffusivity: control / treated" in w.results.status.text()
        # relabelling in the Data tab, then Refresh: the table shows it, nothing is recomputed
        stamps = sorted(p.stat().st_mtime_ns for p in (tmp_path / "results" / "units").rglob("*.ntw"))
        layer.metadata["labels"] = {"condition": "control", "replicate": "0", "cell": "c7"}
        w.results.refresh_button.click()
        qtbot.waitUntil(lambda: not w.results.busy, timeout=60_000)
        shown = w.results.model.table
        first_file = loaded.file_labels()[0]
        assert set(shown.loc[shown["file"] == first_file, "cell"]) == {"c7"}
        assert shown.loc[shown["file"] != first_file, "cell"].isna().all()
        assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "results" / "units").rglob("*.ntw")) == stamps
        # or any spec's labels for the same store
        first = spec.file_labels()[0]
        spec.files[0].labels = {"condition": "relabelled"}
        w.results.show_store(tmp_path / "results", spec)
        qtbot.waitUntil(lambda: not w.results.busy, timeout=60_000)
        shown = w.results.model.table
        assert set(shown.loc[shown["file"] == first, "condition"]) == {"relabelled"}
        assert sorted(shown["unit"]) == sorted(table["unit"])
        # while another tab is shown, updates wait (no drawing nobody looks at); showing it updates
        n_updates = len(updates)
        w.tabs.setCurrentWidget(w.runs)
        w.results.request_update()
        assert w.results.worker is None and w.results._dirty and not w.results.busy
        w.tabs.setCurrentWidget(w.results)
        qtbot.waitUntil(lambda: not w.results.busy, timeout=60_000)
        assert len(updates) == n_updates + 1 and not w.results._dirty
    finally:
        settle(w, qtbot)
