"""The column-mapping step: when a table's columns are not recognised, the user names them."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

ROLES = (
    ("n", "trajectory id", True),
    ("x", "x", True),
    ("y", "y", True),
    ("t", "time", False),
    ("frame", "frame number", False),
    ("z", "z (optional)", False),
)
NONE = "(none)"
SPACE_UNITS = ("as in the file", "µm", "nm", "pixel")
TIME_UNITS = ("as in the file", "s", "ms", "frame")


def file_preview(path, rows: int = 6) -> tuple[list[str], list[list[str]], bool]:
    """``(column names, first rows, has header)`` of a text table, without reading all of it."""
    from ..core.io.sniff import head_lines, read_head, sniff, split_line

    p, head = read_head(path)
    sniffed = sniff(p, head)
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
        names = [f"column {i + 1}" for i in range(len(cells[0]))]
        body = cells[:rows]
    return names, body, bool(sniffed.header)


def guess_role(role: str, names: list[str]) -> int | None:
    """Index of the column that auto-detection would give ``role``, if any."""
    from ..core.io.columns import ALIASES, split_name

    parsed = [split_name(n)[0] for n in names]
    for alias in ALIASES.get(role, ()):
        if alias in parsed:
            return parsed.index(alias)
    return None


class ColumnMappingDialog(QDialog):
    """Map the columns of a trajectory table to n, x, y, t (or frame), with their units."""

    def __init__(self, path, names: list[str], rows: list[list[str]], has_header: bool = True,
                 message: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("napari_tramway_column_mapping")
        self.setWindowTitle("napari-tramway: which column is which?")
        self.names = list(names)
        self.has_header = has_header
        layout = QVBoxLayout(self)
        intro = QLabel(f"<b>{path}</b><br>The columns of this file were not all recognised. "
                       "Say which column holds the trajectory id, x, y and the time (or frame number).")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        if message:
            err = QLabel(message)
            err.setWordWrap(True)
            err.setStyleSheet("color: #e07070;")
            err.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(err)
        table = QTableWidget(len(rows), len(names))
        table.setHorizontalHeaderLabels(names)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row[: len(names)]):
                table.setItem(i, j, QTableWidgetItem(cell))
        table.setMaximumHeight(170)
        layout.addWidget(table)
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for role, text, _required in ROLES:
            combo = QComboBox()
            combo.addItem(NONE)
            combo.addItems(self.names)
            guess = guess_role(role, self.names)
            if guess is not None:
                combo.setCurrentIndex(guess + 1)
            combo.currentIndexChanged.connect(self._update)
            self.combos[role] = combo
            form.addRow(text, combo)
        self.space_unit = QComboBox()
        self.space_unit.addItems(SPACE_UNITS)
        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setDecimals(4)
        self.pixel_size.setRange(0.0001, 100.0)
        self.pixel_size.setValue(0.1)
        self.pixel_size.setSuffix(" µm")
        row = QHBoxLayout()
        row.addWidget(self.space_unit)
        row.addWidget(QLabel("pixel size"))
        row.addWidget(self.pixel_size)
        form.addRow("positions in", row)
        self.time_unit = QComboBox()
        self.time_unit.addItems(TIME_UNITS)
        self.frame_interval = QDoubleSpinBox()
        self.frame_interval.setDecimals(5)
        self.frame_interval.setRange(0.00001, 1000.0)
        self.frame_interval.setValue(0.02)
        self.frame_interval.setSuffix(" s")
        row = QHBoxLayout()
        row.addWidget(self.time_unit)
        row.addWidget(QLabel("frame interval"))
        row.addWidget(self.frame_interval)
        form.addRow("time in", row)
        layout.addLayout(form)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #e07070;")
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.space_unit.currentIndexChanged.connect(self._update)
        self.time_unit.currentIndexChanged.connect(self._update)
        self._update()

    def set_role(self, role: str, column: str | None) -> None:
        """Choose the column of ``role`` (None: no column)."""
        combo = self.combos[role]
        combo.setCurrentIndex(0 if column is None else self.names.index(column) + 1)

    def _choice(self, role):
        i = self.combos[role].currentIndex()
        return None if i <= 0 else i - 1

    def _update(self, *_):
        self.pixel_size.setEnabled(self.space_unit.currentText() == "pixel")
        frames = self.time_unit.currentText() == "frame" or (self._choice("t") is None and self._choice("frame") is not None)
        self.frame_interval.setEnabled(frames)
        missing = [text for role, text, required in ROLES if required and self._choice(role) is None]
        if self._choice("t") is None and self._choice("frame") is None:
            missing.append("time or frame number")
        chosen = [self._choice(r) for r, _, _ in ROLES if self._choice(r) is not None]
        dup = len(chosen) != len(set(chosen))
        text = ""
        if missing:
            text = "Missing: " + ", ".join(missing)
        elif dup:
            text = "A column is used twice."
        self.problem.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not text)

    def options(self) -> dict:
        """Reader options for :func:`napari_tramway.read_trajectories`."""
        columns = {}
        for role, _, _ in ROLES:
            i = self._choice(role)
            if i is not None:
                columns[role] = self.names[i] if self.has_header else i
        opts: dict = {"columns": columns}
        su = self.space_unit.currentText()
        if su == "pixel":
            opts["space_unit"] = "pixel"
            opts["pixel_size"] = float(self.pixel_size.value())
        elif su in ("µm", "nm"):
            opts["space_unit"] = su
        tu = self.time_unit.currentText()
        if tu in ("s", "ms", "frame"):
            opts["time_unit"] = tu
        if self.frame_interval.isEnabled():
            opts["frame_interval"] = float(self.frame_interval.value())
        return opts


def is_column_problem(exc: Exception) -> bool:
    """Whether a reading error is about which column is which (worth the mapping dialog)."""
    text = str(exc)
    keys = ("no trajectory-id column", "no x column", "no y column", "no time or frame column",
            "columns= maps", "is not a column of the file", "Columns found")
    return any(k in text for k in keys)


def ask_column_mapping(path, message: str = "", parent: QWidget | None = None) -> dict | None:
    """Show :class:`ColumnMappingDialog` for ``path``; return reader options, or None if cancelled."""
    try:
        names, rows, has_header = file_preview(path)
    except Exception:  # the reader will report the file's problem itself
        return None
    if not names:
        return None
    dialog = ColumnMappingDialog(path, names, rows, has_header, message, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.options()
