"""Take the user guide's screenshots from the real application (run under Xvfb).

    xvfb-run -a -s "-screen 0 1920x1200x24" python docs/images/screenshots.py [--cluster]

Opens the sample in a 1280×720 window (a laptop's screen), draws and names ROIs on the three
cells, runs a DV analysis in this process, two D analyses with different meshes (side by side),
moves a ROI (stale maps) and runs a time-window analysis; saves one PNG per widget tab and per kind
of map in ``docs/images/``, the window at 1280×720 and 1920×1080 (the canvas widths are printed),
and a publication figure.
With ``--cluster`` (the test cluster of ``tests/cluster/start.sh`` running), the Environment tab
is shown with a site check and the host-key dialog of a first connection. ``--only data`` takes
only the Data tab and the column-mapping dialog (``data-tab.png``, ``column-mapping-dialog.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def pump(app, seconds=0.3):
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def wait(app, predicate, timeout=300):
    end = time.time() + timeout
    while not predicate():
        if time.time() > end:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.01)


def shot(viewer, name, app, size=None):
    if size is not None:
        viewer.window.resize(*size)
    pump(app, 0.5)
    path = HERE / name
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    compact(path)
    print("wrote", path)


def compact(path):
    """256-colour PNG: a third of the size, no visible difference for screenshots."""
    from PIL import Image

    im = Image.open(path).convert("RGB")
    im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--cluster", action="store_true", help="also show a site check and the host-key dialog")
    p.add_argument("--only", choices=["data"], help="data: only the Data tab and the column-mapping dialog")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ntw-shots-"))
    os.environ.setdefault("NAPARI_TRAMWAY_CACHE", str(tmp / "cache"))
    if args.cluster:
        _cluster_profile(tmp)
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="napari-tramway")
    app = QApplication.instance()
    viewer.window.resize(*LAPTOP)
    viewer.open_sample("napari-tramway", "cells")
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp / "results"))
    viewer.reset_view()
    data_tab_shot(viewer, w, app)
    if args.only == "data":
        mapping_dialog_shot(tmp, app)
        viewer.close()
        return
    canvas = {LAPTOP: canvas_width(viewer, app)}

    # ROIs: an ellipse on the left cell, a polygon around the top-right one, a rectangle on the last,
    # named as a biologist would
    rois = w.rois.new_roi_layer()
    rois.add_ellipses(_ellipse_corners((7.0, 12.0), (4.6, 7.0), 15.0))
    rois.add_polygons([np.array([[16.2, 14.0], [15.0, 19.5], [17.6, 23.2], [21.2, 22.8], [22.3, 17.5], [19.5, 14.2]])])
    rois.add_rectangles(np.array([[4.0, 14.0], [10.0, 23.0]]))
    for i, name in enumerate(("well", "fast", "gradient")):
        w.rois.rename(i, name)
    rois.mode = "pan_zoom"
    viewer.layers.selection.active = rois
    w.tabs.setCurrentWidget(w.rois)
    wait(app, lambda: w.rois.table.rowCount() == 3 and w.rois.table.item(0, 3) is not None
         and w.rois.table.item(0, 3).text()[:1].isdigit())
    shot(viewer, "rois-tab.png", app)

    w.analysis.mesh.set_values("hexagon", {"resolution": 0.8})
    w.analysis.model.set_values("dv", {"diffusivity_prior": 0.1, "potential_prior": 0.1})
    w.tabs.setCurrentWidget(w.analysis)
    w.analysis.preview()
    wait(app, lambda: "mesh preview" in viewer.layers and w.analysis._preview_worker is None
         and not w.analysis.feeder.busy)
    shot(viewer, "analysis-tab.png", app)
    viewer.layers.remove("mesh preview")

    if args.cluster:
        w.environment.select("testcluster")
        w.environment.extra.setPlainText("look_for_keys = false\nallow_agent = false")
        w.tabs.setCurrentWidget(w.environment)
        asked = []
        w.environment.bridge.asked.connect(asked.append)
        w.environment.check_site()
        wait(app, lambda: asked, timeout=60)
        pump(app, 0.5)
        asked[0].grab().save(str(HERE / "host-key-dialog.png"))
        compact(HERE / "host-key-dialog.png")
        print("wrote", HERE / "host-key-dialog.png")
        asked[0].accept_button.click()
        wait(app, lambda: w.environment._check_worker is None, timeout=120)
        wait(app, lambda: w.environment.check_results.count() > 1, timeout=30)
        shot(viewer, "environment-tab.png", app)
    else:
        w.environment.select("local")
        w.tabs.setCurrentWidget(w.environment)
        shot(viewer, "environment-tab.png", app)
    w.environment.combo.showPopup()  # every environment, each once
    pump(app, 0.5)
    grab(w.environment.combo.view(), "environment-list.png", app)
    w.environment.combo.hidePopup()
    w.environment.select("inprocess")

    # run: the maps appear as layers, named after their run
    w.tabs.setCurrentWidget(w.runs)
    w.runs.start()
    wait(app, lambda: not w.runs.busy)
    viewer.reset_view()
    shot(viewer, "runs-tab-diffusivity.png", app)

    # the potential, with the force arrows
    d = layer(viewer, "log₁₀ D")
    v = layer(viewer, "V (kT)")
    d.visible = False
    v.visible = True
    viewer.layers.selection.active = v
    _zoom(viewer, (7.5, 12.5), 10.0)
    pump(app, 6.0)  # let the notification go
    shot(viewer, "map-potential-force.png", app)

    # hover: the cell under the mouse and all its values in the status bar, D in µm²/s
    v.visible = False
    d.visible = True
    cells = layer(viewer, "cells ·")
    viewer.layers.selection.active = cells
    _zoom(viewer, (18.5, 18.5), 6.0)
    viewer.cursor.position = (18.3, 18.6)
    pump(app, 0.5)
    viewer.status = cells.get_status(viewer.cursor.position, world=True)
    viewer.tooltip.text = cells._get_tooltip_text(np.asarray(viewer.cursor.position), world=True)
    shot(viewer, "map-hover-values.png", app)

    # a second run with another mesh: both side by side (napari's grid), labelled, with units
    w.analysis.model.set_values("d", {})
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.runs.start()
    wait(app, lambda: not w.runs.busy)
    w.analysis.mesh.set_values("hexagon", {"resolution": 0.5})
    w.runs.start()
    wait(app, lambda: not w.runs.busy)
    first = next(iter(w.runs.entries))
    w.runs.show_run(first, False)  # the DV run of above: hidden with its box in the runs table
    shown = [la for la in viewer.layers if la.name.startswith("log₁₀ D") and la.visible]
    for la in viewer.layers:
        la.visible = la in shown
    for la in shown:
        la.colorbar.visible = True  # a colour bar in each panel (one scale: they are the same)
    viewer.canvas.grid.enabled = True
    viewer.canvas.grid.shape = (1, 2)
    viewer.layers.selection.active = shown[-1]
    viewer.reset_view()
    pump(app, 1.0)
    shot(viewer, "runs-side-by-side.png", app, size=DESKTOP)
    canvas[DESKTOP] = canvas_width(viewer, app)
    viewer.canvas.grid.enabled = False
    for la in viewer.layers:
        la.visible = not la.name.startswith(("trajectories", "D sd", "V", "‖F‖")) and "run 1" not in la.name
    for size, name in ((LAPTOP, "layout-1280x720.png"), (DESKTOP, "layout-1920x1080.png")):
        viewer.window.resize(*size)
        pump(app, 6.0)  # the notifications go
        viewer.reset_view()
        shot(viewer, name, app)
    viewer.window.resize(*LAPTOP)

    # an ROI moved: the maps made before are stale
    moved = [np.asarray(x).copy() for x in rois.data]
    moved[2] = moved[2] + np.array([1.5, 0.0])
    rois.data = moved
    wait(app, lambda: any(e.stale for e in w.runs.entries.values()))
    viewer.reset_view()
    shot(viewer, "runs-stale.png", app)
    moved[2] = moved[2] - np.array([1.5, 0.0])
    rois.data = moved
    wait(app, lambda: not any(e.stale for e in w.runs.entries.values()))

    # time windows: a slider through time, in seconds
    for la in [la for la in viewer.layers if " · run " in la.name]:
        viewer.layers.remove(la)
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.0})
    w.analysis.set_time_windows(20.0)
    w.runs.store_edit.setText(str(tmp / "results-windows"))
    w.runs.start()
    wait(app, lambda: not w.runs.busy)
    viewer.reset_view()
    viewer.dims.set_point(0, 30.0)
    shot(viewer, "map-time-windows.png", app)

    mapping_dialog_shot(tmp, app)
    viewer.close()

    # a publication figure of the first run (napari-tramway figure, the Figure… button)
    from napari_tramway._layers import ImageGrid
    from napari_tramway._sample_data import sample_files
    from napari_tramway.figures import Background, figures_of_path

    image, pixel_size, *_ = sample_files()
    for path in figures_of_path(tmp / "results", tmp / "figures", quantities=["diffusivity", "potential"],
                                background=Background.from_array(image, ImageGrid((0, 0), pixel_size, image.shape)),
                                dpi=80):
        target = HERE / ("figure-" + path.name.split(" ", 1)[1].replace(" ", "-"))
        target.write_bytes(path.read_bytes())
        compact(target)
        print("wrote", target)
    for size, width in canvas.items():
        print(f"canvas at {size[0]}×{size[1]}: {width} px wide ({100 * width / size[0]:.0f}% of the window)")


LAPTOP, DESKTOP = (1280, 720), (1920, 1080)
#: a saSPT table in pixels and frames (tests/core/data), read with its pixel size and frame interval
SASPT = REPO / "tests" / "core" / "data" / "saspt_tracks.csv"


def data_tab_shot(viewer, w, app):
    """The Data tab with a file in pixels and frames selected: how it is read (the data-file form,
    its pixel size and frame interval given) and what the reading did; the file is closed after."""
    from qtpy.QtWidgets import QScrollArea

    got = []
    w.data.open_file(str(SASPT), {"pixel_size": 0.16, "frame_interval": 0.00748}, on_done=got.append)
    wait(app, lambda: bool(got))
    w.data.table.selectRow(w.data.layers().index(got[0]))
    w.tabs.setCurrentWidget(w.data)
    pump(app, 0.5)
    scroll = w.data.findChild(QScrollArea)
    top = w.data.table.mapTo(scroll.widget(), w.data.table.rect().topLeft()).y()
    scroll.verticalScrollBar().setValue(top - 4)  # the files, then the form and "Read as"
    shot(viewer, "data-tab.png", app)
    scroll.verticalScrollBar().setValue(0)
    viewer.layers.remove(got[0])
    w.data.table.selectRow(0)


def mapping_dialog_shot(tmp, app):
    """The column-mapping dialog of a table whose columns are not recognised, being filled in."""
    from napari_tramway._widgets.columns import ColumnMappingDialog, file_preview

    csv = tmp / "tracker.csv"
    csv.write_text("spot,particle_no,xpos_um,ypos_um,time_s,intensity\n" + "\n".join(
        f"{i},{i // 5},{1 + 0.1 * i:.2f},{2 + 0.05 * i:.2f},{0.02 * (i % 5):.2f},{100 + i}" for i in range(12)))
    names, rows, header = file_preview(csv)
    dialog = ColumnMappingDialog(csv, names, rows, header, "no trajectory-id column. Columns found: spot, "
                                 "particle_no, xpos_um, ypos_um, time_s, intensity; expected one of n, trajectory, "
                                 "...; or say which column is which: --columns n=NAME,x=NAME,y=NAME,t=NAME (command "
                                 "line), the \"columns\" field (napari), ...")
    for role, column in (("n", "particle_no"), ("x", "xpos_um"), ("y", "ypos_um")):
        dialog.set_role(role, column)
    dialog.resize(720, 600)
    dialog.show()
    pump(app, 0.5)
    grab(dialog, "column-mapping-dialog.png", app)
    dialog.close()


def layer(viewer, prefix):
    return next(la for la in viewer.layers if la.name.startswith(prefix))


def canvas_width(viewer, app) -> int:
    """The canvas's width (px) in the window as it is."""
    pump(app, 0.5)
    return int(viewer.screenshot(canvas_only=True, flash=False).shape[1])


