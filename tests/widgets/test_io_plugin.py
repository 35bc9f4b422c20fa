"""npe2 readers, writers and sample data of the plugin, through napari's own open/save paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_tramway._writer import write_rois_file
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
    """A tracker table whose columns are not recognised: the user maps them in a dialog (the
    data-file settings form, one combo box per role offering the file's columns)."""
    from napari_tramway._widgets import columns
    from napari_tramway._widgets.forms import AUTO

    viewer = make_napari_viewer()
    df = small_table().rename(columns={"n": "particle_no", "x": "xpos_um", "y": "ypos_um", "t": "time_s"})
    df.insert(0, "intensity", 100.0)
    path = tmp_path / "tracker.csv"
    df.to_csv(path, index=False)
    seen = {}

    def exec_(dialog):
        seen["roles"] = {r: c.current_choice for r, c in dialog.combos.items()}
        seen["choices"] = [label for label, _ in columns.column_choices(dialog.names, True)]
        seen["ok before"] = dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        dialog.set_role("n", "particle_no")
        dialog.set_role("x", "xpos_um")
        dialog.set_role("y", "ypos_um")
        dialog.set_role("t", "time_s")
        assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
        return columns.QDialog.DialogCode.Accepted

    monkeypatch.setattr(columns.ColumnMappingDialog, "exec", exec_)
    layers = viewer.open(str(path), plugin="napari-tramway")
    assert seen["roles"]["n"] == AUTO and not seen["ok before"]  # not recognised, hence the dialog
    assert seen["choices"] == ["intensity", "particle_no", "xpos_um", "ypos_um", "time_s"]
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


def test_demo_opens_the_panel_the_rois_and_the_maps(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    """``napari-tramway demo`` (not headless): the panel loaded from the sample spec, the maps opened
    by the panel as with "Open…" (open results), the trajectories hidden under them."""
    import napari

    from napari_tramway import demo

    viewers = []
    monkeypatch.setattr(napari, "Viewer", lambda **kw: viewers.append(make_napari_viewer()) or viewers[-1])
    monkeypatch.setattr(napari, "run", lambda *a, **kw: None)
    assert demo.run_demo(headless=False, output=str(tmp_path / "demo")) == 0
    viewer = viewers[0]
    qtbot.waitUntil(lambda: any(la.name.startswith("log₁₀ D") for la in viewer.layers), timeout=60_000)
    panel = next(iter(viewer.window.dock_widgets.values()))
    qtbot.waitUntil(lambda: not panel.runs.busy, timeout=60_000)
    names = [la.name for la in viewer.layers]
    assert names[0] == "wide-field (simulated)" and "ROIs" in names and len(viewer.layers["ROIs"].data) == 3
    assert any(la.name.startswith("V (kT) · sample-results (DV, hexagon 1 µm)") for la in viewer.layers)
    assert [r.run.name for r in panel.runs.entries.values()] == ["sample-results"]
    tracks = [la for la in viewer.layers if la.__class__.__name__ == "Tracks"]
    assert len(tracks) == 1 and not tracks[0].visible
    assert panel.runs.store_dir() == tmp_path / "demo" / "sample-results"
    assert panel.build_spec().model.name == "dv"
    from widget_helpers import settle

    settle(panel, qtbot)
