"""Parameter forms generated from the mesh and model registries (one source of truth).

Each :class:`~napari_tramway.core.parameters.Parameter` becomes one row: a label with its unit,
an editor suited to its type and range, an "auto" box when it may be unset (``None``), and its
one-line help as tooltip. Advanced parameters are hidden until "advanced" is ticked.
"""

from __future__ import annotations

import math

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from ..core.defaults import LOCALIZATION_PRECISION

INT_MAX = 2_147_483_647


class FloatSpinBox(QDoubleSpinBox):
    """A spin box that shows floats compactly (``%g``) and keeps full precision."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt API)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.replace(self.suffix(), "").strip())
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        from qtpy.QtGui import QValidator

        t = text.replace(self.suffix(), "").strip()
        if t in ("", "-", "+", ".", "-.", "e", "E") or t.endswith(("e", "E", "e-", "E-", "e+", "E+")):
            return QValidator.State.Intermediate, text, pos
        try:
            float(t)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Invalid, text, pos


def _tooltip(p) -> str:
    parts = [p.help]
    rng = []
    if p.minimum is not None:
        rng.append(("> " if p.exclusive_minimum else "≥ ") + f"{p.minimum:g}")
    if p.maximum is not None:
        rng.append(f"≤ {p.maximum:g}")
    if rng:
        parts.append("Range: " + ", ".join(rng) + (f" {p.unit}" if p.unit else ""))
    if p.choices:
        parts.append("One of: " + ", ".join(map(str, p.choices)))
    parts.append("Default: " + ("auto (unset)" if p.default is None else f"{p.default!r}"))
    return "\n".join(parts)


class ParameterRow(QWidget):
    """Editor of one parameter (value + optional 'auto' box)."""

    changed = Signal()

    def __init__(self, parameter, parent=None):
        super().__init__(parent)
        self.parameter = p = parameter
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.editor = self._make_editor()
        layout.addWidget(self.editor, 1)
        self.auto = None
        if p.accepts_none and p.type != "bool":
            self.auto = QCheckBox("auto")
            self.auto.setToolTip("Leave unset: derived from the data, or disabled (see the help)")
            self.auto.toggled.connect(self._on_auto)
            layout.addWidget(self.auto)
        self.setToolTip(_tooltip(p))
        self.editor.setToolTip(_tooltip(p))
        self.set_value(p.default)

    # -- editor -----------------------------------------------------------------------------------
    def _make_editor(self):
        p = self.parameter
        if p.type == "bool":
            w = QCheckBox()
            w.toggled.connect(self.changed)
            return w
        if p.type == "str":
            if p.choices:
                w = QComboBox()
                w.addItems([str(c) for c in p.choices])
                w.currentIndexChanged.connect(self.changed)
                return w
            w = QLineEdit()
            w.editingFinished.connect(self.changed)
            return w
        if p.type == "int":
            w = QSpinBox()
            lo = -INT_MAX if p.minimum is None else int(math.ceil(p.minimum + (1 if p.exclusive_minimum else 0)))
            hi = INT_MAX if p.maximum is None else int(math.floor(p.maximum))
            w.setRange(lo, hi)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self.changed)
            return w
        if p.type == "int_pair":
            box = QWidget()
            lay = QHBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lo = 0 if p.minimum is None else int(p.minimum) - 1
            self._pair = []
            for text in ("min", "max"):
                s = QSpinBox()
                s.setRange(lo, INT_MAX)
                s.setSpecialValueText("none")
                s.setPrefix(f"{text} ")
                s.valueChanged.connect(self.changed)
                lay.addWidget(s)
                self._pair.append(s)
            return box
        w = FloatSpinBox()
        lo = -1e12 if p.minimum is None else float(p.minimum)
        hi = 1e12 if p.maximum is None else float(p.maximum)
        if p.exclusive_minimum and p.minimum is not None:
            lo = float(p.minimum) + (1e-9 if p.minimum == 0 else abs(p.minimum) * 1e-9)
        w.setRange(lo, hi)
        if p.unit:
            w.setSuffix(f" {p.unit}")
        w.valueChanged.connect(self.changed)
        return w

    def _on_auto(self, checked: bool):
        self.editor.setEnabled(not checked)
        self.changed.emit()

    # -- values -------------------------------------------------------------------------------------
    def value(self):
        p = self.parameter
        if self.auto is not None and self.auto.isChecked():
            return None
        w = self.editor
        if p.type == "bool":
            return bool(w.isChecked())
        if p.type == "str":
            return w.currentText() if isinstance(w, QComboBox) else w.text()
        if p.type == "int":
            return int(w.value())
        if p.type == "int_pair":
            vals = [s.value() for s in self._pair]
            return tuple(None if v == s.minimum() else int(v) for v, s in zip(vals, self._pair))
        return float(w.value())

    def set_value(self, value) -> None:
        p = self.parameter
        blockers = [self.editor] + ([self.auto] if self.auto is not None else [])
        for b in blockers:
            b.blockSignals(True)
        try:
            if value is None:
                if self.auto is not None:
                    self.auto.setChecked(True)
                    self.editor.setEnabled(False)
                value = self._placeholder()
            elif self.auto is not None:
                self.auto.setChecked(False)
                self.editor.setEnabled(True)
            w = self.editor
            if p.type == "bool":
                w.setChecked(bool(value))
            elif p.type == "str":
                if isinstance(w, QComboBox):
                    i = w.findText(str(value))
                    w.setCurrentIndex(max(0, i))
                else:
                    w.setText("" if value is None else str(value))
            elif p.type == "int":
                w.setValue(int(value))
            elif p.type == "int_pair":
                if isinstance(value, (int, float)):
                    value = (int(value), None)
                for s, v in zip(self._pair, list(value) + [None, None]):
                    s.blockSignals(True)
                    s.setValue(s.minimum() if v is None else int(v))
                    s.blockSignals(False)
            else:
                w.setValue(float(value))
        finally:
            for b in blockers:
                b.blockSignals(False)

    def _placeholder(self):
        """A sensible editor value to show when the parameter is unset (auto)."""
        p = self.parameter
        if p.type == "int_pair":
            return (None, None)
        if p.type in ("int", "float"):
            lo = p.minimum if p.minimum is not None else 0
            guess = {"resolution": 1.0, "ref_distance": 0.5, "avg_location_count": 80, "sigma": LOCALIZATION_PRECISION,
                     "radius": 0.5, "prune": 2.5, "max_distance": 4.0, "pass_count": 3, "min_count": 20,
                     "max_count": 200, "max_level": 8}.get(p.name)
            if guess is None:
                guess = lo + (1 if p.type == "int" else 1.0)
            return int(guess) if p.type == "int" else float(guess)
        if p.type == "bool":
            return False
        return p.choices[0] if p.choices else ""


class ParameterForm(QWidget):
    """A form for one registry entry; ``values()`` gives the non-default values, for a spec."""

    changed = Signal()

    def __init__(self, entry, parent=None):
        super().__init__(parent)
        self.entry = entry
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.rows: dict[str, ParameterRow] = {}
        self.labels: dict[str, QLabel] = {}
        for p in entry.parameters:
            row = ParameterRow(p)
            row.changed.connect(self._on_changed)
            label = QLabel(p.label)
            label.setToolTip(_tooltip(p))
            self.form.addRow(label, row)
            self.rows[p.name] = row
            self.labels[p.name] = label
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #e07070;")
        self.form.addRow(self.problems)
        self.set_advanced(False)

    def set_advanced(self, shown: bool) -> None:
        for p in self.entry.parameters:
            if p.advanced:
                self.rows[p.name].setVisible(shown)
                self.labels[p.name].setVisible(shown)

    def _on_changed(self):
        problems = self.entry.problems(self.all_values())
        self.problems.setText("\n".join(str(e) for e in problems))
        self.changed.emit()

    def all_values(self) -> dict:
        return {name: row.value() for name, row in self.rows.items()}

    def values(self) -> dict:
        """The values that differ from the registry defaults (what a spec records)."""
        out = {}
        for p in self.entry.parameters:
            v = self.rows[p.name].value()
            d = p.default
            if isinstance(d, list):
                d = tuple(d)
            if v != d:
                out[p.name] = v
        return out

    def set_values(self, values: dict | None) -> None:
        """Show ``values`` (missing names take their defaults)."""
        values = dict(values or {})
        for p in self.entry.parameters:
            self.rows[p.name].set_value(values.get(p.name, p.default))
        self._on_changed()
