"""A mesh method is one module plus its registry entry: this test file is that module.

``stripes`` cuts the region into vertical bands of ``width`` µm. Registered with
:func:`mesh_method` (its module is this file, its locator ``StripeLocator``), it is validated by
the spec, built and located by the pipeline, listed in the docs table, and fitted, with no other
change anywhere (docs/architecture.md, "A mesh method").
"""

import numpy as np
import pytest

from napari_tramway import Analysis
from napari_tramway.core.meshes import MESHES
from napari_tramway.core.meshes.base import Mesh
from napari_tramway.core.meshes.geometry import symmetric_adjacency
from napari_tramway.core.meshes.locate import Locator
from napari_tramway.core.meshes.registry import ASSIGNING, knn_order, mesh_method
from napari_tramway.core.parameters import Parameter
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec, SpecError

WIDTH = Parameter("width", "float", 2.0, "Width of the vertical stripes.", unit="µm", minimum=0.0,
                  exclusive_minimum=True)


def build_stripes(xy, region, settings, sizing) -> Mesh:
    """Vertical bands of ``settings['width']`` µm over the region's bounding box."""
    x0, y0, x1, y1 = (float(v) for v in region.bounds)
    n = max(1, int(np.ceil((x1 - x0) / settings["width"] - 1e-9)))
    edges = np.minimum(x0 + settings["width"] * np.arange(n + 1), x1)
    left, right = edges[:-1], edges[1:]
    centres = np.column_stack([(left + right) / 2, np.full(n, (y0 + y1) / 2)])
    polygons = [np.array([[a, y0], [b, y0], [b, y1], [a, y1]]) for a, b in zip(left, right)]
    return Mesh(method="stripes", parameters={}, centres=centres,
                adjacency=symmetric_adjacency(np.arange(n - 1), np.arange(1, n), n), polygons=polygons,
                areas=(right - left) * (y1 - y0), bounds=np.array([x0, y0, x1, y1]),
                extra={"stripe_edges": edges})


class StripeLocator(Locator):
    """The band whose half-open x-range holds the point (the last band includes its right edge)."""

    def __init__(self, edges):
        self.edges = np.asarray(edges, float)
        self.cell_size = float(np.diff(self.edges).min())

    @classmethod
    def from_mesh(cls, mesh):
        return cls(mesh.extra["stripe_edges"])

    def cells(self, xy):
        x = np.asarray(xy, float)[:, 0]
        i = np.clip(np.searchsorted(self.edges, x, side="right") - 1, 0, len(self.edges) - 2)
        return np.where((x >= self.edges[0]) & (x <= self.edges[-1]), i, -1).astype(np.int64)


@pytest.fixture
def stripes():
    entry = MESHES.register(mesh_method(
        "stripes", "Vertical stripes", "Vertical bands of the region, width µm wide.", (WIDTH,) + ASSIGNING,
        locator="StripeLocator", module=__name__, checks=(knn_order,)))
    try:
        yield entry
    finally:
        MESHES.unregister("stripes")


def test_a_registered_mesh_runs_through_a_spec(tmp_path, three_files, stripes):
    spec = AnalysisSpec(files=[DataFile(str(three_files[0]), frame_interval=0.02, localization_precision=0.02)],
                        mesh=MeshSpec("stripes", {"width": 2.5, "min_location_count": 5}), model=ModelSpec("d"))
    # the spec validates the new method's parameters with its own description
    assert spec.mesh.parameters["width"] == 2.5 and spec.mesh.parameters.entry is stripes
    with pytest.raises(SpecError) as err:
        MeshSpec("stripes", {"width": -1, "resolution": 1.0})
    assert sorted(p for p, _ in err.value.problems) == ["mesh.parameters.resolution", "mesh.parameters.width"]
    # saved and loaded like any other
    back = AnalysisSpec.load(spec.save(tmp_path / "spec.json"))
    assert back.mesh == spec.mesh
    # built, located and fitted by the pipeline
    analysis = Analysis(back, store=tmp_path / "results")
    summary = analysis.run(env="inprocess")
    assert summary.ok, summary.errors
    (unit,) = analysis.units()
    maps, meta = analysis.results().unit(unit.label)
    x0, _, x1, _ = maps.mesh.bounds
    assert maps.mesh.method == "stripes" and maps.mesh.n_cells == np.ceil((x1 - x0) / 2.5) == 5  # ~10 µm field
    assert meta["n_cells"] == 5 and maps.mesh.parameters["width"] == 2.5
    d = maps.table["diffusivity"].to_numpy()
    assert np.isfinite(d).all() and (d > 0).all()
    # the docs table of the registry lists it
    assert "| `width` | stripes | float | 2.0 | µm | > 0.0 |" in MESHES.parameter_table()


def test_an_unregistered_mesh_is_refused_by_name():
    with pytest.raises(SpecError, match="unknown mesh 'stripes'"):
        AnalysisSpec.from_dict({"files": ["a.txt"], "mesh": {"method": "stripes", "parameters": {"width": 1.0}}})
