"""The tessellate / infer / tessellate_and_infer stages and their skip-if-done semantics."""

import numpy as np
import pytest

from napari_tramway import Analysis
from napari_tramway.environments import LocalHost
from napari_tramway.pipeline import (
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


def test_editing_an_roi_or_a_files_sigma_recomputes_only_what_it_affects(tmp_path, three_files, two_roi_groups):
    from napari_tramway.core.roi import Rectangle

    spec = spec_for(three_files[:2], two_roi_groups, method="hexagon", windows=False)
    a = Analysis(spec, store=tmp_path / "e")
    assert a.run().count("done") == 4
    # the user moves ROI 2 (region roi002 of both files): only those two units are recomputed
    spec.rois[2] = Rectangle(6.5, 1.5, 9.5, 9.0)
    b = Analysis(spec, store=tmp_path / "e")
    assert b.status() == {"cell0/roi000-001": "done", "cell0/roi002": "stale",
                          "cell1/roi000-001": "done", "cell1/roi002": "stale"}
    summary = b.run()
    assert summary.states == {"cell0/roi000-001": "skipped", "cell0/roi002": "done",
                              "cell1/roi000-001": "skipped", "cell1/roi002": "done"}
    assert b.results().maps("cell0/roi002").mesh.bounds[1] >= 1.5 - 1e-9
    # a new localization precision for one file makes that file's units stale, not the other's
    spec.files[1].localization_precision = 0.03
    c = Analysis(spec, store=tmp_path / "e")
    assert c.status() == {"cell0/roi000-001": "done", "cell0/roi002": "done",
                          "cell1/roi000-001": "stale", "cell1/roi002": "stale"}


def test_each_region_is_cropped_and_meshed_once_for_all_its_time_windows(tmp_path, three_files, two_roi_groups,
                                                                         monkeypatch):
    import napari_tramway.core.meshes as meshes
    import napari_tramway.pipeline.data as data
    from napari_tramway.pipeline.data import DataCache

    monkeypatch.setattr(data, "DEFAULT_CACHE", DataCache())
    import napari_tramway.pipeline.stages as stages
    import napari_tramway.pipeline.units as units_mod

    monkeypatch.setattr(stages, "DEFAULT_CACHE", data.DEFAULT_CACHE)
    monkeypatch.setattr(units_mod, "DEFAULT_CACHE", data.DEFAULT_CACHE)
    calls = {"crop": 0, "mesh": 0}
    real_steps, real_build = data.region_steps, meshes.build_mesh

    def counting_steps(*args, **kwargs):
        calls["crop"] += 1
        return real_steps(*args, **kwargs)

    def counting_build(*args, **kwargs):
        calls["mesh"] += 1
        return real_build(*args, **kwargs)

    monkeypatch.setattr(data, "region_steps", counting_steps)
    monkeypatch.setattr(meshes, "build_mesh", counting_build)
    spec = spec_for(three_files[:1], two_roi_groups, method="kmeans", windows=True)
    a = Analysis(spec, store=tmp_path / "once")
    summary = a.run()
    assert summary.count("done") == 4  # 2 regions × 2 windows
    assert calls == {"crop": 2, "mesh": 2}
