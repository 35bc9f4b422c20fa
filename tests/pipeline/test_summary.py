"""The summary table of a run: its rows against the maps (computed independently here), labels read
at summary time, updates while the run goes, and several writers at once (threads and processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from napari_tramway import Analysis
from napari_tramway.core.roi import Rectangle
from napari_tramway.pipeline import AnalysisSpec, DataFile, MeshSpec, ModelSpec, TimeWindowSpec
from napari_tramway.pipeline import summary as S
from napari_tramway.pipeline.stages import unit_steps
from napari_tramway.pipeline.store import ResultStore


def labelled_dv_spec(paths, rois=None):
    files = [DataFile(str(p), frame_interval=0.02, localization_precision=0.02,
                      labels={"condition": "control" if k % 2 == 0 else "treated", "replicate": str(k)})
             for k, p in enumerate(paths)]
    return AnalysisSpec(files=files, rois=rois or [], mesh=MeshSpec("hexagon", {"resolution": 1.5}),
                        model=ModelSpec("dv", {}), time_windows=TimeWindowSpec(60.0, 50.0))


def wq(values, weights, q):
    """numpy's own weighted quantile (numpy ≥ 2), the reference of the summary's."""
    return np.quantile(values, q, weights=weights, method="inverted_cdf")


def test_rows_are_the_weighted_statistics_of_the_maps(tmp_path, three_files):
    rois = [Rectangle(0.5, 0.5, 4.5, 9.5, labels={"side": "left"}), Rectangle(5.5, 0.5, 9.5, 9.5, labels={"side": "right"})]
    spec = labelled_dv_spec(three_files[:2], rois)
    a = Analysis(spec, store=tmp_path / "store")
    assert a.run(env="inprocess").ok
    table = pd.read_csv(tmp_path / "store" / "summary.csv")  # one call
    units = a.units()
    assert len(table) == len(units) == 8  # 2 files × 2 ROIs × 2 windows
    assert list(table.columns[:4]) == ["condition", "replicate", "side", "unit"]
    assert table["unit"].tolist() == [u.label for u in units]  # spec order: file, region, window
    results = a.results()
    for unit, (_, row) in zip(units, table.iterrows()):
        maps, meta = results.unit(unit.label)
        t = maps.table
        n = t["n"].to_numpy(float)
        assert row["condition"] == spec.files[unit.file_index].labels["condition"]
        assert row["side"] == ("left" if unit.region_label == "roi000" else "right")
        assert (row["t0 [s]"], row["t1 [s]"]) == pytest.approx(unit.segment)
        steps = unit_steps(spec, unit).segment
        assert row["translocations"] == len(steps) == meta["n_steps"]
        assert row["trajectories"] == steps["n"].nunique()
        assert row["cells"] == int((n > 0).sum()) and row["mesh cells"] == len(t)
        for name, values in (("diffusivity", t["diffusivity"].to_numpy(float)),
                             ("|force|", np.sqrt(t["force x"] ** 2 + t["force y"] ** 2).to_numpy(float)),
                             ("potential", t["potential"].to_numpy(float))):
            ok = (n > 0) & np.isfinite(values)
            v, w = values[ok], n[ok]
            unit_text = S.QUANTITIES[name].unit
            assert row[f"{name} median [{unit_text}]"] == pytest.approx(wq(v, w, 0.5), rel=1e-9)
            assert row[f"{name} mean [{unit_text}]"] == pytest.approx(np.sum(v * w) / np.sum(w), rel=1e-9)
            assert row[f"{name} IQR [{unit_text}]"] == pytest.approx(wq(v, w, 0.75) - wq(v, w, 0.25), rel=1e-9,
                                                                   abs=1e-12)
        v = t["potential"].to_numpy(float)[(n > 0)]
        v = v[np.isfinite(v)]
        assert row["potential depth [kT]"] == pytest.approx(np.percentile(v, 95) - np.percentile(v, 5), rel=1e-9)
        assert row["model"] == "dv" and row["mesh"] == "hexagon"
        assert json.loads(row["mesh parameters"]) == {"resolution": 1.5}
        assert json.loads(row["time windows"]) == spec.time_windows.to_dict()
        assert row["localization precision [µm]"] == 0.02 and row["path"] == spec.files[unit.file_index].path
        assert row["model status"] == maps.status
    assert "diffusivity sd median [µm²/s]" in table.columns and "isolated cells" in table.columns
    assert "|drift| median [µm/s]" not in table.columns  # dv has no drift: only what is present
    parquet = pd.read_parquet(tmp_path / "store" / "summary.parquet")
    pd.testing.assert_frame_equal(parquet.drop(columns=["condition", "replicate", "side"]),
                                  table.drop(columns=["condition", "replicate", "side"]), check_dtype=False)


def test_weighted_quantile_is_numpys():
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 100):
        v, w = rng.normal(size=size), rng.integers(1, 20, size=size).astype(float)
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            assert S.weighted_quantile(v, w, q) == wq(v, w, q)
    assert np.isnan(S.weighted_quantile([], [], 0.5))


def test_relabelling_shows_without_recomputing(tmp_path, three_files, monkeypatch):
    spec = labelled_dv_spec(three_files[:2])
    spec.model = ModelSpec("d", {})
    a = Analysis(spec, store=tmp_path / "store")
    assert a.run(env="inprocess").ok
    results = sorted((tmp_path / "store" / "units").rglob("*.ntw"))
    stamps = [p.stat().st_mtime_ns for p in results]
    # a new label, another condition, a label removed: rerun → every unit skipped, the summary relabelled
    spec.files[0].labels = {"condition": "treated", "cell": "c7"}
    spec.files[1].labels = {}
    events = []
    summary = Analysis(spec, store=tmp_path / "store").run(env="inprocess", events=events.append)
    assert summary.count("skipped") == 4 and summary.count("done") == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps
    table = pd.read_csv(tmp_path / "store" / "summary.csv", dtype={"cell": str})
    assert list(table.columns[:3]) == ["condition", "cell", "unit"]
    assert table["condition"].tolist()[:2] == ["treated"] * 2 and table["condition"].isna().tolist()[2:] == [True] * 2
    assert table["cell"].tolist()[:2] == ["c7"] * 2
    # and a summary from another spec's labels reads no result file again (rows cached by SHA-256)
    monkeypatch.setattr(ResultStore, "load_unit", lambda *a: pytest.fail("a result was read again"))
    spec.files[1].labels = {"condition": "control"}
    table = S.refresh_summary(tmp_path / "store", spec)
    assert table["condition"].tolist() == ["treated"] * 2 + ["control"] * 2


def test_the_summary_grows_while_the_run_goes(tmp_path, three_files):
    """The run's thread is held inside each ``done`` event until summary.csv shows that unit: the
    façade refreshes the table while the run is certainly still going."""
    spec = labelled_dv_spec(three_files[:2])
    spec.model = ModelSpec("d", {})
    csv = tmp_path / "store" / "summary.csv"
    seen = []

    def rows():
        try:
            return len(pd.read_csv(csv))
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return 0

    def on_event(ev):
        if ev.kind == "done":
            k = sum(1 for e in seen) + 1
            end = time.time() + 20
            while rows() < k and time.time() < end:
                time.sleep(0.05)
            seen.append((ev.unit, rows()))

    a = Analysis(spec, store=tmp_path / "store")
    summary = a.run(env="inprocess", events=on_event)
    assert summary.ok and a.summary_error is None
    assert [n for _, n in seen] == [1, 2, 3, 4], seen
    assert rows() == 4


REFRESHER = """
import sys, time
from napari_tramway.pipeline.summary import refresh_summary
end = time.time() + float(sys.argv[2])
n = 0
while time.time() < end:
    refresh_summary(sys.argv[1]); n += 1
