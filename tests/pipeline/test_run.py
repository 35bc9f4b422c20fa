"""Runs of a 3 files × 2 ROI groups × 2 time windows spec, in-process and with LocalHost."""

import os
import threading
import time

import numpy as np
import pytest

from napari_tramway import Analysis
from napari_tramway.core.errors import ArchiveError
from napari_tramway.environments import InProcess, LocalHost
from napari_tramway.pipeline import (
    AnalysisSpec,
    DataFile,
    MeshSpec,
    ModelSpec,
    TimeWindowSpec,
)


def make_spec(files, rois, model="d", params=None, windows=True, resolution=1.0):
    return AnalysisSpec(
        files=[DataFile(str(p), frame_interval=0.02, localization_precision=0.02) for p in files],
        rois=rois, group_overlapping_rois=True,
        mesh=MeshSpec("hexagon", {"resolution": resolution}),
        time_windows=TimeWindowSpec(50.0) if windows else None,
        model=ModelSpec(model, params or {}),
    )


def assert_same_maps(store_a, store_b, labels):
    for label in labels:
        a, _ = store_a.load_unit(label)
        b, _ = store_b.load_unit(label)
        assert list(a.table.columns) == list(b.table.columns)
        np.testing.assert_allclose(a.table.to_numpy(dtype=float), b.table.to_numpy(dtype=float), rtol=1e-10,
                                   atol=1e-12, equal_nan=True)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_inprocess_and_localhost_give_identical_maps(tmp_path, three_files, two_roi_groups):
    spec = make_spec(three_files, two_roi_groups)
    a = Analysis(spec, store=tmp_path / "inproc")
    units = a.units()
    assert len(units) == 12
    labels = [u.label for u in units]
    assert len(set(labels)) == 12
    assert labels[0] == "cell0/roi000-001/t=" + labels[0].split("/t=")[1]
    assert {u.region_label for u in units} == {"roi000-001", "roi002"}
    events_a = []
    summary = a.run(env=InProcess(), events=events_a.append)
    assert summary.ok and summary.count("done") == 12, summary.errors
    b = Analysis(spec, store=tmp_path / "local")
    events_b = []
    env = LocalHost(worker_count=2)
    summary_b = b.run(env=env, events=events_b.append)
    assert summary_b.ok and summary_b.count("done") == 12, summary_b.errors
    assert_same_maps(a.store, b.store, labels)
    # same event vocabulary, every unit went queued -> started -> done
    for events in (events_a, events_b):
        kinds = {}
        for ev in events:
            kinds.setdefault(ev.unit, []).append(ev.kind)
        for label in labels:
            seq = [k for k in kinds[label] if k != "progress"]
            assert seq == ["queued", "started", "done"], (label, seq)
    assert all(not alive(pid) for pid in env.pids)


def test_rerun_completes_only_what_is_missing_and_detects_damage(tmp_path, three_files, two_roi_groups):
    spec = make_spec(three_files[:1], two_roi_groups)
    a = Analysis(spec, store=tmp_path / "s")
    assert a.run().count("done") == 4
    labels = [u.label for u in a.units()]
    store = a.store
    # 1: removed result; 2: flipped bytes; 3: result without done-marker (half-written)
    os.unlink(store.unit_path(labels[0]))
    os.unlink(store.marker_path(store.unit_path(labels[0])))
    p = store.unit_path(labels[1])
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    p.write_bytes(bytes(raw))
    os.unlink(store.marker_path(store.unit_path(labels[2])))
    assert a.status() == {labels[0]: "missing", labels[1]: "corrupt", labels[2]: "corrupt", labels[3]: "done"}
    with pytest.raises(ArchiveError):
        store.load_unit(labels[1])
    with pytest.raises(ArchiveError):
        store.load_unit(labels[2])
    summary = a.run()
    assert summary.states == {labels[0]: "done", labels[1]: "done", labels[2]: "done", labels[3]: "skipped"}
    # truncated file with a stale marker is corrupt too
    q = store.unit_path(labels[3])
    q.write_bytes(q.read_bytes()[:100])
    assert a.status()[labels[3]] == "corrupt"
    # changed settings make done units stale, and they are recomputed
    spec2 = make_spec(three_files[:1], two_roi_groups, params={"jeffreys_prior": True})
    b = Analysis(spec2, store=tmp_path / "s")
    assert set(b.status().values()) == {"stale", "corrupt"}
    assert b.run().count("done") == 4


