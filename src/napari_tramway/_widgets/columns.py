"""The column-mapping dialog: when a table's columns are not recognised, or a unit cannot be
determined where it matters (pixels without a pixel size, frames without a frame interval), the
user says how to read the file — in the data-file settings form (:mod:`.file_form`), the fields of
the Data tab and the command line, with the file's first rows above it."""

from __future__ import annotations

from collections.abc import Mapping

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .file_form import file_settings_form, settings_of
from .forms import NO_SOURCE

#: the roles a file needs, each with what it is (for the "Missing:" line)
REQUIRED = (("n", "n (trajectory id)"), ("x", "x"), ("y", "y"))
#: the choice of a role given no column (see :class:`~napari_tramway._widgets.forms.MappingEditor`)
NONE = NO_SOURCE


def file_preview(path, rows: int = 6) -> tuple[list[str], list[list[str]], bool]:
    """``(column names, first rows, has header)`` of a text table, without reading all of it; the
    columns of a file without header are named by their 0-based positions (``0``, ``1``...), as
    the column mapping gives them. Nothing for an XML file (it has no columns to map)."""
    from ..core.io.sniff import head_lines, read_head, sniff, split_line

    p, head = read_head(path)
    sniffed = sniff(p, head)
    if sniffed.format.endswith("-xml"):
        return [], [], False
    lines = [ln for ln in head_lines(head, sniffed.encoding, limit=rows + 40) if ln.strip()]
    while lines and lines[0].lstrip().startswith("#"):
        lines.pop(0)
    if not lines:
        return [], [], False
    delim = sniffed.delimiter
    if delim is None and "," in lines[0]:
        delim = ","
    cells = [split_line(ln, delim) for ln in lines[: rows + 1]]
    if sniffed.header:
        names = [c.strip().strip('"') for c in cells[0]]
        body = cells[1:]
    else:
        names = [str(i) for i in range(len(cells[0]))]
        body = cells[:rows]
    return names, body, bool(sniffed.header)


def column_choices(names: list[str], has_header: bool) -> list[tuple[str, object]]:
    """The ``(label, value)`` choices of the column mapping: names, or 0-based positions."""
    return [(name, name if has_header else i) for i, name in enumerate(names)]


def guess_role(role: str, names: list[str], has_header: bool = True) -> int | None:
    """Index of the column the reader would give ``role`` by its name (or, without header, by the
    default layout ``n x y t`` / ``n x y z t``), if any."""
    from ..core.io.columns import ALIASES, DEFAULT_NAMES, split_name

    if not has_header:
        layout = DEFAULT_NAMES.get(len(names), [])
        return layout.index(role) if role in layout else None
    parsed = [split_name(n)[0] for n in names]
    for alias in ALIASES.get(role, ()):
        if alias in parsed:
            return parsed.index(alias)
    return None


class ColumnMappingDialog(QDialog):
    """How to read a trajectory file: its first rows, and the data-file settings form (column
    mapping, units, pixel size, frame interval, σ...) with the file's current settings."""

    def __init__(self, path, names: list[str], rows: list[list[str]], has_header: bool = True,
                 message: str = "", parent: QWidget | None = None, settings: Mapping | None = None):
        super().__init__(parent)
        self.setObjectName("napari_tramway_column_mapping")
        self.setWindowTitle("napari-tramway: how to read this file?")
        self.names = list(names)
        self.has_header = has_header
        self.message = message
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{path}</b><br>Say which column is which, and the units of positions and times. "
                       "A field left on <i>auto</i> (or empty) is found from the file.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if message:
            err = QLabel(message)
            err.setWordWrap(True)
            err.setStyleSheet("color: #e07070;")
            err.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(err)
        if names:  # a table: its first rows, and its columns to choose from
            table = QTableWidget(len(rows), len(names))
            table.setHorizontalHeaderLabels(names)
            for i, row in enumerate(rows):
                for j, cell in enumerate(row[: len(names)]):
                    table.setItem(i, j, QTableWidgetItem(cell))
            table.setMaximumHeight(150)
            layout.addWidget(table)
        self.form = file_settings_form(column_choices(self.names, has_header) if names else None)
        self.form.set_value(dict(settings or {}))
        layout.addWidget(self.form.native)
        self.advanced = QCheckBox("advanced settings (scale factors for other units)")
        self.advanced.toggled.connect(self.form.set_advanced)
        layout.addWidget(self.advanced)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #e07070;")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.form.changed.connect(self._update)
        self._update()

    @property
    def combos(self) -> dict:
        """The column mapping's combo box of each role (``n``, ``x``, ``y``, ``z``, ``t``, ``frame``)."""
        return self.form.fields["columns"].editor.combos

    def set_role(self, role: str, column: str | int | None) -> None:
        """Give ``role`` the column ``column`` (a name, or a position without header; None: no column)."""
        mapping = dict(self.form.fields["columns"].value or {})
        mapping[role] = column
        self.form.fields["columns"].value = mapping

    def missing(self) -> list[str]:
        """The roles no column will hold: neither mapped nor recognised by name (a table's)."""
        mapping = self.form.fields["columns"].value
        if not self.names or not isinstance(mapping, (Mapping, type(None))):
            return []
        mapping = mapping or {}

        def has(role):
            if role in mapping:
                return mapping[role] is not None
            return guess_role(role, self.names, self.has_header) is not None

        out = [text for role, text in REQUIRED if not has(role)]
        if not has("t") and not has("frame"):
            out.append("t (time) or frame")
        return out

    def _update(self, *_):
        problems = [str(p) for p in self.form.problems()]
        missing = self.missing()
        text = "; ".join(problems) if problems else ("Missing: " + ", ".join(missing) if missing else "")
        self.problem.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not text)

    def settings(self):
        """The settings chosen, as :class:`~napari_tramway.core.io.FileSettings` (validated once)."""
        return settings_of(self.form)

    def options(self) -> dict:
        """The settings chosen, as keywords of :func:`napari_tramway.read_trajectories` (the spec's
        fields of the file)."""
        return self.settings().to_dict()


def needs_settings(exc: BaseException) -> bool:
    """Whether a reading error asks for settings the dialog gives: columns not recognised
    (:class:`~napari_tramway.core.errors.ColumnError`) or a unit that cannot be determined
    (:class:`~napari_tramway.core.errors.UnitError`). A file that is not trajectories
    (:class:`~napari_tramway.core.errors.NotTrajectoryFileError`) has nothing to map."""
    from ..core.errors import ColumnError, UnitError

    return isinstance(exc, (ColumnError, UnitError))


def ask_file_settings(path, message: str = "", settings: Mapping | None = None,
                      parent: QWidget | None = None) -> dict | None:
    """Show :class:`ColumnMappingDialog` for ``path`` with its current ``settings``; return the
    settings chosen (keywords of :func:`napari_tramway.read_trajectories`), or None if cancelled."""
    try:
        names, rows, has_header = file_preview(path)
    except Exception:  # the reader read it: the settings can still be given, without a preview
        names, rows, has_header = [], [], False
    dialog = ColumnMappingDialog(path, names, rows, has_header, message, parent, settings)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.options()
