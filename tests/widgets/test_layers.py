"""``_layers``: maps, meshes, trajectories and ROIs as napari layer-data tuples (no viewer needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_tramway._layers import (
    ImageGrid,
    MapCollection,
    collection_key,
    image_transform,
    layers_from_maps,
    layers_from_mesh,
    raster_grid,
    rois_from_shapes,
    shapes_from_rois,
    tracks_from_locations,
)
from napari_tramway.core.maps import Maps
from napari_tramway.core.meshes import build_mesh
from napari_tramway.core.roi import Ellipse, FullRegion, Polygon, Rectangle


def synthetic_maps(resolution=1.0, box=(2.0, 3.0, 12.0, 11.0), seed=0, model="df"):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    pts = np.column_stack([rng.uniform(x0, x1, 500), rng.uniform(y0, y1, 500)])
    mesh = build_mesh("grid", pts, region=FullRegion(box), resolution=resolution)
    k = mesh.n_cells
    c = np.asarray(mesh.centres)
    table = pd.DataFrame({
        "x": c[:, 0], "y": c[:, 1], "n": rng.integers(1, 50, k),
        "diffusivity": 10 ** rng.uniform(-2, 0, k), "force x": rng.normal(size=k), "force y": rng.normal(size=k),
        "diffusivity sd": rng.uniform(0.001, 0.01, k),
    }, index=pd.Index(np.arange(k), name="cell"))
    table.loc[0, "n"] = 0
    table.loc[0, "diffusivity"] = np.nan
    return Maps(mesh=mesh, table=table, model=model)


def pixel(data_shape, kwargs, x, y, window=None):
    scale = np.asarray(kwargs["scale"], float)[-2:]
    translate = np.asarray(kwargs["translate"], float)[-2:]
    ij = np.round((np.array([y, x]) - translate) / scale).astype(int)
    return ((window,) if window is not None else ()) + tuple(ij)


def test_image_transform_puts_pixel_corners_on_the_grid():
    scale, translate = image_transform((0.0, 0.0), 0.1)
    assert scale == (0.1, 0.1) and translate == pytest.approx((0.05, 0.05))
    g = raster_grid((2.03, 3.01, 11.97, 10.99), ImageGrid((0.0, 0.0), 0.1, (256, 256)), cell_size=1.0)
    assert g.pixel_size == pytest.approx(0.05)  # image pixels split in 2: smooth cell outlines
    assert g.origin == pytest.approx((2.0, 3.0)) and g.shape == (160, 200)
    # a large field of small cells: no finer than needed to see every cell
    g = raster_grid((0, 0, 100, 100), ImageGrid((0.0, 0.0), 0.1), cell_size=0.5)
    assert g.pixel_size == pytest.approx(0.1) and g.shape == (1000, 1000)
    # cells smaller than pixels: the raster is refined by an integer factor, still aligned
    g = raster_grid((2.0, 3.0, 4.0, 4.0), ImageGrid((0.0, 0.0), 0.1, (256, 256)), cell_size=0.02)
    k = 0.1 / g.pixel_size
    assert g.pixel_size <= 0.01 and k == pytest.approx(round(k))
    assert g.origin[0] / g.pixel_size == pytest.approx(round(g.origin[0] / g.pixel_size))


def test_layers_from_maps_values_at_cell_centres():
    maps = synthetic_maps()
    grid = ImageGrid((0.0, 0.0), 0.1, (256, 256))
    layers = layers_from_maps(maps, grid, unit="cells/roi000", meta={"spec": {"x": 1}, "software": "napari-tramway t",
                                                                      "environment": "local"})
    by_name = {kw["name"]: (data, kw, kind) for data, kw, kind in layers}
    kinds = sorted(kind for _, _, kind in layers)
    assert kinds == ["image", "image", "labels", "vectors"]
    d, dkw, _ = by_name["log₁₀ D (µm²/s) · cells/roi000"]
    lab, lkw, _ = by_name["cells · cells/roi000"]
    assert d.dtype == np.float32 and d.shape == lab.shape
    assert dkw["scale"] == lkw["scale"] and dkw["translate"] == lkw["translate"]
    t = maps.table
    for cell in range(1, maps.mesh.n_cells):
        x, y = t.loc[cell, "x"], t.loc[cell, "y"]
        ij = pixel(d.shape, dkw, x, y)
        assert lab[ij] == cell + 1
        assert d[ij] == pytest.approx(np.log10(t.loc[cell, "diffusivity"]), rel=1e-6)
    assert np.isnan(d[pixel(d.shape, dkw, t.loc[0, "x"], t.loc[0, "y"])])  # a cell without steps is empty
    assert np.isnan(d[0, 0]) or lab[0, 0] > 0
    # hover: every column of the cell under the mouse
    f = lkw["features"]
    assert list(f["index"]) == list(range(1, maps.mesh.n_cells + 1))
    np.testing.assert_allclose(f["D (µm²/s)"], t["diffusivity"], equal_nan=True)  # hover in µm²/s
    assert {"x (µm)", "F x (kT/µm)", "D sd (µm²/s)", "translocations", "area (µm²)"} <= set(f.columns)
    # vectors at cell centres
    v, vkw, _ = by_name["‖F‖ (kT/µm) · cells/roi000"]
    assert v.shape == (maps.mesh.n_cells, 2, 2)
    np.testing.assert_allclose(v[:, 0, ::-1], np.column_stack([t["x"], t["y"]]), atol=0.05)
    f_true = np.column_stack([t["force x"], t["force y"]])
    mags = np.hypot(*f_true.T)
    np.testing.assert_allclose(vkw["features"]["magnitude"], mags)
    cap = np.percentile(mags, 95)  # drawn no longer than the 95th percentile, same direction
    np.testing.assert_allclose(v[:, 1, ::-1], f_true * np.minimum(1, cap / mags)[:, None], rtol=1e-9)
    # provenance and display settings
    md = dkw["metadata"]["napari_tramway"]
    assert md["spec"] == {"x": 1} and md["environment"] == "local" and md["transform"] == "log10"
    assert md["display"]["colorbar"] and lkw["metadata"]["napari_tramway"]["display"]["contour"] == 1
    assert md["title"] == "log₁₀ D (µm²/s)" and "log₁₀ scale" in md["scale_text"]
    sd = by_name["D sd (µm²/s) · cells/roi000"][1]
    assert sd["visible"] is False
    # units: µm on every layer (the scale bar), axes named
    for _, kw, _ in layers:
        assert tuple(kw["units"]) == ("µm", "µm") and tuple(kw["axis_labels"]) == ("y", "x")


def test_linear_diffusivity_and_potential_from_its_minimum():
    maps = synthetic_maps()
    maps.table["potential"] = np.linspace(0, 4, maps.mesh.n_cells)
    maps.table["potential sd"] = 0.1
    maps.table["too few steps"] = maps.table["n"] < 5  # a flag column: a feature, not a map
    maps.table["confinement"] = np.linspace(1, 2, maps.mesh.n_cells)  # a quantity unknown here: drawn too
    layers = layers_from_maps(maps, None, unit="u", log_diffusivity=False)
    names = [kw["name"] for _, kw, _ in layers]
    assert "D (µm²/s) · u" in names and "V (kT) · u" in names and "V sd (kT) · u" in names
    assert "confinement · u" in names and not any("too few" in n for n in names)
    v = next(kw for _, kw, _ in layers if kw["name"] == "V (kT) · u")
    lo, hi = v["contrast_limits"]
    assert lo == pytest.approx(0.0) and 3.5 < hi <= 4  # each region's minimum is 0 kT


def test_time_windows_are_a_leading_axis():
    segs = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    m0, m2 = synthetic_maps(seed=1), synthetic_maps(seed=2)
    layers = layers_from_maps([m0, None, m2], ImageGrid((0, 0), 0.1), unit="f/roi000", segments=segs)
    d, kw, _ = layers[0]
    assert d.ndim == 3 and d.shape[0] == 3
    assert kw["scale"][0] == pytest.approx(10.0) and kw["translate"][0] == pytest.approx(5.0)
    assert np.isnan(d[1]).all() and np.isfinite(d[0]).any() and np.isfinite(d[2]).any()
    lab = next(data for data, kw, kind in layers if kind == "labels")
    feats = next(kw["features"] for data, kw, kind in layers if kind == "labels")
    assert set(feats["window"]) == {0, 2}
    assert tuple(kw["units"]) == ("s", "µm", "µm") and tuple(kw["axis_labels"]) == ("t", "y", "x")
    assert lab[2].max() == feats["index"].max() and (lab[1] == 0).all()
    vec = next(data for data, kw, kind in layers if kind == "vectors")
    assert vec.shape[2] == 3 and set(np.unique(vec[:, 0, 0])) == {0.0, 2.0}


def test_collection_draws_several_units_together():
    grid = ImageGrid((0.0, 0.0), 0.1, (256, 256))
    a = synthetic_maps(box=(1.0, 1.0, 5.0, 5.0), seed=3)
    b = synthetic_maps(box=(8.0, 6.0, 12.0, 10.0), seed=4)
    coll = MapCollection("cells", None, grid)
    meta_a = {"unit": {"label": "cells/roi000", "file_label": "cells", "region_label": "roi000", "segment": None}}
    meta_b = {"unit": {"label": "cells/roi001", "file_label": "cells", "region_label": "roi001", "segment": None}}
    assert collection_key("cells/roi000", meta_a) == ("cells", None)
    first = coll.add(None, "cells/roi000", a, meta_a)
    both = coll.add(None, "cells/roi001", b, meta_b)
    assert [kw["name"] for _, kw, _ in first] == [kw["name"] for _, kw, _ in both]
    d, kw, _ = both[0]
    for maps in (a, b):
        t = maps.table
        for cell in range(1, maps.mesh.n_cells):
            assert d[pixel(d.shape, kw, t.loc[cell, "x"], t.loc[cell, "y"])] == pytest.approx(
                np.log10(t.loc[cell, "diffusivity"]), rel=1e-6)
    feats = next(kw["features"] for _, kw, kind in both if kind == "labels")
    assert set(feats["unit"]) == {"cells/roi000", "cells/roi001"}
    assert feats["index"].is_unique


def test_planned_collection_keeps_its_raster_as_units_come():
    """With the run's spec, a collection's raster covers every unit's ROI from the first unit on:
    the layers keep their place and shape (napari re-slices every layer when one moves)."""
    from napari_tramway import AnalysisSpec, DataFile
    from napari_tramway._layers import plan_collections

    grid = ImageGrid((0.0, 0.0), 0.1, (256, 256))
    rois = [Rectangle(1.0, 1.0, 5.0, 5.0), Rectangle(8.0, 6.0, 12.0, 10.0)]
    spec = AnalysisSpec(files=[DataFile("cells.txt", 0.02, 0.02)], rois=rois).to_dict()
    units = [{"label": f"cells/roi00{i}", "file_index": 0, "file_label": "cells", "region_label": f"roi00{i}",
              "segment": None} for i in range(2)]
    coll = plan_collections(units, None, grid, None, spec=spec)["cells"]
    assert coll.bounds == pytest.approx((1.0, 1.0, 12.0, 10.0))
    a = synthetic_maps(box=(1.0, 1.0, 5.0, 5.0), seed=3)
    b = synthetic_maps(box=(8.0, 6.0, 12.0, 10.0), seed=4)
    first = coll.add(None, units[0]["label"], a, {"unit": units[0], "spec": spec})
    both = coll.add(None, units[1]["label"], b, {"unit": units[1], "spec": spec})
    for (d1, kw1, kind), (d2, kw2, _) in zip(first, both):
        assert kw1["name"] == kw2["name"] and kw1["scale"] == kw2["scale"] and kw1["translate"] == kw2["translate"]
        if kind != "vectors":  # rasters (maps, cells) keep their shape; arrows are added
            assert np.shape(d1) == np.shape(d2)
    d, kw, _ = both[0]
    for maps in (a, b):  # each unit's cells where they are
        t = maps.table
        for cell in range(1, maps.mesh.n_cells):
            assert d[pixel(d.shape, kw, t.loc[cell, "x"], t.loc[cell, "y"])] == pytest.approx(
                np.log10(t.loc[cell, "diffusivity"]), rel=1e-6)


def test_mesh_preview_layer():
    maps = synthetic_maps()
    (lab, kw, kind), = layers_from_mesh(maps.mesh, ImageGrid((0, 0), 0.1))
    assert kind == "labels" and lab.max() == maps.mesh.n_cells and kw["name"] == "mesh preview"


def test_tracks_layer_in_micrometres_and_seconds():
    df = pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [1.0, 1.1, 1.2, 5.0, 5.1], "y": [2.0, 2.1, 2.2, 6.0, 6.1],
                       "t": [0.04, 0.06, 0.08, 0.02, 0.04]})
    df.attrs.update(frame_interval=0.02, localization_precision=0.03, source="x.txt")
    data, kw, kind = tracks_from_locations(df, path="/data/x.txt")
    assert kind == "tracks"
    np.testing.assert_allclose(data[:, 1] * kw["scale"][0], df["t"])
    np.testing.assert_allclose(data[:, 2:], df[["y", "x"]])
    assert kw["scale"][1:] == (1.0, 1.0)
    md = kw["metadata"]
    assert md["frame_interval"] == 0.02 and md["localization_precision"] == 0.03 and md["locations"] is df
    assert md["path"] == "/data/x.txt"


def test_rois_shapes_round_trip():
    rois = [Rectangle(1, 2, 5, 6), Polygon([[0, 0], [4, 0], [2, 3]]), Ellipse((10, 10), (3, 1.5), 30)]
    data, types = shapes_from_rois(rois)
    back, skipped = rois_from_shapes(data, types)
    assert not skipped
    assert back[0] == rois[0]
    assert back[1].area == pytest.approx(rois[1].area)
    e = back[2]
    assert e.centre == pytest.approx(rois[2].centre) and sorted(e.radii) == pytest.approx(sorted(rois[2].radii))
    pts = np.random.default_rng(0).uniform(5, 15, (2000, 2))
    assert (e.contains(pts) == rois[2].contains(pts)).mean() > 0.999
    # a rotated rectangle becomes a polygon; lines are skipped with a reason
    rot = np.array([[0, 1], [1, 2], [2, 1], [1, 0]], float)
    back, skipped = rois_from_shapes([rot, np.array([[0, 0], [1, 1]])], ["rectangle", "line"])
    assert back[0].kind == "polygon" and skipped and skipped[0][0] == 1
