"""How a trajectory file is read, described in napari as on the command line and in a spec: the
data-file settings form (generated from ``FILE_SETTINGS``) of the Data tab and of the
column-mapping dialog, its values through Save spec… / Load spec…, a bad value named once, and a
saSPT table in pixels and frames giving D in µm²/s. Run under ``xvfb-run``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from widget_helpers import open_and_wait, set_file_setting, settle, texts, wait_idle

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[1] / "core" / "data"
SASPT = DATA / "saspt_tracks.csv"  # pixels of 0.16 µm, frames of 7.48 ms, D = 2.5 µm²/s (tests/test_cli_files.py)
PIXEL, FRAME = 0.16, 0.00748


@pytest.fixture
def panel(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    return viewer, w


class Dialog:
    """Stands for the user in front of the column-mapping dialog: sees it, fills some fields, OK."""

    def __init__(self, monkeypatch, **fields):
        from napari_tramway._widgets import columns

        self.fields, self.seen = fields, []
        monkeypatch.setattr(columns.ColumnMappingDialog, "exec", lambda dialog: self.exec(dialog))

    def exec(self, dialog):
        from napari_tramway._widgets.columns import QDialog

        self.seen.append(dialog)
        if not self.fields:
            return QDialog.DialogCode.Rejected
        for name, text in self.fields.items():
            dialog.form.fields[name].editor.value = text
        return QDialog.DialogCode.Accepted


def test_the_data_tab_and_the_dialog_show_the_settings_of_the_command_line_and_the_spec(panel, qtbot, monkeypatch,
                                                                                      tmp_path):
    from napari_tramway._widgets.forms import AUTO, UNSET_HINT, label_of, tooltip_of
    from napari_tramway._widgets.layout import DOCK_WIDTH
    from napari_tramway.cli import build_parser
    from napari_tramway.core.io import FILE_SETTINGS
    from napari_tramway.pipeline.spec import DataFile

    viewer, w = panel
    names = [p.name for p in FILE_SETTINGS.parameters]
    # the command line's options and the spec's fields of a file are the same settings
    analyze = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("analyze"))
    flags = [o for a in analyze._actions if a.dest.startswith("file_") for o in a.option_strings]
    assert flags == [p.cli_flag for p in FILE_SETTINGS.parameters]
    assert set(names) <= set(DataFile.__dataclass_fields__)

    form = w.data.settings_form
    assert list(form.fields) == names
    for p in FILE_SETTINGS.parameters:
        field = form.fields[p.name]
        assert field.label == label_of(p) and field.tooltip == tooltip_of(p)
        assert p.help in field.tooltip and (not p.unit or p.unit in field.label)
        editor = field.editor
        if hasattr(editor, "choices"):  # unset shows the word 'auto', never a value
            assert editor.value is None and editor.current_choice == AUTO
        else:
            assert editor.value == "" and editor.native.placeholderText() == UNSET_HINT
    assert {"pixel size (µm)", "frame interval (s)", "localization precision (µm)", "space unit", "time unit",
            "columns"} <= {f.label for f in form.fields.values()}
    assert not form.fields["space_scale"].visible  # advanced: shown on demand
    w.data.advanced.setChecked(True)
    assert form.fields["space_scale"].native.isVisibleTo(w.data)
    # the dock keeps its width
    assert w.sizeHint().width() == DOCK_WIDTH and w.data.minimumSizeHint().width() <= DOCK_WIDTH

    # the dialog shows the same fields, the column mapping as one choice per role among the file's columns
    dialog = Dialog(monkeypatch)  # the user cancels
    table = tmp_path / "odd.csv"
    pd.DataFrame({"traccia": [1, 1, 2], "px": [1.0, 1.1, 3.0], "py": [2.0, 2.1, 3.0],
                  "tempo": [0.0, 0.1, 0.0]}).to_csv(table, index=False)
    assert open_and_wait(w, qtbot, table) is None
    (d,) = dialog.seen
    assert list(d.form.fields) == names
    assert [f.label for f in d.form.fields.values()] == [f.label for f in form.fields.values()]
    assert list(d.combos) == list(FILE_SETTINGS.parameter("columns").keys)
    assert d.combos["n"].choices[2:] == ("traccia", "px", "py", "tempo")
    settle(w, qtbot)


def test_the_settings_go_into_the_spec_and_come_back(panel, make_napari_viewer, qtbot, tmp_path, notifications):
    viewer, w = panel
    data = tmp_path / "tracks.csv"
    shutil.copy(SASPT, data)
    layer = open_and_wait(w, qtbot, data, {"frame_interval": FRAME})
    qtbot.wait(300)
    assert len(notifications) == 1 and "look like pixels" in texts(notifications)[0]
    notifications.clear()
    w.data.table.selectRow(0)
    set_file_setting(w, "columns", "n=trajectory,x=x,y=y,frame=frame")
    set_file_setting(w, "space_unit", "px")
    set_file_setting(w, "pixel_size", str(PIXEL))
    set_file_setting(w, "localization_precision", "0.025")
    expected = {"frame_interval": FRAME, "columns": {"n": "trajectory", "x": "x", "y": "y", "frame": "frame"},
                "space_unit": "px", "pixel_size": PIXEL, "localization_precision": 0.025}
    assert layer.metadata["reader"] == expected
    # the file is read again with them: what the analysis reads
    qtbot.waitUntil(lambda: layer.metadata["provenance"].pixel_size == PIXEL
                    and layer.metadata["provenance"].localization_precision == 0.025, timeout=20_000)
    raw = pd.read_csv(SASPT)
    np.testing.assert_allclose(np.sort(layer.metadata["locations"]["x"]), np.sort(raw["x"] * PIXEL))
    path = w.save_spec(tmp_path / "analysis.json")
    saved = json.loads(path.read_text())["files"][0]
    assert {k: saved[k] for k in expected} == expected

    viewer2 = make_napari_viewer()
    _, w2 = viewer2.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    loaded = []
    w2.load_spec(path, on_loaded=lambda: loaded.append(True))
    qtbot.waitUntil(lambda: bool(loaded), timeout=30_000)
    w2.data.table.selectRow(0)
    shown = {k: v for k, v in w2.data.settings_form.value.items() if v is not None}
    assert shown == expected
    assert w2.build_spec().files[0].settings == w.build_spec().files[0].settings
    assert texts(notifications) == []  # in px now: no warning, here or in the second viewer
    settle(w, qtbot)
    settle(w2, qtbot)


def test_a_bad_value_is_one_notification_naming_the_field(panel, qtbot, tmp_path, notifications):
    viewer, w = panel
    data = tmp_path / "tracks.csv"
    shutil.copy(SASPT, data)
    layer = open_and_wait(w, qtbot, data, {"frame_interval": FRAME, "pixel_size": PIXEL})
    w.data.table.selectRow(0)
    before = dict(layer.metadata["reader"])
    notifications.clear()
    set_file_setting(w, "pixel_size", "-1")
    w.data.settings_form.fields["pixel_size"].editor.native.editingFinished.emit()  # left the field again
    qtbot.wait(300)
    assert len(notifications) == 1, texts(notifications)
    assert texts(notifications)[0].startswith('napari-tramway: tracks.csv: the "pixel size (µm)" field: must be > 0')
    assert layer.metadata["reader"] == before  # nothing changed...
    assert w.data.settings_form.fields["pixel_size"].editor.value == "-1"  # ...and nothing typed is lost
    assert "pixel_size" in w.data.settings_form.problems_label.value

    notifications.clear()
    set_file_setting(w, "pixel_size", str(PIXEL))
    set_file_setting(w, "frame_interval", "7.48 ms")
    qtbot.wait(300)
    assert len(notifications) == 1 and '"frame interval (s)" field' in texts(notifications)[0]
    assert layer.metadata["reader"] == before

    # a unit that cannot be determined where it matters: pixels without a pixel size
    notifications.clear()
    set_file_setting(w, "frame_interval", str(FRAME))
    set_file_setting(w, "space_unit", "px")
    set_file_setting(w, "pixel_size", "")
    qtbot.waitUntil(lambda: bool(notifications), timeout=20_000)
    qtbot.wait(500)
    assert len(notifications) == 1, texts(notifications)
    message = texts(notifications)[0]
    assert "could not read tracks.csv with these settings" in message and '"pixel size (µm)" field' in message
    assert "Data tab" in message and "Traceback" not in message
    assert layer in viewer.layers and len(layer.metadata["locations"]) == 1219  # the last reading is kept
    assert "cannot read it with these settings" in w.data.read_as.text()
    settle(w, qtbot)


@pytest.fixture(scope="module")
def reference_d(tmp_path_factory):
    """D (µm²/s) of each cell of the saSPT trajectories written in µm and s (hexagons of 1 µm, D model)."""
    from napari_tramway import Analysis, AnalysisSpec, DataFile, MeshSpec, ModelSpec, open_results

    table = pd.read_csv(SASPT)
    out = pd.DataFrame({"n": table["trajectory"], "x": table["x"] * PIXEL, "y": table["y"] * PIXEL,
                        "t": table["frame"] * FRAME}).sort_values(["n", "t"], kind="stable")
    d = tmp_path_factory.mktemp("um")
    out.to_csv(d / "saspt_um.txt", sep="\t", index=False, float_format="%.10g")
    spec = AnalysisSpec(files=[DataFile(path=str(d / "saspt_um.txt"))], mesh=MeshSpec("hexagon", {"resolution": 1.0}),
                        model=ModelSpec("d"))
    Analysis(spec, store=d / "store").run(env="inprocess")
    maps = open_results(d / "store").maps("saspt_um/all")
    return maps.table.loc[maps.fitted, "diffusivity"]


def gui_d(w, qtbot):
    """Run the panel's analysis (hexagons of 1 µm, D model, in this process); D of each fitted cell."""
    from napari_tramway import open_results

    w.analysis.mesh.set_values("hexagon", {"resolution": 1.0})
    w.analysis.model.set_values("d", {})
    w.environment.select("inprocess")
    assert w.runs.start() is not None
    wait_idle(qtbot, w)
    maps = open_results(w.runs.analysis.store.root).maps("tracks/all")
    return maps.table.loc[maps.fitted, "diffusivity"]


