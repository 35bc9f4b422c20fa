"""What a user does around a run: change a file's frame interval, close the panel or the viewer while
a run goes, answer a question after a cancelled run. Run under ``xvfb-run``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from widget_helpers import alive, draw_rois, set_file_setting, settle

pytestmark = pytest.mark.gui


def test_frame_interval_change_moves_the_tracks_time_axis(make_napari_viewer, qtbot, tmp_path):
    """A file of frame numbers: its times are frame × frame interval. Changing the interval in the
    Data tab reads the file again: the layer's locations and napari's time axis follow."""
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    frames = np.array([0, 1, 2, 5, 6, 7])
    path = tmp_path / "frames.csv"
    pd.DataFrame({"n": [1, 1, 1, 2, 2, 2], "x": [1.0, 1.1, 1.2, 4.0, 4.1, 4.3], "y": [2.0, 2.1, 2.2, 3.0, 3.1, 3.0],
                  "frame": frames}).to_csv(path, index=False)
    got = []
    w.data.open_file(str(path), frame_interval=0.02, on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=10_000)
    tracks = got[0]
    np.testing.assert_allclose(tracks.metadata["locations"]["t"], frames * 0.02)
    w.data.table.selectRow(0)
    assert w.data.settings_form.fields["frame_interval"].value == 0.02  # the value given when opening
    set_file_setting(w, "frame_interval", "0.05")
    qtbot.waitUntil(lambda: tracks.scale[0] == pytest.approx(0.05), timeout=10_000)
    loc = tracks.metadata["locations"]
    np.testing.assert_allclose(loc["t"], frames * 0.05)
    assert tracks.metadata["frame_interval"] == 0.05 and tracks.metadata["reader"] == {"frame_interval": 0.05}
    assert tracks.metadata["provenance"].frame_interval_source == "given"
    world_t = tracks.data[:, 1] * tracks.scale[0] + tracks.translate[0]
    np.testing.assert_allclose(np.sort(world_t), np.sort(frames * 0.05))
    assert w.build_spec().files[0].frame_interval == pytest.approx(0.05)
    settle(w, qtbot)


def slow_run(viewer, w, environment):
    """A run of 30 units that takes long (small cells, a tight tolerance); return its napari worker."""
    viewer.open_sample("napari-tramway", "cells")
    draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 0.4})
    w.analysis.model.set_values("dv", {"max_iter": 100000, "tolerance": 1e-12})
    w.analysis.set_time_windows(6.0)
    w.environment.select(environment)
    w.environment.workers.setValue(1)
    return w.runs.start()


def test_closing_the_viewer_stops_its_local_run(make_napari_viewer, qtbot, tmp_path):
    """Closing napari's window does not call the panel's closeEvent; the run must still stop (local
    worker processes would outlive napari), and Python's switch interval be restored."""
    import sys

    before = sys.getswitchinterval()
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    runs = w.runs
    worker = slow_run(viewer, w, "local")
    qtbot.waitUntil(lambda: bool(runs._handle_box) and bool(runs._handle_box[0].env.pids), timeout=60_000)
    handle = runs._handle_box[0]
    assert handle.running and sys.getswitchinterval() < before
    viewer.close()
    qtbot.waitUntil(lambda: not handle.running, timeout=30_000)
    assert handle.cancelled
    assert not any(alive(pid) for pid in handle.env.pids)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    assert sys.getswitchinterval() == before


def test_closing_the_panel_stops_its_run(make_napari_viewer, qtbot, tmp_path):
    """The dock's × takes the panel out of the window: its in-process run is cancelled (nothing could
    cancel it afterwards); the units already done are kept."""
    viewer = make_napari_viewer()
    dock, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    worker = slow_run(viewer, w, "inprocess")
    qtbot.waitUntil(lambda: bool(w.runs._handle_box), timeout=60_000)
    handle = w.runs._handle_box[0]
    viewer.window.remove_dock_widget(dock)
    qtbot.waitUntil(lambda: not handle.running, timeout=30_000)
    assert handle.cancelled and handle.summary().count("cancelled") >= 1
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    qtbot.waitUntil(lambda: not w.runs.feeder.busy, timeout=30_000)


def test_questions_after_a_cancelled_run_are_not_withdrawn(make_napari_viewer):
    """A password asked by "Check site" after a run was cancelled must wait for the user's answer."""
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs._cancel.set()  # what Cancel leaves behind once the run has ended
    assert not w.runs.running
    assert not w.environment.bridge.cancelled()


def test_switch_interval_held_while_any_run_is_followed():
    """Two viewers' runs: the first to end must not restore the interval under the other."""
    import sys

    from napari_tramway._widgets import run_worker as runs

    before = sys.getswitchinterval()
    runs.hold_switch_interval()
    runs.hold_switch_interval()
    runs.release_switch_interval()
    assert sys.getswitchinterval() == pytest.approx(min(before, runs.RUN_SWITCH_INTERVAL))
    runs.release_switch_interval()
    assert sys.getswitchinterval() == before
