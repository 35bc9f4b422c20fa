"""npe2 readers, writers and sample data of the plugin, through napari's own open/save paths."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_tramway._reader import get_reader
from napari_tramway._writer import write_map_tiff, write_maps_csv, write_rois_file
from napari_tramway.core.roi import Ellipse, Polygon, Rectangle, write_rois

pytestmark = pytest.mark.gui

TRACKMATE = """<?xml version="1.0" encoding="UTF-8"?>
<TrackMate version="7.11.1">
  <Model spatialunits="micron" timeunits="sec">
    <AllSpots nspots="6">
      <SpotsInFrame frame="0">
        <Spot ID="1" name="a0" POSITION_X="1.0" POSITION_Y="2.0" POSITION_Z="0.0" POSITION_T="0.0" FRAME="0" />
        <Spot ID="4" name="b0" POSITION_X="5.0" POSITION_Y="6.0" POSITION_Z="0.0" POSITION_T="0.0" FRAME="0" />
      </SpotsInFrame>
      <SpotsInFrame frame="1">
        <Spot ID="2" name="a1" POSITION_X="1.1" POSITION_Y="2.1" POSITION_Z="0.0" POSITION_T="0.05" FRAME="1" />
        <Spot ID="5" name="b1" POSITION_X="5.1" POSITION_Y="6.2" POSITION_Z="0.0" POSITION_T="0.05" FRAME="1" />
      </SpotsInFrame>
      <SpotsInFrame frame="2">
        <Spot ID="3" name="a2" POSITION_X="1.3" POSITION_Y="2.0" POSITION_Z="0.0" POSITION_T="0.1" FRAME="2" />
        <Spot ID="6" name="b2" POSITION_X="5.0" POSITION_Y="6.4" POSITION_Z="0.0" POSITION_T="0.1" FRAME="2" />
      </SpotsInFrame>
    </AllSpots>
    <AllTracks>
      <Track name="Track_0" TRACK_ID="0">
        <Edge SPOT_SOURCE_ID="1" SPOT_TARGET_ID="2" />
        <Edge SPOT_SOURCE_ID="2" SPOT_TARGET_ID="3" />
      </Track>
      <Track name="Track_1" TRACK_ID="1">
        <Edge SPOT_SOURCE_ID="4" SPOT_TARGET_ID="5" />
        <Edge SPOT_SOURCE_ID="5" SPOT_TARGET_ID="6" />
      </Track>
    </AllTracks>
    <FilteredTracks>
      <TrackID TRACK_ID="0" />
      <TrackID TRACK_ID="1" />
    </FilteredTracks>
  </Model>
  <Settings>
    <ImageData filename="cells.tif" folder="" width="256" height="256" nslices="1" nframes="3" pixelwidth="0.1"
               pixelheight="0.1" voxeldepth="1.0" timeinterval="0.05" />
  </Settings>
