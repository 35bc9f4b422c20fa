"""Fixtures of the napari-plugin tests (run under ``xvfb-run``; marked ``gui``; helpers in
``widget_helpers.py``).

The sample's trajectory file is written once per session in a temporary cache directory; every
test gets its own napari viewer (``make_napari_viewer``) and results directory.
"""

from __future__ import annotations

import pytest
from widget_helpers import settle


@pytest.fixture(scope="session", autouse=True)
def sample_cache(tmp_path_factory):
    import os

    d = tmp_path_factory.mktemp("ntw-cache")
    old = os.environ.get("NAPARI_TRAMWAY_CACHE")
    os.environ["NAPARI_TRAMWAY_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("NAPARI_TRAMWAY_CACHE", None)
    else:
        os.environ["NAPARI_TRAMWAY_CACHE"] = old


@pytest.fixture
def session(make_napari_viewer, qtbot, tmp_path):
    """A viewer with the sample (image + trajectories) and the napari-tramway panel."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-tramway", "cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    widget.runs.store_edit.setText(str(tmp_path / "results"))
    yield viewer, widget
    settle(widget, qtbot)


@pytest.fixture
def notifications():
    """Every notification napari shows (its notification manager's), while the test runs."""
    from napari.utils.notifications import notification_manager

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)


def pytest_collection_modifyitems(config, items):
    """Without a display (not under ``xvfb-run``) napari's GL canvas aborts the interpreter: skip
    the GUI tests with a clear reason, except in CI (``NTW_REQUIRE_CLUSTER=1``), where they must run."""
    import os

    if os.environ.get("DISPLAY") or os.environ.get("NTW_REQUIRE_CLUSTER") == "1":
        return
    skip = pytest.mark.skip(reason="no display: run the GUI tests under xvfb-run (see scripts/test.sh)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)