print(n)
"""


def test_concurrent_writers_leave_a_complete_table(tmp_path, three_files):
    """Two other processes refresh the summary in a loop while local worker processes finish units
    and the run's own follower refreshes it: every read sees a whole table, never fewer rows than
    before, and the last one has every unit."""
    spec = AnalysisSpec(files=[DataFile(str(p), frame_interval=0.02, localization_precision=0.02,
                                        labels={"condition": c}) for p, c in zip(three_files, "abc")],
                        mesh=MeshSpec("hexagon", {"resolution": 1.0}), model=ModelSpec("d", {}),
                        time_windows=TimeWindowSpec(30.0, 20.0))
    store = tmp_path / "store"
    a = Analysis(spec, store=store)
    n_units = len(a.units())
    a.store.initialise(spec)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(S.__file__).rsplit("/napari_tramway/", 1)[0],
                                                                   os.environ.get("PYTHONPATH")) if p))
    procs = [subprocess.Popen([sys.executable, "-c", REFRESHER, str(store), "15"], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    try:
        handle = a.start(env="local:2")
        counts = []
        while handle.running or any(p.poll() is None for p in procs):
            if (store / "summary.csv").exists():
                counts.append(len(pd.read_csv(store / "summary.csv")))  # a half-written file would not parse
            time.sleep(0.02)
        outs = [int(p.communicate(timeout=30)[0]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    print(f"\n{n_units} units; the other processes wrote the table {outs} times; {len(counts)} reads, rows seen "
          f"{sorted(set(counts))}; the run's follower refreshed it {handle.summary_follower.refreshes} times")
    assert handle.summary().ok
    assert handle.summary_follower.wait(30) and handle.summary_follower.error is None
    assert min(outs) > 5, outs  # each other process wrote the table many times
    assert counts == sorted(counts), "a writer put back an older table"
    final = pd.read_csv(store / "summary.csv")
    assert len(final) == n_units and final["unit"].is_unique
    assert not list(store.glob(".*.part"))
    cache = json.loads((store / S.ROWS_CACHE).read_text())
    assert sorted(cache["rows"]) == sorted(final["unit"])


def test_without_pyarrow_only_the_csv_is_written(tmp_path, three_files, monkeypatch):
    spec = AnalysisSpec(files=[DataFile(str(three_files[0]), frame_interval=0.02, localization_precision=0.02)],
                        mesh=MeshSpec("hexagon", {"resolution": 2.0}), model=ModelSpec("d", {}))
    monkeypatch.setattr(S, "parquet_available", lambda: False)
    assert Analysis(spec, store=tmp_path / "store").run(env="inprocess").ok
    assert (tmp_path / "store" / "summary.csv").exists() and not (tmp_path / "store" / "summary.parquet").exists()
    table = pd.read_csv(tmp_path / "store" / "summary.csv")
    assert len(table) == 1 and table.columns[0] == "unit"  # no label: no label column


def test_every_fixed_column_name_is_a_reserved_label_key():
    from napari_tramway.pipeline.labels import RESERVED_KEYS

    names = {c for c in S.FIXED + S.SETTINGS if c.isidentifier()}
    assert names <= RESERVED_KEYS, names - RESERVED_KEYS