</TrackMate>
"""


def small_table():
    return pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [1.0, 1.1, 1.25, 4.0, 4.2], "y": [2.0, 2.2, 2.1, 3.0, 3.1],
                         "t": [0.0, 0.02, 0.04, 0.0, 0.02]})


def test_trajectory_files_open_as_tracks(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    txt = tmp_path / "cell.trxyt"
    small_table().to_csv(txt, sep="\t", index=False, header=False)
    xml = tmp_path / "cell.xml"
    xml.write_text(TRACKMATE)
    for path, n in ((txt, 5), (xml, 6)):
        layers = viewer.open(str(path), plugin="napari-tramway")
        tracks = layers[0]
        assert tracks.__class__.__name__ == "Tracks"
        assert len(tracks.metadata["locations"]) == n
        assert tracks.metadata["path"] == str(path.resolve())
        assert tracks.metadata["frame_interval"] > 0
        world = tracks.data[:, 1:] * np.asarray(tracks.scale)
        np.testing.assert_allclose(world[:, 1:], tracks.metadata["locations"][["y", "x"]].to_numpy())
    assert tracks.metadata["frame_interval"] == pytest.approx(0.05)


def test_unreadable_file_is_a_notification_not_a_traceback(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    bad = tmp_path / "bad.txt"
    bad.write_text("n\tx\ty\tt\n1\t0.1\toops\t0.0\n")
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda msg: shown.append(msg))
    layers = viewer.open(str(bad), plugin="napari-tramway")
    assert layers == []
    assert shown and "bad.txt" in shown[0]


def test_csv_column_mapping_dialog(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """A tracker table whose columns are not recognised: the user maps them in a dialog."""
    from napari_tramway._widgets import columns

    viewer = make_napari_viewer()
    df = small_table().rename(columns={"n": "particle_no", "x": "xpos_um", "y": "ypos_um", "t": "time_s"})
    df.insert(0, "intensity", 100.0)
    path = tmp_path / "tracker.csv"
    df.to_csv(path, index=False)
    seen = {}

    def exec_(dialog):
        seen["roles"] = {r: c.currentText() for r, c in dialog.combos.items()}
        dialog.set_role("n", "particle_no")
        dialog.set_role("x", "xpos_um")
        dialog.set_role("y", "ypos_um")
        dialog.set_role("t", "time_s")
        assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        return columns.QDialog.DialogCode.Accepted

    monkeypatch.setattr(columns.ColumnMappingDialog, "exec", exec_)
    layers = viewer.open(str(path), plugin="napari-tramway")
    assert seen["roles"]["n"] == columns.NONE  # not recognised, hence the dialog
    tracks = layers[0]
    loc = tracks.metadata["locations"]
    np.testing.assert_allclose(np.sort(loc["x"].to_numpy()), np.sort(df["xpos_um"].to_numpy()))
    assert tracks.metadata["reader"]["columns"] == {"n": "particle_no", "x": "xpos_um", "y": "ypos_um", "t": "time_s"}

    # cancelling the dialog opens nothing
    monkeypatch.setattr(columns.ColumnMappingDialog, "exec", lambda dialog: columns.QDialog.DialogCode.Rejected)
    assert viewer.open(str(path), plugin="napari-tramway") == []


def test_roi_files_open_as_shapes_and_save_back(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    rois = [Rectangle(1, 2, 5, 6), Polygon([[0, 0], [4, 0], [2, 3]]), Ellipse((10, 10), (3, 1.5), 30)]
    write_rois(tmp_path / "rois.json", rois)
    write_rois(tmp_path / "rects.txt", rois[:1])
    shapes = viewer.open(str(tmp_path / "rois.json"), plugin="napari-tramway")[0]
    assert list(shapes.shape_type) == ["rectangle", "polygon", "ellipse"]
    rect = viewer.open(str(tmp_path / "rects.txt"), plugin="napari-tramway")[0]
    assert list(rect.shape_type) == ["rectangle"]
    out = write_rois_file(str(tmp_path / "out.json"), shapes.data, {"shape_type": shapes.shape_type,
                                                                     "scale": shapes.scale, "translate": shapes.translate})
    from napari_tramway.core.roi import read_rois

    back = read_rois(out[0])
    assert back[0] == rois[0] and back[1].area == pytest.approx(rois[1].area)
    assert back[2].area == pytest.approx(rois[2].area, rel=1e-5)
    # through napari's own save, with our writer
    viewer.layers.selection = {shapes}
    saved = viewer.layers.save(str(tmp_path / "saved.json"), selected=True, plugin="napari-tramway")
    assert saved and len(read_rois(saved[0])) == 3


def test_sample_data(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-tramway", "cells")
    image, tracks = viewer.layers
    assert image.data.shape == (256, 256) and tuple(image.scale) == (0.1, 0.1)
    assert tuple(image.translate) == pytest.approx((0.05, 0.05))
    assert tracks.metadata["path"].endswith(".txt")
    from napari_tramway import read_trajectories

    again = read_trajectories(tracks.metadata["path"])
    assert len(again) == len(tracks.metadata["locations"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small result store: the sample's two cells, model DF, no time windows."""
    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway._sample_data import sample_files

    _, _, _, _, path = sample_files()
    d = tmp_path_factory.mktemp("store")
    spec = AnalysisSpec(files=[DataFile(str(path), 0.02, 0.02)], rois=[Rectangle(3.5, 8, 10.5, 16), Rectangle(15, 16, 22, 21)],
                        mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("df", {}))
    a = Analysis(spec, store=d / "results")
    assert a.run().ok
    return d / "results"