def slow_spec(files, rois):
    # DV on fine hexagons: each unit takes long enough to be interrupted
    return make_spec(files, rois, model="dv", params={"potential_prior": 1.0, "diffusivity_prior": 1.0},
                     windows=False, resolution=0.2)


def test_cancel_localhost_stops_every_worker_and_keeps_finished_units(tmp_path, big_files, two_roi_groups):
    spec = slow_spec(big_files, two_roi_groups)
    a = Analysis(spec, store=tmp_path / "c")
    env = LocalHost(worker_count=2)
    first_done = threading.Event()
    handle = a.start(env=env, events=lambda ev: first_done.set() if ev.kind == "done" else None)
    assert first_done.wait(120), "no unit finished"
    handle.cancel()
    summary = handle.wait(60)
    assert summary is not None and summary.cancelled
    assert summary.count("done") >= 1 and summary.count("cancelled") >= 1
    assert env.pids and all(not alive(pid) for pid in env.pids)
    status = a.status()
    for label, state in summary.states.items():
        assert status[label] == ("done" if state == "done" else "missing"), (label, state, status[label])
    # a new run completes what the cancel left
    rest = a.run(env=LocalHost(worker_count=2))
    assert rest.ok and rest.count("skipped") == summary.count("done")


def test_killed_worker_fails_its_unit_only(tmp_path, big_files, two_roi_groups):
    spec = slow_spec(big_files[:2], two_roi_groups[2:])
    a = Analysis(spec, store=tmp_path / "k")
    victim = {}

    def on_event(ev):
        if ev.kind == "started" and not victim:
            victim["unit"] = ev.unit
            victim["pid"] = int(ev.where.split(":")[1].split()[0])
            os.kill(victim["pid"], 9)

    summary = a.run(env=LocalHost(worker_count=2), events=on_event)
    assert summary.states[victim["unit"]] == "failed"
    assert "signal 9" in summary.errors[victim["unit"]]
    others = [s for label, s in summary.states.items() if label != victim["unit"]]
    assert others and all(s == "done" for s in others)
    assert a.status()[victim["unit"]] == "failed"
    # re-running completes only the failed unit
    again = a.run(env=LocalHost(worker_count=1))
    assert again.states[victim["unit"]] == "done" and again.count("skipped") == len(others)


def test_inprocess_cancel_from_another_thread_inside_a_fit(tmp_path, big_files, two_roi_groups):
    spec = slow_spec(big_files[:1], two_roi_groups)
    a = Analysis(spec, store=tmp_path / "i")
    started = threading.Event()
    handle = a.start(env=InProcess(), events=lambda ev: started.set() if ev.kind == "progress" and ev.fraction and ev.fraction > 0.2 else None)
    assert started.wait(60)
    t0 = time.monotonic()
    handle.cancel()
    summary = handle.wait(30)
    assert summary is not None and time.monotonic() - t0 < 10
    assert summary.count("cancelled") == len(summary.states) - summary.count("done")
    assert not handle.running


def test_failure_is_reported_with_where_and_traceback(tmp_path, three_files):
    from napari_tramway.core.roi import Rectangle

    # an empty ROI (outside the data) makes its unit fail; the other one completes
    spec = make_spec(three_files[:1], [Rectangle(1, 1, 4, 4), Rectangle(50, 50, 60, 60)], windows=False)
    events = []
    summary = Analysis(spec, store=tmp_path / "f").run(events=events.append)
    assert summary.states == {"cell0/roi000": "done", "cell0/roi001": "failed"}
    failed = [ev for ev in events if ev.kind == "failed"][0]
    assert "not a single step" in failed.error and failed.traceback and ":" in failed.where


def test_localhost_reports_workers_that_cannot_start(tmp_path, three_files, monkeypatch):
    spec = make_spec(three_files[:1], [], windows=False)
    a = Analysis(spec, store=tmp_path / "w")
    env = LocalHost(worker_count=1)
    monkeypatch.setattr(env, "_env_vars", lambda: {**os.environ, "PYTHONPATH": "", "PYTHONHOME": "/nonexistent"})
    summary = a.run(env=env)
    assert summary.states == {"cell0/all": "failed"}
    assert "exit before starting" in summary.errors["cell0/all"]
