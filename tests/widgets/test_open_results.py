"""Everything napari-tramway writes opens in napari through its npe2 reader (``viewer.open``, the
path of drag and drop and File ▸ Open): the output folder of ``run`` (a results directory) and of
``analyze``, every kind of ``.ntw``, maps CSV files; and the map layers export back to CSV and TIFF.
Run under ``xvfb-run``."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from napari_tramway._reader import get_reader
from napari_tramway._writer import write_map_tiff, write_maps_csv
from napari_tramway.core.roi import Rectangle, write_rois

pytestmark = pytest.mark.gui

ROIS = [Rectangle(3.5, 8, 10.5, 16, name="cell A"), Rectangle(15, 16, 22, 21, name="cell B")]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """What the command line writes for the sample's two cells: ``run`` of a spec (its results
    directory), ``analyze`` (its output folder), plus a tessellation run and a unit's input steps."""
    from napari_tramway import AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway._sample_data import sample_files
    from napari_tramway.cli import main

    _, _, _, _, path = sample_files()
    d = tmp_path_factory.mktemp("outputs")
    spec = AnalysisSpec(files=[DataFile(str(path), 0.02, 0.02)], rois=ROIS,
                        mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("df", {}))
    spec.save(d / "cells.json")
    assert main(["run", str(d / "cells.json")]) == 0
    write_rois(d / "rois.json", ROIS)
    assert main(["analyze", str(path), "--roi", str(d / "rois.json"), "--mesh", "hexagon", "--resolution", "1.5",
                 "--model", "dv", "-o", str(d / "analyzed")]) == 0
    spec.stage = "tessellate"
    spec.save(d / "meshes.json")
    assert main(["run", str(d / "meshes.json")]) == 0
    from napari_tramway.core.io.reading import read_trajectory_file
    from napari_tramway.core.trajectories import translocations
    from napari_tramway.pipeline.inputs import UnitInput, write_unit_input

    tf = read_trajectory_file(path)
    write_unit_input(d / "steps.ntw", UnitInput(translocations(tf.locations), tf.provenance, tf.acquisition))
    return d


def open_timed(viewer, path):
    """``viewer.open`` through the plugin's reader; return (layers, seconds on the GUI thread)."""
    assert get_reader(str(path)) is not None, path
    t0 = time.perf_counter()
    layers = viewer.open(str(path), plugin="napari-tramway")
    return layers, time.perf_counter() - t0


def names(layers):
    return [la.name for la in layers]


def test_run_output_folder_opens_as_maps_and_exports(make_napari_viewer, outputs, tmp_path):
    from napari_tramway.pipeline import open_results

    store = outputs / "cells.results"
    viewer = make_napari_viewer()
    layers, took = open_timed(viewer, store)
    print(f"\nresults directory opened in {took:.2f} s on the GUI thread")
    assert "log₁₀ D (µm²/s) · cells.results (DF, hexagon 1 µm)" in names(layers)
    assert "cells · cells.results (DF, hexagon 1 µm)" in names(layers)
    d = next(la for la in layers if la.name.startswith("log₁₀ D"))
    assert d.colorbar.visible and tuple(map(str, d.units)) == ("micrometer", "micrometer")
    cells = next(la for la in layers if la.name.startswith("cells ·"))
    assert cells.contour == 1 and set(cells.features["region"]) == {"cell A", "cell B"}  # ROI names
    results = open_results(store)
    # CSV: the per-cell table of every unit, with the ROI names
    out = write_maps_csv(str(tmp_path / "maps.csv"), [la.as_layer_data_tuple() for la in layers])
    table = pd.read_csv(out[0])
    assert set(table["unit"]) == set(results.labels()) and set(table["region"]) == {"cell A", "cell B"}
    m = results.maps(results.labels()[0])
    sub = table[table["unit"] == results.labels()[0]].set_index("cell")
    fitted = m.table[m.table["n"] > 0]
    np.testing.assert_allclose(sub.loc[fitted.index, "diffusivity"], fitted["diffusivity"], rtol=1e-9)
    # the CSV written opens again (as cell points coloured by D)
    points, _ = open_timed(viewer, out[0])
    assert type(points[0]).__name__ == "Points" and len(points[0].data) == len(table)
    # TIFF: the map image as float32 with its pixel size
    import tifffile

    out = write_map_tiff(str(tmp_path / "d.tif"), d.data, d.as_layer_data_tuple()[1])
    with tifffile.TiffFile(out[0]) as tf:
        arr = tf.asarray()
        info = json.loads(tf.imagej_metadata["Info"])
    np.testing.assert_array_equal(arr, d.data.astype(np.float32))
    assert info["transform"] == "log10" and info["pixel_size_um"] == pytest.approx(d.scale[-1])


def test_every_unit_result_file_opens(make_napari_viewer, outputs):
    viewer = make_napari_viewer()
    unit_file = next((outputs / "cells.results" / "units").rglob("*.ntw"))
    layers, took = open_timed(viewer, unit_file)
    print(f"\none unit's result opened in {took:.2f} s")
    assert any(n.startswith("log₁₀ D (µm²/s) · cells.results (DF, hexagon 1 µm)") for n in names(layers))
    assert any(n.endswith(("cell A", "cell B")) for n in names(layers)), names(layers)  # the unit's ROI name


def test_analyze_output_opens_whole_or_in_parts(make_napari_viewer, outputs):
    """The analyze folder, its <file> folder, its <region>.ntw ('full result', maps format) and its
    <region>.csv all open."""
    out = outputs / "analyzed"
    stem = next(p for p in out.iterdir() if p.is_dir())
    viewer = make_napari_viewer()
    for path in (out, stem):
        layers, took = open_timed(viewer, path)
        print(f"\n{path.name}: {len(layers)} layers in {took:.2f} s")
        assert any(n.startswith("V (kT) · ") and "DV, hexagon 1.5 µm" in n for n in names(layers)), names(layers)
    full = next(stem.glob("*.ntw"))
    layers, _ = open_timed(viewer, full)  # format napari-tramway/maps: refused before
    assert any(n.startswith("log₁₀ D (µm²/s) · ") and "DV, hexagon 1.5 µm" in n for n in names(layers))
    csv = next(stem.glob("*.csv"))
    layers, _ = open_timed(viewer, csv)
    pts = layers[0]
    table = pd.read_csv(csv)
    assert type(pts).__name__ == "Points" and len(pts.data) == len(table)
    np.testing.assert_allclose(pts.features["D (µm²/s)"], table["diffusivity"])
    np.testing.assert_allclose(pts.data[:, ::-1], table[["x", "y"]].to_numpy())


def test_meshes_and_steps_files_open(make_napari_viewer, outputs):
    viewer = make_napari_viewer()
    mesh_file = next((outputs / "meshes.results" / "tessellations").rglob("*.ntw"))
    layers, _ = open_timed(viewer, mesh_file)
    assert type(layers[0]).__name__ == "Labels" and layers[0].data.max() > 10
    layers, _ = open_timed(viewer, outputs / "steps.ntw")
    assert type(layers[0]).__name__ == "Tracks" and len(layers[0].data) > 1000


def test_a_foreign_or_broken_file_is_one_notification(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    bad = tmp_path / "broken.ntw"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    assert viewer.open(str(bad), plugin="napari-tramway") == []
    assert len(shown) == 1 and "broken.ntw" in shown[0] and "—" in shown[0]  # the cause, then what to do