def assert_same_d(got, ref):
    ratio = float(np.median(got) / np.median(ref))
    worst = float(np.max(np.abs(got.to_numpy() / ref.to_numpy() - 1))) if list(got.index) == list(ref.index) else np.nan
    print(f"median D {np.median(got):.4g} µm²/s in the GUI vs {np.median(ref):.4g} in µm and s: ratio {ratio:.5f}; "
          f"{len(got)} cells, largest difference {100 * worst:.2g} %")
    assert abs(ratio - 1) < 0.05
    assert list(got.index) == list(ref.index)  # the same mesh: positions in the same µm
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=0.05)


def test_a_saspt_table_in_pixels_and_frames_gives_d_in_um2_per_s(panel, qtbot, tmp_path, monkeypatch, notifications,
                                                                reference_d):
    """Done when (issue 12): the saSPT CSV in pixels and frames, its pixel size and frame interval
    given in the mapping dialog, gives D within 5 % of the same data in µm and s; without the pixel
    size the user sees the pixel warning, once."""
    viewer, w = panel
    data = tmp_path / "tracks.csv"
    shutil.copy(SASPT, data)
    # opened with nothing said: frame numbers need the frame interval, so the dialog asks
    dialog = Dialog(monkeypatch, pixel_size=str(PIXEL), frame_interval=str(FRAME))
    layer = open_and_wait(w, qtbot, data)
    (d,) = dialog.seen
    assert '"frame interval (s)" field' in d.message  # the dialog names the field to give
    assert layer.metadata["reader"] == {"pixel_size": PIXEL, "frame_interval": FRAME}
    qtbot.wait(300)
    assert texts(notifications) == []  # in pixels, as said: no warning
    assert_same_d(gui_d(w, qtbot), reference_d)
    assert 2.0 < np.median(reference_d) < 3.0  # the simulated D, 2.5 µm²/s

    # the same settings given in the Data tab's form, for a file opened without them
    viewer.layers.remove(layer)
    notifications.clear()
    layer = open_and_wait(w, qtbot, data, {"frame_interval": FRAME})
    qtbot.wait(300)
    warnings = [m for m in texts(notifications) if "look like pixels" in m]
    assert len(notifications) == 1 and len(warnings) == 1, texts(notifications)  # the pixel warning, once
    assert str(data) in warnings[0] and '"pixel size (µm)" field' in warnings[0]
    w.data.table.selectRow(0)
    notifications.clear()
    set_file_setting(w, "pixel_size", str(PIXEL))
    qtbot.waitUntil(lambda: layer.metadata["provenance"].pixel_size == PIXEL, timeout=20_000)
    qtbot.wait(300)
    assert texts(notifications) == []  # the warning is not repeated, and none is new
    w.runs.overwrite.setChecked(True)
    assert_same_d(gui_d(w, qtbot), reference_d)
    settle(w, qtbot)


