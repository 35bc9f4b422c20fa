"""A run on the test Slurm cluster started from the widget, the unknown host key answered in the
Qt dialog by the test, as a user would.

Needs ``tests/cluster/start.sh`` (Slurm + sshd on 127.0.0.1:2222, user hpcuser, and a STAND-IN
``singularity`` that runs the host's tools: it is not Singularity). Skipped when the cluster is not
running, unless ``NTW_REQUIRE_CLUSTER=1``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from widget_helpers import draw_rois, wait_idle

pytestmark = [pytest.mark.gui, pytest.mark.cluster]

REPO = Path(__file__).resolve().parents[2]
ADAPTER = REPO / "tests" / "environments" / "sites_for_tests.py"


@pytest.fixture
def cluster():
    d = Path(os.environ.get("NTW_CLUSTER_DIR", "/tmp/napari-tramway-cluster"))
    problem = ""
    info = None
    try:
        info = json.loads((d / "cluster.json").read_text())
        with socket.create_connection((info["NTW_SSH_HOST"], int(info["NTW_SSH_PORT"])), timeout=3) as s:
            if not s.recv(64).startswith(b"SSH-"):
                problem = "no SSH server on the test port"
    except FileNotFoundError:
        problem = f"{d / 'cluster.json'} not found (bash tests/cluster/start.sh)"
    except (OSError, ValueError, KeyError) as exc:
        problem = f"test cluster unreachable ({exc})"
    if problem:
        if os.environ.get("NTW_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"NTW_REQUIRE_CLUSTER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    if not ADAPTER.exists():
        pytest.skip(f"{ADAPTER} (the test site adapter) is missing")
    return info


@pytest.fixture
def own_config(tmp_path, monkeypatch, cluster):
    """A site profile for the test cluster whose known hosts do NOT hold its key (so that the
    widget must ask), and our own ledger: the user's files are never touched."""
    cfg = tmp_path / "config"
    cfg.mkdir()
    (tmp_path / "empty_known_hosts").write_text("")
    sites = cfg / "sites.toml"
    sites.write_text(
        "[testcluster]\n"
        f'base = "{ADAPTER}:TestCluster"\n'
        'description = "napari-tramway test cluster (Slurm on 127.0.0.1, stand-in singularity)"\n'
        f'known_hosts = "{tmp_path / "empty_known_hosts"}"\n'
        f'username = "{cluster["NTW_SSH_USER"]}"\n'
        "poll_interval = 0.5\n"
    )
    monkeypatch.setenv("NAPARI_TRAMWAY_CONFIG", str(cfg))
    monkeypatch.setenv("NAPARI_TRAMWAY_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(sites))
    return cfg


def test_cluster_run_from_the_widget(own_config, cluster, make_napari_viewer, qtbot, tmp_path):
    from napari_tramway._widgets.dialogs import HostKeyDialog
    from napari_tramway.environments import ledger
    from napari_tramway.pipeline import open_results

    viewer = make_napari_viewer()
    viewer.open_sample("napari-tramway", "cells")
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    draw_rois(viewer, w)
    w.analysis.mesh.set_values("hexagon", {"resolution": 1.5})
    w.analysis.model.set_values("d", {})
    names = [w.environment.combo.itemData(i) for i in range(w.environment.combo.count())]
    assert "testcluster" in names  # the profile is listed with the presets
    w.environment.select("testcluster")
    w.environment.extra.setPlainText("look_for_keys = false\nallow_agent = false\ncompletion_grace = 5.0")
    w.environment.workers.setValue(3)
    dialogs = []
    w.environment.bridge.asked.connect(dialogs.append)

    w.runs.start()
    # the unknown host key is shown as a dialog, on the GUI thread, while the run waits
    qtbot.waitUntil(lambda: isinstance(w.environment.bridge.current_dialog, HostKeyDialog), timeout=60_000)
    dialog = w.environment.bridge.current_dialog
    pub = Path(cluster["NTW_SSH_HOST_KEY_PUB"]).read_text().split()
    assert dialog.key_type == pub[0] and dialog.fingerprint.startswith("SHA256:")
    assert "2222" in dialog.host
    assert w.runs.running  # the GUI is not blocked: we are here
    dialog.accept_button.click()
    wait_idle(qtbot, w, timeout=240_000)
    assert len(dialogs) == 1  # asked once; the accepted key is remembered in our own known_hosts
    assert "ssh-ed25519" in (own_config / "known_hosts").read_text()
    summary = w.runs.summary
    assert summary is not None and summary.ok, (summary and summary.describe(), w.runs.status.text())
    results = open_results(w.runs.analysis.store.root)
    labels = results.labels()
    assert len(labels) == 3
    cells = next(la for la in viewer.layers if la.name.startswith("cells ·"))
    d = next(la for la in viewer.layers if la.name.startswith("log₁₀ D"))
    assert d.metadata["napari_tramway"]["environment"] not in (None, "inprocess", "local")
    for label in labels:
        maps = results.maps(label)
        f = cells.features[cells.features["unit"] == label]
        np.testing.assert_allclose(f["D (µm²/s)"].to_numpy(float), maps.table["diffusivity"].to_numpy(float),
                                   equal_nan=True)
    # the run is in the ledger (it could be reattached from another session)
    runs = ledger.list_runs()
    assert runs and runs[-1]["local_store"] == str(w.runs.analysis.store.root)
    # the site check now passes without asking again
    assert w.environment.check_site() is not None
    qtbot.waitUntil(lambda: w.environment._check_worker is None, timeout=60_000)
    qtbot.waitUntil(lambda: w.environment.check_results.count() > 1, timeout=10_000)
    texts = [w.environment.check_results.item(i).text() for i in range(w.environment.check_results.count())]
    assert not any(t.startswith("✗") for t in texts), texts
    assert len(dialogs) == 1


def test_reattach_to_a_run_left_by_an_earlier_session(own_config, cluster, make_napari_viewer, qtbot, tmp_path):
    """A run submitted by another session (here: submitted and left without following) is listed in
    the Reattach dialog; reattaching collects its units and shows their maps."""
    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec
    from napari_tramway._sample_data import sample_files
    from napari_tramway._widgets.reattach import ReattachDialog
    from napari_tramway.analysis import make_environment
    from napari_tramway.core.roi import Rectangle
    from napari_tramway.environments import RunJob

    _, _, _, _, path = sample_files()
    spec = AnalysisSpec(files=[DataFile(str(path), 0.02, 0.02)],
                        rois=[Rectangle(3.5, 8, 10.5, 16), Rectangle(15, 16, 22, 21)],
                        mesh=MeshSpec("hexagon", {"resolution": 1.5}), model=ModelSpec("d", {}))
    analysis = Analysis(spec, store=tmp_path / "earlier-results")
    analysis.store.initialise(spec)
    site = make_environment("testcluster", dict(look_for_keys=False, allow_agent=False, poll_interval=0.5,
                                                 completion_grace=5.0), confirm_host_key=lambda *a: True)
    try:
        record = site.submit(RunJob(spec=spec, store=analysis.store, units=analysis.units(), stage=spec.stage))
    finally:
        site.close()
    run_id = record["run_id"]

    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    assert w.runs.reattach_button.isEnabled()
    dialog = ReattachDialog(w)
    ids = [dialog.table.item(i, 0).text() for i in range(dialog.table.rowCount())]
    assert run_id in ids
    dialog.table.selectRow(ids.index(run_id))
    dialog.accept()
    assert dialog.selected == run_id
    w.runs.reattach(run_id)
    wait_idle(qtbot, w, timeout=240_000)
    assert w.runs.summary.ok, w.runs.summary.describe()
    assert w.runs.store_dir() == (tmp_path / "earlier-results")
    assert sorted(w.runs.unit_labels()) == sorted(u.label for u in analysis.units())
    assert any(la.name.startswith("log₁₀ D") for la in viewer.layers)
    assert len(analysis.results().labels()) == 2
    # the Results tab follows the reattached run: its summary table, one row per unit collected
    # (updated when the tab is shown)
    viewer.window.show()
    w.tabs.setCurrentWidget(w.results)
    qtbot.waitUntil(lambda: not w.results.busy and w.results.model.rowCount() == 2, timeout=60_000)
    assert Path(w.results.store.root) == tmp_path / "earlier-results"
    assert (tmp_path / "earlier-results" / "summary.csv").is_file()
