"""Bad input in napari: one notification each (or the dialog that asks for what is missing), the
viewer alive, nothing lost — a text that is not trajectories, unrecognised columns, a unit that
cannot be determined, a results directory that cannot be written, an unknown site, an unreachable
host. Run under ``xvfb-run``; the notifications counted are napari's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from widget_helpers import open_and_wait, settle, texts

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[1] / "core" / "data"
PROSE = ("It was the best of times, it was the worst of times,\n"
         "it was the age of wisdom, it was the age of foolishness,\n"
         "it was the epoch of belief, it was the epoch of incredulity.\n")
LOG = ("2024-03-01 12:00:01 INFO starting acquisition\n"
       "2024-03-01 12:00:02 WARNING laser power low\n"
       "2024-03-01 12:00:03 INFO frame 1 of 2000 written\n")


@pytest.fixture
def panel(make_napari_viewer, tmp_path, monkeypatch, qtbot):
    """The panel, with its own site profiles and ledger (the user's are never touched), and the
    column-mapping dialog answered by the test (each dialog shown is recorded, then cancelled)."""
    from napari_tramway._widgets import columns

    monkeypatch.setenv("NAPARI_TRAMWAY_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("NAPARI_TRAMWAY_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NAPARI_TRAMWAY_SITES", str(tmp_path / "config" / "sites.toml"))
    dialogs = []
    monkeypatch.setattr(columns.ColumnMappingDialog, "exec",
                        lambda dialog: dialogs.append(dialog) or columns.QDialog.DialogCode.Rejected)
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-tramway", "TRamWAy maps")
    w.runs.store_edit.setText(str(tmp_path / "results"))
    yield viewer, w, dialogs
    settle(w, qtbot)


def one(notifications, qtbot) -> str:
    """The one notification shown (after waiting for a second one that must not come)."""
    qtbot.wait(300)
    assert len(notifications) == 1, texts(notifications)
    message = texts(notifications)[0]
    assert "Traceback" not in message
    return message


def alive(viewer, w):
    """The viewer and the panel still work."""
    viewer.add_points([[1.0, 1.0]])
    assert w.runs.run_button.isEnabled() and w.runs.run_button.text() == "Run"


@pytest.mark.parametrize("text", [PROSE, LOG], ids=["prose", "log"])
def test_a_text_that_is_not_trajectories_is_named_not_mapped(panel, qtbot, tmp_path, notifications, text):
    viewer, w, dialogs = panel
    path = tmp_path / "notes.txt"
    path.write_text(text)
    assert open_and_wait(w, qtbot, path) is None
    message = one(notifications, qtbot)
    assert "could not read notes.txt" in message and "not a trajectory file" in message and str(path) in message
    assert dialogs == []  # nothing to map: not the column-mapping dialog
    # dropped on the viewer (napari's reader): the same
    notifications.clear()
    assert viewer.open(str(path), plugin="napari-tramway") == []
    message = one(notifications, qtbot)
    assert "not a trajectory file" in message and "notes.txt" in message and dialogs == []
    assert path.read_text() == text
    alive(viewer, w)


def test_unrecognised_columns_open_the_dialog_naming_the_columns_and_the_field(panel, qtbot, tmp_path, notifications):
    viewer, w, dialogs = panel
    path = tmp_path / "odd.csv"
    pd.DataFrame({"traccia": [1, 1, 2, 2], "px": [1.0, 1.1, 3.0, 3.2], "py": [2.0, 2.1, 3.0, 3.1],
                  "tempo": [0.0, 0.1, 0.0, 0.1]}).to_csv(path, index=False)
    assert open_and_wait(w, qtbot, path) is None  # the user cancelled the dialog
    (dialog,) = dialogs
    assert "Columns found: traccia, px, py, tempo" in dialog.message
    assert 'the "columns" field (napari)' in dialog.message and "columns" in dialog.form.fields
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()  # n, x, y, t missing
    assert dialog.problem.text().startswith("Missing: n (trajectory id), x, y, t (time) or frame")
    qtbot.wait(300)
    assert texts(notifications) == []  # the dialog is the message; cancelling it is the user's choice
    alive(viewer, w)


def test_a_unit_that_cannot_be_determined_names_its_field(panel, qtbot, tmp_path, notifications):
    viewer, w, dialogs = panel
    # trackpy positions are pixels: opening asks for the pixel size, in the dialog that has the field
    path = tmp_path / "linked.csv"
    shutil.copy(DATA / "trackpy_linked.csv", path)
    assert open_and_wait(w, qtbot, path, {"frame_interval": 0.05}) is None
    (dialog,) = dialogs
    assert 'the "pixel size (µm)" field (napari)' in dialog.message and "pixel_size" in dialog.form.fields
    assert dialog.form.fields["frame_interval"].value == 0.05  # what was given is shown, not lost
    qtbot.wait(300)
    assert texts(notifications) == []
    # an unknown unit in the Data tab's form: refused where it is typed, named by its field
    layer = open_and_wait(w, qtbot, path, {"frame_interval": 0.05, "pixel_size": 0.1})
    w.data.table.selectRow(0)
    field = w.data.settings_form.fields["space_unit"]
    assert field.editor.choices == (None, "µm", "nm", "px")  # the choices: no unknown unit can be chosen
    notifications.clear()
    pixel = w.data.settings_form.fields["pixel_size"].editor
    pixel.native.setText("0.1 inch")
    pixel.native.editingFinished.emit()
    message = one(notifications, qtbot)
    assert '"pixel size (µm)" field' in message and "0.1 inch" in message
    assert layer.metadata["reader"] == {"frame_interval": 0.05, "pixel_size": 0.1}
    alive(viewer, w)


def _read_only_folder(tmp_path) -> Path:
    """A folder this process cannot write in: a read-only one (root writes anywhere: then a
    folder of /sys, where no file can be made)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys/kernel")
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return folder
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no folder this root process cannot write in")


def test_a_results_directory_that_cannot_be_written_is_one_line_before_any_work(panel, qtbot, tmp_path,
                                                                                notifications):
    from napari_tramway._sample_data import sample_files

    viewer, w, _ = panel
    data = tmp_path / "cells.txt"
    shutil.copy(sample_files()[4], data)
    assert open_and_wait(w, qtbot, data) is not None
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    read_only = _read_only_folder(tmp_path)
    for folder, cause in ((a_file, "it is a file, not a directory"), ("/proc/napari-tramway", "cannot create"),
                          (read_only, "cannot write in this directory")):
        notifications.clear()
        w.runs.store_edit.setText(str(folder))
        assert w.runs.start() is None and not w.runs.running  # no work started
        message = one(notifications, qtbot)
        assert message.startswith(f"napari-tramway cannot run: the results directory {folder}: {cause}")
        assert w.runs.runs_table.rowCount() == 0 and str(folder) in w.runs.status.text()
    assert a_file.read_text() == "keep me" and w.runs.store_edit.text() == str(read_only)
    alive(viewer, w)


def test_an_unknown_site_typed_in_the_where_tab_lists_the_known_ones(panel, qtbot, notifications):
    viewer, w, _ = panel
    env = w.environment
    env.site_ref.setText("nosuchsite")
    assert env.use_site(env.site_ref.text()) is False
    message = one(notifications, qtbot)
    assert "cannot use the site 'nosuchsite'" in message
    assert "known sites: inprocess, local, SlurmOverSSH" in message
    assert env.name == "inprocess" and env.site_ref.text() == "nosuchsite"  # unchanged, nothing lost
    alive(viewer, w)


def test_an_unreachable_host_gives_host_port_and_cause(panel, qtbot, tmp_path, notifications):
    from napari_tramway._sample_data import sample_files

    viewer, w, _ = panel
    env = w.environment
    env.select("SlurmOverSSH")
    for name, value in (("hostname", "127.0.0.1"), ("port", 1), ("username", "nobody"), ("scratch", "/tmp/ntw"),
                        ("ssh_retries", 0)):
        env.form.fields[name].value = value
    assert env.check_site() is not None
    qtbot.waitUntil(lambda: env._check_worker is None, timeout=60_000)
    message = one(notifications, qtbot)
    for needle in ("SlurmOverSSH", "127.0.0.1 port 1", "Connection refused"):
        assert needle in message, message
    # a run there: one line as well, and nothing submitted
    data = tmp_path / "cells.txt"
    shutil.copy(sample_files()[4], data)
    assert open_and_wait(w, qtbot, data) is not None
    notifications.clear()
    assert w.runs.start() is not None
    qtbot.waitUntil(lambda: not w.runs.running, timeout=60_000)
    message = one(notifications, qtbot)
    for needle in ("the run failed", "127.0.0.1 port 1", "Connection refused", "nothing was submitted"):
        assert needle in message, message
    alive(viewer, w)
