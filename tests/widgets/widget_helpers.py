"""Helpers of the napari-plugin tests: the ROIs a user draws, waiting for runs, a GUI heartbeat, live processes."""

from __future__ import annotations

import time

import numpy as np

# the ROIs a user draws on the sample's three cells, in napari's (y, x) order, µm
RECT_A = np.array([[8.0, 3.5], [16.0, 10.5]])
RECT_B = np.array([[16.0, 15.0], [21.0, 22.0]])
POLYGON = np.array([[4.0, 14.0], [5.0, 23.0], [10.0, 22.5], [9.5, 14.5]])


def draw_rois(viewer, widget):
    """Two rectangles and a polygon drawn on a new ROI layer, as a user would."""
    layer = widget.rois.new_roi_layer()
    layer.add_rectangles(RECT_A)
    layer.add_rectangles(RECT_B)
    layer.add_polygons([POLYGON])
    return layer


def alive(pid) -> bool:
    """Whether process ``pid`` is running (a zombie is not)."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def wait_idle(qtbot, widget, timeout=120_000):
    """Wait until the run has ended and its layers are on screen."""
    qtbot.waitUntil(lambda: not widget.runs.busy, timeout=timeout)


class Heartbeat:
    """A QTimer ticking every ``interval`` ms on the GUI thread; ``max_gap`` is the worst stall (s)."""

    def __init__(self, interval_ms: int = 15):
        from qtpy.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self):
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self):
        self.timer.stop()
        self.times.append(time.perf_counter())

    @property
    def gaps(self) -> np.ndarray:
        return np.diff(np.asarray(self.times))

    @property
    def max_gap(self) -> float:
        g = self.gaps
        return float(g.max()) if g.size else 0.0


def open_and_wait(w, qtbot, path, settings=None):
    """Open a trajectory file in the Data tab (read in a worker); the layer, or None."""
    got = []
    w.data.open_file(str(path), settings, on_done=got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=30_000)
    return got[0]


def texts(notifications) -> list[str]:
    """The messages of napari notifications."""
    return [str(n.message) for n in notifications]


def set_file_setting(widget, name: str, text: str) -> None:
    """Type ``text`` in the Data tab's field ``name`` (a data-file setting) and leave it, as a user
    would (a choice field: choose ``text``)."""
    editor = widget.data.settings_form.fields[name].editor
    if hasattr(editor, "choices"):  # a combo box: its choices are the values ("auto" is None)
        editor.value = None if text == "auto" else text
        return
    editor.native.setText(text)
    editor.native.editingFinished.emit()


def settle(widget, qtbot):
    """Let every background worker of a panel end before its viewer goes."""
    widget.rois._timer.stop()
    widget.data._reread_timer.stop()
    if widget.runs.handle is not None:
        widget.runs.handle.cancel()
    # each panel forgets its worker when the worker has finished (is_running is still False before a
    # worker's thread has started)
    qtbot.waitUntil(lambda: widget.runs.worker is None and widget.rois._count_worker is None
                    and widget.analysis._preview_worker is None and widget.environment._check_worker is None
                    and widget.runs._open_worker is None and widget.runs._figure_worker is None
                    and widget.results.worker is None and not widget.data._workers, timeout=60_000)
    qtbot.waitUntil(lambda: not widget.runs.feeder.busy and not widget.analysis.feeder.busy
                    and not widget.results.busy, timeout=60_000)
