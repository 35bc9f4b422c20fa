"""A plain script embedding napari (no ``napari.run()``: napari's exception hook is not installed),
as a host application would. ``plugin``: open a bad file and run an analysis whose data file is gone,
through the napari-tramway panel; ``raw``: a napari worker with napari's default error handling
(a control: its error is re-raised in the GUI thread, which aborts such a host).

Prints ``ALIVE <status>`` and exits 0 when the process survived. Used by ``test_errors.py``.
"""

import os
import shutil
import sys
import tempfile
import time

import napari
from qtpy.QtWidgets import QApplication


def pump(app, until, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end and not until():
        app.processEvents()
        time.sleep(0.01)


def main(mode):
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    if mode == "raw":
        from napari.qt.threading import create_worker

        def boom():
            raise ValueError("a worker error re-raised in the GUI thread")

        worker = create_worker(boom)
        worker.start()
        pump(app, lambda: False, timeout=3.0)
        print("ALIVE raw")
        return 0
    from napari_tramway._sample_data import sample_files

    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    tmp = tempfile.mkdtemp(prefix="ntw-embedded-")
    w.runs.store_edit.setText(os.path.join(tmp, "results"))
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "w") as fh:
        fh.write("n\tx\ty\tt\n1\t0.1\toops\t0.0\n")
    done = []
    w.data.open_file(bad, on_done=done.append)
    pump(app, lambda: bool(done))
    path = os.path.join(tmp, "cells.txt")
    shutil.copy(sample_files()[4], path)
    done.clear()
    w.data.open_file(path, frame_interval=0.02, on_done=done.append)
    pump(app, lambda: bool(done))
    os.remove(path)  # the run cannot read its data: its worker fails
    w.runs.start()
    pump(app, lambda: not w.runs.busy)
    pump(app, lambda: False, timeout=1.0)
    print("ALIVE", w.runs.status.text())
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "plugin"))
