"""Benchmark: the longest block of napari's GUI thread from a click on Run to the maps on screen.

A user's session in a real napari viewer (run under ``xvfb-run``): the sample (wide-field image and
60,000 locations), three ROIs drawn on its cells, DV on a hexagonal mesh, run in this process (the
hardest case: the fit shares the GIL with the GUI); the Run button is clicked and the benchmark
waits until every layer is on screen. A 10 ms ``QTimer`` heartbeat records the gaps of the GUI
event loop (wall time, and the GUI thread's own CPU time: the machine may be shared). Each long gap
is attributed to what the GUI thread was doing in it, from timed intervals: the turns of the layer
feeder (adding a layer to napari, showing one, updating one, making or showing a colour bar,
rendering a few glyphs), the run's messages (tables, progress), the canvas draws (vispy's draw event
to Qt's ``frameSwapped``; a layer's first draw builds its shaders and textures) and the pauses of
Python's garbage collector (``gc.callbacks``; they stop every thread, whichever one triggered them).

Two scenarios: ``sample`` (hexagons of 1 µm: 205 cells in the three ROIs) and ``fine`` (hexagons of
0.24 µm: about 3,000 cells). Also timed: opening the result through napari's reader (which napari runs on the GUI thread).

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/gui_stall.py [--scenarios sample fine]

Prints, per scenario: the time from click to maps on screen, the longest GUI block, the 99th
percentile of the gaps, and the five longest blocks with what filled them.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIOS = {"sample": 1.0, "fine": 0.24}
HEARTBEAT_MS = 10
class Intervals:
    """Named time intervals of the GUI thread (start, end, what)."""

    def __init__(self):
        self.items: list[tuple[float, float, str]] = []

    def timed(self, what, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.items.append((t0, time.perf_counter(), what(*args) if callable(what) else what))

        return wrapper

    def attribute(self, t0, t1) -> list[tuple[str, float]]:
        """What filled [t0, t1]: (what, seconds), longest first; the rest is 'other'."""
        spent = collections.Counter()
        for a, b, what in self.items:
            overlap = min(b, t1) - max(a, t0)
            if overlap > 0:
                spent[what] += overlap
        other = (t1 - t0) - sum(spent.values())
        if other > 0.005:
            spent["other (napari events, Qt layout, the event loop)"] += other
        return spent.most_common(3)


def instrument(viewer, w, intervals: Intervals):
    """Time the feeder's turns, the run's messages and the canvas draws."""
    from napari_tramway._widgets import common

    feeder = w.runs.feeder

    def step_name(*_):
        what = feeder.turns[-1][0] if feeder.turns else "feeder"
        return "feeder: " + (what.split(" · ")[0] if " · " in what else what)

    feeder._timer.timeout.disconnect()
    feeder._timer.timeout.connect(intervals.timed(step_name, feeder._step))
    w.runs._on_message = intervals.timed(lambda msg: f"run message: {msg[0]}", w.runs._on_message)
    canvas = viewer.window._qt_viewer.canvas  # napari's private attribute, for this measurement only
    start = []
    canvas._scene_canvas.events.draw.connect(lambda _e: start.append(time.perf_counter()))

    def swapped():
        if start:
            intervals.items.append((start.pop(), time.perf_counter(), "canvas draw"))
            start.clear()

    canvas.native.frameSwapped.connect(swapped)
    gc_start = []

    def collected(phase, info):  # a pause of Python's garbage collector (in whichever thread it ran)
        if phase == "start":
            gc_start[:] = [time.perf_counter()]
        elif gc_start and time.perf_counter() - gc_start[0] > 0.002:
            intervals.items.append((gc_start[0], time.perf_counter(), f"garbage collection (generation {info['generation']})"))

    gc.callbacks.append(collected)
    return common


def run_scenario(resolution: float, model: str = "dv", env: str = "inprocess", windows: float | None = None):
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    sys.path.insert(0, str(HERE.parent / "tests" / "widgets"))
    from widget_helpers import draw_rois

    app = QApplication.instance() or QApplication([])
    viewer = napari.Viewer()
    viewer.window.resize(1280, 900)
    viewer.open_sample("napari-tramway", "cells")
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    store = Path(tempfile.mkdtemp(prefix="ntw-stall-")) / "results"
    w.runs.store_edit.setText(str(store))
    draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": resolution})
    w.analysis.model.set_values(model, {})
    if windows:
        w.analysis.set_time_windows(windows)
    w.environment.select(env)
    if env == "local":
        w.environment.workers.setValue(2)
    end = time.time() + 3
    while time.time() < end or w.glyphs.busy:  # ROI counts, first draws, glyphs: before the click
        app.processEvents()
        time.sleep(0.005)
    end = time.time() + 0.5
    while time.time() < end:  # the frames that follow the last of those (a user does not click within them)
        app.processEvents()
        time.sleep(0.005)

    beats: list[float] = []
    cpu: list[float] = []  # the GUI thread's own CPU time at each beat (other processes' load left out)

    def beat():
        beats.append(time.perf_counter())
        cpu.append(time.thread_time())

    timer = QTimer()
    timer.setInterval(HEARTBEAT_MS)
    timer.timeout.connect(beat)
    intervals = Intervals()
    instrument(viewer, w, intervals)
    timer.start()
    beat()
    t_click = time.perf_counter()
    w.runs.run_button.click()
    while w.runs.busy:
        app.processEvents()
        time.sleep(0.001)
    # the maps on screen: the canvas' next frame (a screenshot would render again, off screen)
    native = viewer.window._qt_viewer.canvas.native
    swaps = []
    native.frameSwapped.connect(lambda: swaps.append(time.perf_counter()))
    native.update()
    while not swaps:
        app.processEvents()
        time.sleep(0.001)
    t_shown = swaps[0]
    end = time.time() + 0.5
    while time.time() < end:
        app.processEvents()
        time.sleep(0.005)
    timer.stop()
    beat()
    gaps = np.diff(beats)
    cpu_gaps = np.diff(cpu)
    order = np.argsort(gaps)[::-1][:5]
    worst = [(float(gaps[i]), float(cpu_gaps[i]), beats[i] - t_click, intervals.attribute(beats[i], beats[i + 1]))
             for i in order]
    load = os.getloadavg()[0]
    phases: dict[str, float] = {}  # the longest interval of each kind of GUI work
    for a, b, what in intervals.items:
        kind = " ".join(what.split()[:3]) if what.startswith("feeder:") else what.split(":")[0]
        if what.startswith("feeder: glyphs"):
            kind = "feeder: glyphs (a few characters of the legend and colour bars)"
        elif what.startswith("feeder: make the colour bar") or what.startswith("feeder: colour bar of"):
            kind = "feeder: " + ("make a colour bar (hidden)" if "make" in what else "show a colour bar")
        elif what.startswith("feeder: add") or what.startswith("feeder: make") or what.startswith("feeder: show"):
            kind = "feeder: " + what.split()[1] + " " + ("cells (Labels)" if "cells" in what else
                                                         "arrows (Vectors)" if "‖" in what else "a map (Image)")
        phases[kind] = max(phases.get(kind, 0.0), b - a)
    n_cells = sum(len(t) for la in viewer.layers if la.name.startswith("cells ·")
                  for t in la.metadata["napari_tramway"]["tables"].values())
    turns = list(w.runs.feeder.turns)
    summary = w.runs.summary
    # the same result through napari's reader (its GUI thread)
    viewer.layers.clear()
    t0 = time.perf_counter()
    viewer.open(str(store), plugin="napari-tramway")
    t_reader = time.perf_counter() - t0
    from napari_tramway._layers.sources import layers_from_path

    t0 = time.perf_counter()
    layers_from_path(store)
    t_read_build = time.perf_counter() - t0
    viewer.close()
    return {"cells": n_cells, "ok": summary is not None and summary.ok, "click_to_screen": t_shown - t_click,
            "max_gap": float(gaps.max()), "p99": float(np.percentile(gaps, 99)), "worst": worst, "turns": turns,
            "max_cpu_gap": float(cpu_gaps.max()), "load": load, "phases": phases,
            "reader": t_reader, "read_build": t_read_build}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--model", default="dv")
    p.add_argument("--env", default="inprocess", choices=["inprocess", "local"],
                   help="where the units run: in this process (sharing the GIL with the GUI) or local processes")
    p.add_argument("--windows", type=float, help="time windows of this duration (s): a stack of maps per region")
    p.add_argument("--one", help=argparse.SUPPRESS)  # run one scenario in this process (the others in children)
    args = p.parse_args(argv)
    os.environ.setdefault("NAPARI_TRAMWAY_CACHE", tempfile.mkdtemp(prefix="ntw-cache-"))
    if args.one:
        import json

        r = run_scenario(SCENARIOS[args.one], args.model, args.env, args.windows)
        print("RESULT " + json.dumps(r, default=str))
        return [(args.one, r)]
    rows = []
    for name in args.scenarios:
        r = _child(name, args)  # a new process per scenario: one napari viewer per process
        rows.append((name, r))
        windows = f", {args.windows:g} s windows" if args.windows else ""
        print(f"\n## {name}: {r['cells']:,} cells, {args.model.upper()} ({args.env}{windows}), run ok: {r['ok']}")
        print(f"click → maps on screen {r['click_to_screen']:.2f} s; longest GUI block {1000 * r['max_gap']:.0f} ms "
              f"(GUI thread's own CPU in a block: at most {1000 * r['max_cpu_gap']:.0f} ms); 99th percentile "
              f"{1000 * r['p99']:.0f} ms (heartbeat {HEARTBEAT_MS} ms; machine load {r['load']:.1f} on "
              f"{os.cpu_count()} cores)")
        for gap, cpu_gap, at, what in r["worst"]:
            doing = ", ".join(f"{k} {1000 * t:.0f} ms" for k, t in what)
            print(f"  {1000 * gap:5.0f} ms (CPU {1000 * cpu_gap:4.0f} ms) at +{at:5.2f} s: {doing}")
        print("  longest block of each kind of GUI work: " + "; ".join(
            f"{k} {1000 * v:.0f} ms" for k, v in sorted(r["phases"].items(), key=lambda kv: -kv[1])))
        slow = sorted(r["turns"], key=lambda t: -t[1])[:6]
        print("  longest feeder turns: " + "; ".join(f"{what} {1000 * dt:.0f} ms" for what, dt in slow))
        print(f"  opening the results with napari's reader (GUI thread): {r['reader']:.2f} s, of which reading "
              f"and building the layer data {r['read_build']:.2f} s")
    print("\n| scenario | cells | click → on screen (s) | longest block (ms) | its GUI CPU (ms) | 99th pct (ms) | "
          "load | reader (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['cells']:,} | {r['click_to_screen']:.2f} | {1000 * r['max_gap']:.0f} | "
              f"{1000 * r['max_cpu_gap']:.0f} | {1000 * r['p99']:.0f} | {r['load']:.1f} | {r['reader']:.2f} |")
    return rows


def _child(name, args) -> dict:
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--one", name, "--model", args.model, "--env", args.env]
    if args.windows:
        cmd += ["--windows", str(args.windows)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"scenario {name} failed (exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(line[len("RESULT "):])


if __name__ == "__main__":
    main()
