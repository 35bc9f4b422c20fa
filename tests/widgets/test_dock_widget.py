"""The plugin's dock widget opens in a real napari viewer (run under xvfb-run)."""

import pytest

pytestmark = pytest.mark.gui


def test_dock_widget_opens_in_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    assert widget is not None
    assert dock.isVisible() or dock.isVisibleTo(viewer.window._qt_window)