def test_results_open_as_map_layers_and_export(make_napari_viewer, store, tmp_path):
    from napari_tramway.pipeline import open_results

    viewer = make_napari_viewer()
    assert get_reader(str(store)) is not None
    layers = viewer.open(str(store), plugin="napari-tramway")
    names = [la.name for la in layers]
    assert any(n.startswith("log10 D") for n in names) and any(n.startswith("cells ·") for n in names)
    d = next(la for la in layers if la.name.startswith("log10 D"))
    assert d.colorbar.visible  # set by the plugin on insertion
    cells = next(la for la in layers if la.name.startswith("cells ·"))
    assert cells.contour == 1
    results = open_results(store)
    # CSV: the per-cell table of every unit
    out = write_maps_csv(str(tmp_path / "maps.csv"), [la.as_layer_data_tuple() for la in layers])
    table = pd.read_csv(out[0])
    assert set(table["unit"]) == set(results.labels())
    m = results.maps(results.labels()[0])
    sub = table[table["unit"] == results.labels()[0]].set_index("cell")
    fitted = m.table[m.table["n"] > 0]
    np.testing.assert_allclose(sub.loc[fitted.index, "diffusivity"], fitted["diffusivity"], rtol=1e-9)
    # TIFF: the map image as float32 with its pixel size
    import tifffile

    out = write_map_tiff(str(tmp_path / "d.tif"), d.data, d.as_layer_data_tuple()[1])
    with tifffile.TiffFile(out[0]) as tf:
        arr = tf.asarray()
        info = json.loads(tf.imagej_metadata["Info"])
        xres = tf.pages[0].tags["XResolution"].value
    np.testing.assert_array_equal(arr, d.data.astype(np.float32))
    assert info["transform"] == "log10" and info["pixel_size_um"] == pytest.approx(d.scale[-1])
    assert xres[0] / xres[1] == pytest.approx(1 / d.scale[-1], rel=1e-4)
    # one unit's result file
    unit_file = next(store.rglob("*.ntw"))
    layers = viewer.open(str(unit_file), plugin="napari-tramway")
    assert any(la.name.startswith("log10 D") for la in layers)


def test_headless_maps_are_the_napari_layers_on_the_image_pixels(store):
    """The CLI demo's PNGs draw the same maps as napari: values, colormap, contrast limits."""
    from napari_tramway._layers import ImageGrid, layers_from_results
    from napari_tramway.pipeline import open_results
    from napari_tramway.render import map_images, overlay

    results = open_results(store)
    grid = ImageGrid((0.0, 0.0), 0.1, (256, 256))
    images = map_images(results, grid)
    layers = {kw["name"]: kw for _, kw, _ in layers_from_results(results, grid)}
    assert [m.column for m in images] == ["diffusivity"]  # model DF: no potential
    m = images[0]
    assert m.values.shape == (256, 256) and m.colormap == layers[m.name]["colormap"] and m.unit == "log10(µm²/s)"
    assert m.limits == pytest.approx(layers[m.name]["contrast_limits"], abs=0.1)
    checked = 0
    for label in results.labels():
        t = results.maps(label).table
        fitted = t[(t["n"] > 0) & (t["diffusivity"] > 0)]
        rows = np.floor(fitted["y"].to_numpy() / 0.1).astype(int)
        cols = np.floor(fitted["x"].to_numpy() / 0.1).astype(int)
        v = m.values[rows, cols]
        ok = np.isfinite(v)  # a centre outside its ROI is not drawn
        np.testing.assert_allclose(v[ok], np.log10(fitted["diffusivity"].to_numpy())[ok], rtol=1e-5)
        checked += ok.sum()
    assert checked > 50
    rgb = overlay(np.random.default_rng(0).random((256, 256)), m.values, m.colormap, m.limits)
    assert rgb.shape == (256, 256, 3) and rgb.dtype == np.uint8


def test_demo_opens_the_panel_the_rois_and_the_maps(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    """``napari-tramway demo`` (not headless): the panel loaded from the sample spec, the maps opened
    by the panel as with "Open results…", the trajectories hidden under them."""
    import napari

    from napari_tramway import demo

    viewers = []
    monkeypatch.setattr(napari, "Viewer", lambda **kw: viewers.append(make_napari_viewer()) or viewers[-1])
    monkeypatch.setattr(napari, "run", lambda *a, **kw: None)
    assert demo.run_demo(headless=False, output=str(tmp_path / "demo")) == 0
    viewer = viewers[0]
    qtbot.waitUntil(lambda: any(la.name.startswith("log10 D") for la in viewer.layers), timeout=60_000)
    panel = next(iter(viewer.window.dock_widgets.values()))
    qtbot.waitUntil(lambda: not panel.runs.busy, timeout=60_000)
    names = [la.name for la in viewer.layers]
    assert names[0] == "wide-field (simulated)" and "ROIs" in names and len(viewer.layers["ROIs"].data) == 3
    assert any(la.name.startswith("V (kT)") for la in viewer.layers)
    tracks = [la for la in viewer.layers if la.__class__.__name__ == "Tracks"]
    assert len(tracks) == 1 and not tracks[0].visible
    assert panel.runs.store_dir() == tmp_path / "demo" / "sample-results"
    assert panel.build_spec().model.name == "dv"
    from widget_helpers import settle

    settle(panel, qtbot)