def grab(widget, name, app):
    pump(app, 0.3)
    widget.grab().save(str(HERE / name))
    compact(HERE / name)
    print("wrote", HERE / name)


def _ellipse_corners(centre, radii, angle_deg):
    from napari_tramway._layers import shapes_from_rois
    from napari_tramway.core.roi import Ellipse

    data, _ = shapes_from_rois([Ellipse(centre, radii, angle_deg)])
    return data[0]


def _zoom(viewer, centre_xy, width_um):
    viewer.reset_view()  # fits the 25.6 µm field
    zoom = viewer.camera.zoom
    viewer.camera.center = (0.0, centre_xy[1], centre_xy[0])
    viewer.camera.zoom = zoom * 25.6 / width_um


def _cluster_profile(tmp):
    import json

    info = json.loads(Path(os.environ.get("NTW_CLUSTER_DIR", "/tmp/napari-tramway-cluster"), "cluster.json")
                      .read_text())
    cfg = tmp / "config"
    cfg.mkdir(parents=True)
    (tmp / "empty_known_hosts").write_text("")
    (cfg / "sites.toml").write_text(
        "[testcluster]\n"
        f'base = "{REPO / "tests" / "environments" / "sites_for_tests.py"}:TestCluster"\n'
        'description = "The napari-tramway test cluster: Slurm on 127.0.0.1, a stand-in singularity"\n'
        f'known_hosts = "{tmp / "empty_known_hosts"}"\n'
        f'username = "{info["NTW_SSH_USER"]}"\n')
    os.environ["NAPARI_TRAMWAY_CONFIG"] = str(cfg)
    os.environ["NAPARI_TRAMWAY_DATA"] = str(tmp / "data")
    os.environ["NAPARI_TRAMWAY_SITES"] = str(cfg / "sites.toml")
    return info


if __name__ == "__main__":
    sys.exit(main())
