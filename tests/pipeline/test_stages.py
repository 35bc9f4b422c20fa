"""The tessellate / infer / tessellate_and_infer stages and their skip-if-done semantics."""

import numpy as np
import pytest

from napari_tramway.environments import LocalHost
from napari_tramway.pipeline import (
    Analysis,
    AnalysisSpec,
    DataFile,
    MeshSpec,
    ModelSpec,
    TimeWindowSpec,
)


def spec_for(files, rois, method="kmeans", windows=True):
    return AnalysisSpec(files=[DataFile(str(p), frame_interval=0.02, localization_precision=0.02) for p in files],
                        rois=rois, group_overlapping_rois=True,
                        mesh=MeshSpec(method, {"resolution": 1.0, "seed": 1} if method in ("kmeans", "gwr") else {"resolution": 1.0}),
                        time_windows=TimeWindowSpec(50.0) if windows else None, model=ModelSpec("dd", {}))


def test_tessellate_then_infer_reuses_one_mesh_per_region(tmp_path, three_files, two_roi_groups):
    spec = spec_for(three_files[:1], two_roi_groups)
    a = Analysis(spec, store=tmp_path / "s")
    with_infer_first = a.run(stage="infer")
    assert with_infer_first.count("failed") == 4
    assert "run the 'tessellate' stage first" in next(iter(with_infer_first.errors.values()))
    t = a.run(stage="tessellate")
    assert sorted(t.states) == ["cell0/roi000-001", "cell0/roi002"]
    assert t.count("done") == 2
    assert sorted(p.name for p in (tmp_path / "s" / "tessellations").rglob("*.ntw")) == ["roi000-001.ntw", "roi002.ntw"]
    assert a.run(stage="tessellate").count("skipped") == 2
    i = a.run(stage="infer", env=LocalHost(2))
    assert i.count("done") == 4, i.errors
    # both time segments of a region use the stored mesh: identical centres
    res = a.results()
    labels = [u.label for u in a.units() if u.region_label == "roi002"]
    m0, m1 = res.maps(labels[0]), res.maps(labels[1])
    np.testing.assert_array_equal(m0.mesh.centres, m1.mesh.centres)
    # tessellate_and_infer finds everything done
    assert a.run().count("skipped") == 4


def test_overwrite_recomputes_done_units(tmp_path, three_files, two_roi_groups):
    spec = spec_for(three_files[:1], two_roi_groups, method="hexagon", windows=False)
    a = Analysis(spec, store=tmp_path / "o")
    assert a.run().count("done") == 2
    assert a.run().count("skipped") == 2
    assert a.run(overwrite=True).count("done") == 2


def test_results_hold_spec_version_timings_and_environment(tmp_path, three_files, two_roi_groups):
    spec = spec_for(three_files[:1], two_roi_groups[2:], method="hexagon", windows=False)
    a = Analysis(spec, store=tmp_path / "r")
    a.run(env="local:1")
    maps, meta = a.results().unit("cell0/roi000")
    assert meta["spec"]["model"]["name"] == "dd"
    assert meta["software"].startswith("napari-tramway ")
    assert meta["environment"] == "local"
    assert {"read_crop", "mesh", "assign", "fit", "total"} <= set(meta["timings"])
    assert {"diffusivity", "drift x", "drift y"} <= set(maps.table.columns)
    assert a.results().spec().to_dict() == spec.to_dict()


def test_unknown_stage_is_refused(tmp_path, three_files):
    a = Analysis(spec_for(three_files[:1], []), store=tmp_path / "u")
    with pytest.raises(ValueError, match="unknown stage"):
        a.run(stage="everything")
