"""``napari-tramway demo``: the main job on the bundled sample data.

Writes the sample (wide-field image, trajectories, ROIs around its three cells, an analysis spec)
to the output directory, runs the analysis (DV by default: diffusivity and potential), then either
opens napari with the image, the tracks, the ROIs and the maps as layers, or (``--headless``)
writes the maps as CSV (one row per cell) and as figures (PNG and PDF: colour bar, title, units,
scale bar, over the image; see :mod:`napari_tramway.figures`).
"""

from __future__ import annotations

import sys
from pathlib import Path


def write_sample(output: Path):
    """Write the sample data set and its spec; return (spec path, image, pixel size, rois, locations, field)."""
    from ._sample_data import sample_files, write_sample_image
    from .core.roi import Ellipse, write_rois
    from .core.simulate import SAMPLE_ACQUISITION
    from .pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec

    output.mkdir(parents=True, exist_ok=True)
    image, pixel_size, locations, fld, traj = sample_files(directory=output)
    write_sample_image(output / "sample-image.tif", image, pixel_size)
    rois = [Ellipse((cx, cy), (a * 1.05, b * 1.05), ang, name=f"cell {i + 1}") for i, (cx, cy, a, b, ang) in enumerate(fld.cells)]
    write_rois(output / "sample-rois.json", rois)
    spec = AnalysisSpec(
        files=[DataFile(traj.name, frame_interval=SAMPLE_ACQUISITION.frame_interval,
                        localization_precision=SAMPLE_ACQUISITION.localization_precision)],
        rois=rois,
        mesh=MeshSpec("hexagon", {"resolution": 1.0}),
        model=ModelSpec("dv", {}),   # default priors: chosen by marginal likelihood
        name="napari-tramway sample",
    )
    spec_path = spec.save(output / "sample-analysis.json")
    return spec_path, image, pixel_size, rois, locations, fld


def run_demo(headless: bool = False, output: str = "demo-output", model: str = "dv", env: str = "inprocess") -> int:
    from .analysis import Analysis
    from .pipeline import AnalysisSpec

    out = Path(output)
    if not headless:
        problem = qt_bindings_problem()
        if problem is not None:
            print(f"napari-tramway demo: {problem}", file=sys.stderr)
            return 1
    spec_path, image, pixel_size, rois, locations, fld = write_sample(out)
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
    return _open_napari(analysis, image, pixel_size, fld)


def _headless_outputs(analysis, image, pixel_size, out: Path) -> int:
    """Each unit's maps as CSV (named after its ROIs); each map as a publication figure (PNG and
    PDF) over the image, with colour bar, title, units and scale bar."""
    from ._layers import ImageGrid
    from ._layers.runs import region_title
    from ._layers.sources import units_of_path
    from .figures import Background, figures, safe_name

    results = analysis.results()
    spec = analysis.spec.to_dict()
    for unit in analysis.units():
        maps = results.maps(unit.label)
        csv = out / f"maps-{safe_name(region_title(spec, unit.file_index, unit.region_label))}.csv"
        maps.to_csv(csv)
        print(f"wrote {csv}: {int(maps.fitted.sum())} rows, the cells with steps "
              f"(of the {len(maps.table)} cells of the region's mesh)")
    background = Background.from_array(image, ImageGrid((0.0, 0.0), pixel_size, image.shape))
    for path in figures(units_of_path(analysis.store.root), out / "figures", formats=["png", "pdf"],
                        background=background):
        print(f"wrote {path}")
    return 0


def qt_bindings_problem() -> str | None:
    """What to install when napari cannot open a window here (no Qt bindings), else None."""
    try:
        from qtpy import QtCore  # noqa: F401
    except Exception as exc:  # qtpy raises its own error (an ImportError) when no binding is installed
        return (f"napari cannot open a window: no Qt bindings are installed ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())}). Install them with: pip install 'napari[pyqt6]' "
                "(or pip install PyQt6), or run without a window: napari-tramway demo --headless")
    return None


def _open_napari(analysis, image, pixel_size, fld) -> int:
    """The image, then the panel loaded with the spec (it reads the file and draws the ROIs), then
    the maps, opened by the panel as with "Open…" (open results)."""
    try:
        import napari
    except ImportError as exc:  # pragma: no cover - napari is a dependency
        print(f"napari is not available ({exc}); use --headless", file=sys.stderr)
        return 1
    from ._sample_data import image_layer_data

    viewer = napari.Viewer(title="napari-tramway demo")
    data, kwargs, _ = image_layer_data(image, pixel_size, fld)
    viewer.add_image(data, **kwargs)
    _, panel = viewer.window.add_plugin_dock_widget("napari-tramway")
    store = analysis.store.root
    panel.runs.store_edit.setText(str(store))  # Run again: done units are skipped
    panel.load_spec(analysis.spec_path, on_loaded=lambda: panel.runs.open_results(store))
    napari.run()
    return 0