#: docs/formats.md, "Worked examples": each tracker's file opened in napari as the doc says — the
#: fields filled in the column-mapping dialog when it asks, then in the Data tab — and what it reads
TRACKERS = [
    ("trackmate_v7_spots.csv", None, None, "positions in µm (stated in the file) × 1 → µm"),
    ("trackmate_v6_spots.csv", None, {"space_unit": "µm", "time_unit": "s"}, "positions in µm (given) × 1 → µm"),
    ("trackmate_v7.xml", None, None, "positions in µm (stated in the file) × 1 → µm"),
    ("trackmate_v3.xml", {"pixel_size": "0.16"}, None, "positions in px (stated in the file) × 0.16 → µm"),
    ("thunderstorm_tracked.csv", {"frame_interval": "0.03"}, None, "positions in nm (stated in the file) × 0.001 → µm"),
    ("trackpy_linked.csv", {"pixel_size": "0.1", "frame_interval": "0.05"}, None,
     "positions in px (the format's convention) × 0.1 → µm"),
    ("saspt_tracks.csv", {"pixel_size": "0.16", "frame_interval": "0.00748"}, None,
     "positions in px (a pixel size was given and the file states no unit) × 0.16 → µm"),
]


@pytest.mark.parametrize("name, in_dialog, in_data_tab, read_as", TRACKERS, ids=[t[0] for t in TRACKERS])
def test_the_napari_steps_of_docs_formats(panel, qtbot, tmp_path, monkeypatch, notifications, name, in_dialog,
                                          in_data_tab, read_as):
    viewer, w = panel
    data = tmp_path / name
    shutil.copy(DATA / name, data)
    dialog = Dialog(monkeypatch, **(in_dialog or {}))
    layer = open_and_wait(w, qtbot, data)
    assert layer is not None and len(dialog.seen) == (1 if in_dialog else 0)
    qtbot.wait(300)
    if in_data_tab:  # a unit assumed against the file's look: one warning, silenced by saying the units
        assert len(notifications) == 1 and "does not state" in texts(notifications)[0], texts(notifications)
        notifications.clear()
        w.data.table.selectRow(0)
        for field, value in in_data_tab.items():
            set_file_setting(w, field, value)
        qtbot.waitUntil(lambda: layer.metadata["provenance"].space_unit_source == "given", timeout=20_000)
        qtbot.wait(300)
    assert texts(notifications) == []
    assert layer.metadata["provenance"].describe()[1] == read_as
    w.data.table.selectRow(0)
    assert read_as in w.data.read_as.text()
    settle(w, qtbot)
