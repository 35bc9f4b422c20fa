"""``napari-tramway demo``: the main job on the bundled sample data.

Writes the sample (wide-field image, trajectories, ROIs around its three cells, an analysis spec)
to the output directory, runs the analysis (DV by default: diffusivity and potential), then either
opens napari with the image, the tracks, the ROIs and the maps as layers, or (``--headless``)
writes the maps as CSV (one row per cell) and PNG (maps over the image).
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_sample(output: Path):
    """Write the sample data set and its spec; return (spec path, image, pixel size, rois)."""
    import tifffile

    from .core.roi import Ellipse, write_rois
    from .core.simulate import sample_dataset
    from .pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec

    output.mkdir(parents=True, exist_ok=True)
    image, pixel_size, locations, fld = sample_dataset()
    traj = output / "sample-trajectories.txt"
    locations[["n", "x", "y", "t"]].to_csv(traj, sep="\t", index=False, float_format="%.5f")
    tifffile.imwrite(output / "sample-image.tif", image, metadata={"spacing": pixel_size, "unit": "um"})
    rois = [Ellipse((cx, cy), (a * 1.05, b * 1.05), ang, name=f"cell {i + 1}") for i, (cx, cy, a, b, ang) in enumerate(fld.cells)]
    write_rois(output / "sample-rois.json", rois)
    spec = AnalysisSpec(
        files=[DataFile(traj.name, frame_interval=0.02, localization_precision=0.02)],
        rois=rois,
        mesh=MeshSpec("hexagon", {"resolution": 1.0}),
        model=ModelSpec("dv", {"diffusivity_prior": 0.1, "potential_prior": 0.1}),
        name="napari-tramway sample",
    )
    spec_path = spec.save(output / "sample-analysis.json")
    return spec_path, image, pixel_size, rois, locations


def run_demo(headless: bool = False, output: str = "demo-output", model: str = "dv", env: str = "inprocess") -> int:
    from .pipeline import Analysis, AnalysisSpec

    out = Path(output)
    spec_path, image, pixel_size, rois, locations = write_sample(out)
    spec = AnalysisSpec.load(spec_path)
    if model != spec.model.name:
        from .pipeline import ModelSpec

        params = {k: v for k, v in spec.model.parameters.items() if k == "diffusivity_prior"}
        spec.model = ModelSpec(model, params)
        spec.save(spec_path)
    analysis = Analysis(spec_path, store=out / "sample-results")
    print(f"sample data in {out}/: image {image.shape[1]}×{image.shape[0]} px at {pixel_size} µm, "
          f"{len(locations)} locations, {len(rois)} ROIs; model {spec.model.name.upper()} on {spec.mesh.method}")
    summary = analysis.run(env=env, events=lambda ev: print("  " + ev.describe()) if ev.kind in ("done", "failed") else None)
    print(summary.describe())
    if not summary.ok:
        return 1
    if headless:
        return _headless_outputs(analysis, image, pixel_size, out)
    return _open_napari(analysis, image, pixel_size, locations, rois)


def _headless_outputs(analysis, image, pixel_size, out: Path) -> int:
    from .pipeline.data import region_by_label, support_regions
    from .render import feature_raster, overlay, write_png

    results = analysis.results()
    pairs = []
    regions = support_regions(analysis.spec, 0, None)
    for unit in analysis.units():
        maps = results.maps(unit.label)
        csv = out / f"maps-{unit.region_label}.csv"
        maps.to_csv(csv)
        print(f"wrote {csv} ({len(maps.table)} cells)")
        pairs.append((maps, region_by_label(regions, unit.region_label)))
    shape = image.shape
    columns = pairs[0][0].table.columns
    for column, cmap, log, centre in (("diffusivity", "viridis", True, False), ("potential", "RdBu_r", False, True)):
        if column not in columns:
            continue
        values = feature_raster(pairs, column, (0.0, 0.0), pixel_size, shape)
        rgb, (lo, hi) = overlay(image, values, cmap, log=log, centre=centre)
        png = out / f"map-{column}.png"
        write_png(png, rgb)
        unit = "log10 µm²/s" if log else "kT"
        print(f"wrote {png} (colour range {lo:.3g} to {hi:.3g} {unit})")
    return 0


def _open_napari(analysis, image, pixel_size, locations, rois) -> int:
    """The image, then the panel loaded with the spec (it reads the file and draws the ROIs), then the maps."""
    try:
        import napari
    except ImportError as exc:  # pragma: no cover - napari is a dependency
        print(f"napari is not available ({exc}); use --headless", file=sys.stderr)
        return 1
    from . import _layers

    viewer = napari.Viewer(title="napari-tramway demo")
    scale, translate = _layers.image_transform((0.0, 0.0), pixel_size)
    viewer.add_image(image, name="sample image", scale=scale, translate=translate, colormap="gray")
    _, panel = viewer.window.add_plugin_dock_widget("napari-tramway")
    grid = _layers.ImageGrid(origin=(0.0, 0.0), pixel_size=pixel_size, shape=image.shape)

    def add_maps():
        for data, kwargs, kind in _layers.layers_from_results(analysis.results(), grid):
            getattr(viewer, f"add_{kind}")(data, **kwargs)
        for layer in viewer.layers:
            if isinstance(layer, napari.layers.Tracks):
                layer.visible = False

    panel.load_spec(analysis.spec_path, on_loaded=add_maps)
    napari.run()
    return 0
