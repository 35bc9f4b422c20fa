"""A data file replaced under the same name is never mixed with old results: units are keyed by the
file's content (SHA-256, hashed once while size and mtime hold), and a resumed run recomputes the
units of the changed file and says so; in-process, on local processes and on the REAL test cluster."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from cluster_helpers import make_spec
from test_remote_runs import assert_same_maps

from napari_tramway import Analysis
from napari_tramway.environments import ledger
from napari_tramway.pipeline import digests

ROIS = [(1.0, 1.0, 4.0, 4.0), (5.0, 5.0, 9.0, 9.0), (1.0, 6.0, 4.0, 9.0)]


@pytest.fixture
def own_files(data_files, tmp_path):
    """Copies of the two data files, for this test to change."""
    d = tmp_path / "data"
    d.mkdir()
    return [shutil.copy(p, d / p.name) for p in data_files]


def replace_content(path, seed=999):
    """Another simulated dataset under the same name (same kind of data, other trajectories)."""
    from napari_tramway.core.io.text import write_trajectories_text
    from napari_tramway.core.simulate import standard_dataset

    df, _ = standard_dataset(20_000, seed=seed)
    write_trajectories_text(df, path, frame_interval=0.02, localization_precision=0.02)  # the simulation's


def stale_messages(events):
    return [e.message for e in events if e.kind == "run" and "stale" in e.message]


@pytest.mark.parametrize("env", ["inprocess", "local:2"])
def test_resume_recomputes_the_units_of_a_changed_file(own_files, tmp_path, env):
    spec = make_spec(own_files, rois=ROIS)
    a = Analysis(spec, store=tmp_path / "store")
    first = a.run(env=env)
    assert first.ok and first.count("done") == 6
    written = {u.label: a.store.marker(a.store.unit_path(u))["written"] for u in a.units()}

    replace_content(own_files[1])  # cell1.txt: new content, same name
    events = []
    summary = a.run(env=env, events=events.append)
    assert summary.ok, summary.errors
    assert summary.states == {**{f"cell0/roi00{i}": "skipped" for i in range(3)},
                              **{f"cell1/roi00{i}": "done" for i in range(3)}}
    (message,) = stale_messages(events)
    assert message == (f"3 unit(s) stale: input cell1.txt changed since the run of "
                       f"{max(written[f'cell1/roi00{i}'] for i in range(3))}; computing them again")
    # the new results are those of the new content
    ref = Analysis(make_spec(own_files, rois=ROIS), store=tmp_path / "reference")
    assert ref.run(env="inprocess").ok
    assert_same_maps(ref.store, a.store, [u.label for u in a.units()])
    marker = a.store.marker(a.store.unit_path(a.units()[3]))
    assert marker["data_sha256"] == digests.file_digest(own_files[1]) == a.units()[3].data_digest
    # nothing changed since: everything is skipped, nothing is said to be stale
    events = []
    assert a.run(env=env, events=events.append).count("skipped") == 6 and not stale_messages(events)


def test_a_file_is_hashed_once_while_its_size_and_mtime_hold(own_files, tmp_path):
    spec = make_spec(own_files, rois=ROIS)
    a = Analysis(spec, store=tmp_path / "store")
    assert a.run(env="inprocess").ok
    before = dict(digests.HASHED)
    for _ in range(3):
        Analysis(spec, store=tmp_path / "store").units()
    assert digests.HASHED == before  # planned three times, hashed no more
    # touched (mtime changed), same content: hashed again, and nothing is stale
    st = os.stat(own_files[0])
    os.utime(own_files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    events = []
    summary = Analysis(spec, store=tmp_path / "store").run(env="inprocess", events=events.append)
    assert digests.HASHED["files"] == before["files"] + 1
    assert summary.count("skipped") == 6 and not stale_messages(events)
    # the same Analysis object sees a change made after it planned its units
    replace_content(own_files[0], seed=4242)
    assert set(a.status().values()) == {"stale", "done"}
    assert sorted(k for k, v in a.status().items() if v == "stale") == [f"cell0/roi00{i}" for i in range(3)]


def test_cluster_resume_recomputes_only_the_changed_file(cluster, site, own_files, tmp_path, recorder):
    spec = make_spec(own_files, rois=ROIS)
    a = Analysis(spec, store=tmp_path / "store")
    env = site()
    assert a.run(env=env).ok
    t0 = time.time()
    replace_content(own_files[0])  # cell0.txt
    summary = a.run(env=env, events=recorder)
    assert summary.ok, summary.errors
    assert summary.count("skipped") == 3 and summary.count("done") == 3
    record = ledger.load(summary.run_id)
    assert sorted(e["unit"]["label"] for e in record["units"]) == [f"cell0/roi00{i}" for i in range(3)]
    (message,) = stale_messages(recorder.events)
    assert message.startswith("3 unit(s) stale: input cell0.txt changed since the run of ")
    ref = Analysis(make_spec(own_files, rois=ROIS), store=tmp_path / "reference")
    assert ref.run(env="inprocess").ok
    assert_same_maps(ref.store, a.store, [u.label for u in a.units()])
    # the results collected from the cluster carry the digest of the content they were computed from
    for u in a.units()[:3]:
        assert a.store.marker(a.store.unit_path(u))["data_sha256"] == digests.file_digest(own_files[0])
    assert time.time() - t0 < 120
