"""A unit's input for a remote worker: the region's steps with their acquisition (frame interval, σ,
static filter) and bounds as typed JSON, giving the same maps as reading the file."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from napari_tramway import Analysis
from napari_tramway.core.archive import read_archive, write_archive
from napari_tramway.core.errors import ArchiveError
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec, TimeWindowSpec
from napari_tramway.pipeline.data import DEFAULT_CACHE
from napari_tramway.pipeline.inputs import FORMAT, UnitInput, read_unit_input, write_unit_input


@pytest.fixture
def analysis(tmp_path, three_files):
    """A file without ROI (the whole file is one region), its frame interval estimated by the reader
    and σ its default, the static filter on, time windows counted in frames."""
    spec = AnalysisSpec(files=[DataFile(str(three_files[0]))], mesh=MeshSpec("hexagon", {"resolution": 1.5}),
                        model=ModelSpec("dd", {}), discard_static=True,
                        time_windows=TimeWindowSpec(2500.0, frames=True))
    return Analysis(spec, store=tmp_path / "store")


def test_a_unit_input_gives_the_maps_of_the_file(analysis, tmp_path):
    spec = analysis.spec
    assert analysis.run().count("done") == 2
    unit = analysis.units()[1]
    tf = DEFAULT_CACHE.trajectory_file(spec, 0)
    region, steps, acquisition = DEFAULT_CACHE.region_data(spec, 0, unit.region_label)
    assert acquisition.frame_interval == tf.frame_interval == 0.02 and acquisition.frame_interval_source == "estimated"
    assert acquisition.localization_precision_source == "default"
    assert acquisition.min_squared_step == pytest.approx(2 * tf.localization_precision**2)   # the filter, recorded
    path = tmp_path / "input.ntw"
    write_unit_input(path, UnitInput(steps, tf.provenance, acquisition, tuple(region.bounds)))
    back = read_unit_input(path)
    assert back.acquisition == acquisition and back.reading == tf.provenance
    assert back.region_bounds == tuple(region.bounds)
    # the worker, in its own process, from the input alone (as on a cluster node)
    store = analysis.store
    done = store.unit_path(unit)
    expected = analysis.results().maps(unit.label)
    done.unlink()
    run = subprocess.run([sys.executable, "-m", "napari_tramway.pipeline.worker", "run", "--store", str(store.root),
                          "--unit-json", json.dumps(unit.to_dict()), "--input", str(path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    got = analysis.results().maps(unit.label)
    pd.testing.assert_frame_equal(got.table, expected.table)
    assert got.info["static_filter"] == {"min_squared_step": acquisition.min_squared_step}
    assert (got.info["frame_interval"], got.info["frame_interval_source"]) == (0.02, "estimated")
    assert np.isfinite(got["diffusivity"][got.fitted]).all()


def test_an_input_without_its_acquisition_is_refused_naming_the_field(analysis, tmp_path):
    spec = analysis.spec
    tf = DEFAULT_CACHE.trajectory_file(spec, 0)
    region, steps, acquisition = DEFAULT_CACHE.region_data(spec, 0, "all")
    path = tmp_path / "input.ntw"
    write_unit_input(path, UnitInput(steps, tf.provenance, acquisition))
    arrays, meta, _ = read_archive(path, FORMAT)
    for broken, message in (({k: v for k, v in meta.items() if k != "acquisition"}, "acquisition: missing"),
                            ({**meta, "acquisition": {**meta["acquisition"], "frame_interval": None}},
                             "acquisition.frame_interval: missing"),
                            ({**meta, "acquisition": {**meta["acquisition"], "localization_precision": -1}},
                             "acquisition.localization_precision: must be ≥ 0")):
        write_archive(path, FORMAT, 2, arrays, broken)
        with pytest.raises(ArchiveError, match=f"input.ntw: unit input: {message}"):
            read_unit_input(path)
    write_archive(path, FORMAT, 1, arrays, {k: v for k, v in meta.items() if k != "acquisition"})
    with pytest.raises(ArchiveError, match="acquisition: missing .*before version 2: submit the run again"):
        read_unit_input(path)
