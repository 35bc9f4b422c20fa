"""The run ledger and the upload bundle (no cluster needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from napari_tramway.environments import ledger


def test_ledger_roundtrip_lookup_and_lock(tmp_path):
    assert ledger.runs_dir() == tmp_path / "data" / "runs"  # NAPARI_TRAMWAY_DATA (conftest)
    rid = ledger.new_run_id()
    assert len(rid) == 22 and rid[8] == "-" and rid[15] == "-"
    rec = {"run_id": rid, "status": "submitted", "site": {"name": "x"}, "states": {"a": {"kind": "done"},
                                                                                    "b": {"kind": "failed"}}}
    path = ledger.save(rec)
    assert path.exists() and not list(path.parent.glob("*.part"))
    created = rec["created"]
    ledger.save(rec)
    back = ledger.load(rid[:-2])  # a unique prefix is enough
    assert back["created"] == created and back["format"] == "napari-tramway/run"
    assert ledger.summary_text(back) == "1 done, 1 failed"
    assert [r["run_id"] for r in ledger.list_runs()] == [rid]
    with pytest.raises(ledger.LedgerError, match="no run"):
        ledger.load("19990101")
    with pytest.raises(ledger.LedgerError):
        ledger.load("../etc")
    with ledger.lock(rid):
        assert ledger.is_locked(rid)
        with pytest.raises(ledger.RunBusy, match=str(os.getpid())):
            with ledger.lock(rid):
                pass
    assert not ledger.is_locked(rid)
    ledger.delete(rid)
    assert ledger.list_runs() == []


def test_worker_zip_runs_the_worker_without_the_installed_package(tmp_path):
    from napari_tramway.environments.bundle import worker_zip

    data = worker_zip()
    assert worker_zip() is data  # cached while the sources do not change
    z = tmp_path / "napari_tramway.zip"
    z.write_bytes(data)
    names = zipfile.ZipFile(z).namelist()
    assert "napari_tramway/pipeline/worker.py" in names and "napari_tramway/_version.py" in names
    # the worker needs the core and the pipeline only: no environments, façade, CLI or napari face
    assert {n.split("/")[1] for n in names} == {"__init__.py", "_version.py", "core", "pipeline"}
    assert not any("__pycache__" in n for n in names)
    code = ("import napari_tramway, napari_tramway.pipeline.worker, napari_tramway.pipeline.stages as s; "
            "print(napari_tramway.__file__, napari_tramway.__version__)")
    r = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(z)!r}] + "
                        f"[p for p in {sys.path!r} if 'site-packages' in p]; {code}"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from napari_tramway import __version__

    assert str(z) in r.stdout and __version__ in r.stdout


def test_bundle_uploads_only_cropped_inputs(tmp_path, data_files):
    from cluster_helpers import make_spec

    from napari_tramway import Analysis
    from napari_tramway.environments.bundle import BundleWriter, add_inputs
    from napari_tramway.pipeline.inputs import read_unit_input

    spec = make_spec(data_files, rois=[(1.0, 1.0, 3.0, 3.0), (6.0, 6.0, 8.0, 8.0)])
    units = Analysis(spec, store=tmp_path / "store").units()
    w = BundleWriter()
    total, source, count, mapping = add_inputs(w, spec, units)
    assert count == 4 and set(mapping) == {u.label for u in units}
    assert source == sum(os.path.getsize(p) for p in data_files)
    assert total < 0.5 * source
    data, files = w.pack("SHA256SUMS-1")
    sums = files.pop("SHA256SUMS-1")
    assert sums > 0 and set(files) == set(mapping.values())
    # a region's input holds exactly the steps the in-process run crops, and what they mean, typed
    from napari_tramway.pipeline.data import (
        DEFAULT_CACHE,
        region_by_label,
        region_steps,
        support_regions,
    )

    u = units[0]
    p = tmp_path / "in.ntw"
    p.write_bytes(w._files[mapping[u.label]])
    got = read_unit_input(p)
    tf = DEFAULT_CACHE.trajectory_file(spec, u.file_index)
    want, acquisition = region_steps(spec, region_by_label(support_regions(spec, u.file_index, tf.locations),
                                                           u.region_label), tf.locations, tf.acquisition)
    assert list(got.steps.columns) == list(want.columns) and len(got.steps) == len(want) == u.n_steps
    for c in want.columns:
        assert (got.steps[c].to_numpy() == want[c].to_numpy()).all()
    assert got.acquisition == acquisition == tf.acquisition and got.reading == tf.provenance
    assert got.region_bounds is None and got.steps.attrs == {}   # ROIs: the region is the spec's
