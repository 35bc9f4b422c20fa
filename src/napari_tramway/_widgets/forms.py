"""Settings forms generated from parameter descriptions, with magicgui (one source of truth).

:func:`form_for` turns :class:`~napari_tramway.core.parameters.Parameter` s — of the mesh, model,
environment or data-file registries — into a magicgui :class:`ParameterForm`: one row per
parameter, its label with its unit (``resolution (µm)``; ``(no unit)`` for a dimensionless number),
an editor suited to its type and range, its help, range and default as tooltip, and advanced
parameters hidden until :meth:`ParameterForm.set_advanced`. ``form.value`` is a dict of every
value, ``form.set_value(dict)`` shows values (missing names take their default), ``form.values()``
gives those that differ from the defaults (what a spec records), and problems (range, type) are
listed under the form as the user types.

A parameter that may be unset (``None``: derived from the data, or disabled) can never look set:

* a text field (numbers, text, pairs, mappings) is empty when unset, with the grey hint ``auto``;
* an integer has an ``auto`` box: ticked, the spin box is replaced by the word *unset*;
* a choice offers ``auto`` among its choices.

A ``mapping`` parameter (a column mapping) is a text field (``x=POSITION_X,y=POSITION_Y``, as on the
command line), or, when the form is given the values to choose from (``value_choices``, e.g. a
file's columns), one combo box per key (:class:`MappingEditor`). :meth:`ParameterForm.on_commit`
calls back on finished edits only (Enter or leaving a text field, a choice made), for a form
whose values are applied as they are edited.

Numbers are edited as text (``1e-05``, ``0.025``): exactly what is typed is kept, in any
magnitude, and a typo is named in the problems list rather than silently rounded — a spin box
would round to its fixed decimals. Everything is magicgui but the Qt calls it has no API for:
the grey hint of an empty text field, the colour of the problems line, a text field's
``editingFinished`` (:meth:`ParameterForm.on_commit`) and word-wrapped labels
(:meth:`ParameterForm.wrap_labels`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, SpinBox
from magicgui.widgets.bases import ValuedContainerWidget

INT_MAX = 2_147_483_647
AUTO = "auto"
UNSET_HINT = "auto"
#: shown in place of an integer's spin box when its 'auto' box is ticked
UNSET_WORD = "unset"


def label_of(p) -> str:
    """The row label: the parameter's name with its unit; ``(no unit)`` for a dimensionless float."""
    if p.type == "float" and not p.unit:
        return f"{p.name.replace('_', ' ')} (no unit)"
    return p.label


def tooltip_of(p) -> str:
    """Help, valid range with unit, choices and default of a parameter."""
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
    if p.accepts_none:
        parts.append("Leave it empty (auto) to leave it unset: see above what unset means.")
    parts.append("Default: " + ("auto (unset)" if p.default is None else p.format(p.default)))
    return "\n".join(parts)


class ParameterField(ValuedContainerWidget):
    """The editor of one parameter; ``value`` is the typed value, ``None`` when unset.

    A text that does not parse is returned as typed (a ``str``): the form lists it as a problem,
    and a spec built from it is refused with the parameter's name.
    """

    def __init__(self, parameter, value_choices=None, **kwargs):
        p = self.parameter = parameter
        self.editor = _editor(p) if value_choices is None else MappingEditor(p, value_choices)
        self.auto: CheckBox | None = None
        self.unset: Label | None = None
        widgets = [self.editor]
        if p.accepts_none and isinstance(self.editor, SpinBox):
            self.unset = Label(value=f"<i>{UNSET_WORD}</i>", tooltip="Unset: see the parameter's help")
            self.auto = CheckBox(text=AUTO, tooltip="Leave this parameter unset (see its help)")
            widgets += [self.unset, self.auto]
        super().__init__(widgets=widgets, layout="horizontal", labels=False, name=p.name, label=label_of(p),
                         tooltip=tooltip_of(p), **kwargs)
        self.margins = (0, 0, 0, 0)
        self.editor.tooltip = tooltip_of(p)
        if isinstance(self.editor, LineEdit) and p.accepts_none:
            self.editor.native.setPlaceholderText(UNSET_HINT)  # magicgui has no placeholder API
        self.editor.changed.connect(lambda *_: self.changed.emit(self.value))
        if self.auto is not None:
            self.auto.changed.connect(self._on_auto)
        self.set_value(p.default)

    def _on_auto(self, *_):
        unset = bool(self.auto.value)
        self.editor.visible = not unset
        self.unset.visible = unset
        self.changed.emit(self.value)

    def get_value(self):
        p = self.parameter
        if self.auto is not None and self.auto.value:
            return None
        w = self.editor
        if not isinstance(w, LineEdit):
            return w.value
        text = w.value
        if p.type == "str":
            return None if (p.accepts_none and not text.strip()) else text
        try:
            return p.parse(text)
        except Exception:
            return text  # named as a problem by the form, refused by the spec

    def set_value(self, value) -> None:
        p = self.parameter
        w = self.editor
        with self.changed.blocked():
            if self.auto is not None:
                self.auto.value = value is None
                self._on_auto()
                if value is None:
                    return
            if isinstance(w, MappingEditor):
                w.value = value
            elif isinstance(w, ComboBox):
                w.value = value if value in w.choices else w.choices[0]
            elif isinstance(w, CheckBox):
                w.value = bool(value)
            elif isinstance(w, SpinBox):
                w.value = int(value)
            elif p.type == "str" or isinstance(value, str):
                w.value = "" if value is None else str(value)  # a text typed earlier is kept as it was
            else:
                w.value = p.format(value)
        self.changed.emit(self.value)


class _Absent:
    """The choice of a mapping key left out (found by name, as when unset)."""

    def __repr__(self):
        return AUTO


ABSENT = _Absent()
#: the choice of a mapping key given no source (``z=`` on the command line: a z column is ignored)
NO_SOURCE = "none"


class MappingEditor(ValuedContainerWidget):
    """The editor of a ``mapping`` parameter whose values are chosen from a list (e.g. the columns
    of a file): one combo box per key, offering *auto* (the key left out: found by name), *none*
    (no source: the role is not read) and the choices, given as ``(label, value)`` pairs. Its
    ``value`` is the mapping of the keys set, ``None`` when no key is; a value set that is not
    among the choices is added to them (nothing typed elsewhere is lost)."""

    def __init__(self, parameter, choices, per_row: int = 3, **kwargs):
        self.parameter = parameter
        self.choices = [(str(label), value) for label, value in choices]
        self.combos: dict[str, ComboBox] = {}
        keys = tuple(parameter.keys or ())
        self._added: dict[str, list] = {key: [] for key in keys}
        rows = []
        for i in range(0, len(keys), per_row):
            widgets = []
            for key in keys[i:i + per_row]:
                combo = ComboBox(choices=self._choices_of(key), name=key,
                                 tooltip=f"{parameter.name}: {key}. {AUTO}: found by its name; {NO_SOURCE}: not read")
                self.combos[key] = combo
                widgets += [Label(value=key), combo]
            row = Container(widgets=widgets, layout="horizontal", labels=False)
            row.margins = (0, 0, 0, 0)
            rows.append(row)
        super().__init__(widgets=rows, layout="vertical", labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        for combo in self.combos.values():
            combo.changed.connect(lambda *_: self.changed.emit(self.value))

    def _choices_of(self, key: str) -> list:
        return [(AUTO, ABSENT), (NO_SOURCE, None), *self.choices, *self._added[key]]

    def get_value(self):
        out = {key: combo.value for key, combo in self.combos.items() if combo.value is not ABSENT}
        return out or None

    def set_value(self, value) -> None:
        mapping = dict(value) if isinstance(value, Mapping) else {}
        with self.changed.blocked():
            for key, combo in self.combos.items():
                v = mapping.get(key, ABSENT)
                if v not in combo.choices:  # e.g. a column the file does not have: shown, not lost
                    self._added[key].append((str(v), v))
                    combo.choices = self._choices_of(key)
                combo.value = v
        self.changed.emit(self.value)


def _editor(p):
    """The magicgui widget editing one parameter (see the module docstring)."""
    if p.type == "bool" and not p.accepts_none:
        return CheckBox(text="")
    if p.choices or p.type == "bool":
        choices = [(str(c), c) for c in (p.choices or (True, False))]
        if p.accepts_none:
            choices = [(AUTO, None)] + choices
        return ComboBox(choices=choices)
    if p.type == "int":
        lo = -INT_MAX if p.minimum is None else int(p.minimum) + (1 if p.exclusive_minimum else 0)
        hi = INT_MAX if p.maximum is None else int(p.maximum)
        return SpinBox(min=lo, max=hi, value=max(lo, min(hi, 0 if p.default is None else int(p.default))))
    return LineEdit()


class ParameterForm(Container):
    """A form for a set of parameters (a registry entry's, or any); see the module docstring.

    Attributes
    ----------
    fields : dict
        Parameter name → :class:`ParameterField`.
    entry : RegistryEntry or None
        The registry entry the form shows, if any (its ``problems`` then check the values); any
        object with ``parameters`` and ``problems(values)`` will do.
    value_choices : dict, optional
        Parameter name → ``(label, value)`` choices of a ``mapping`` parameter's values (e.g. a
        file's columns): that parameter is then edited by a :class:`MappingEditor`.
    """

    def __init__(self, parameters: Sequence, entry=None, value_choices: Mapping | None = None, **kwargs):
        self.parameters = tuple(parameters)
        self.entry = entry
        choices = dict(value_choices or {})
        self.fields: dict[str, ParameterField] = {
            p.name: ParameterField(p, choices.get(p.name) if p.type == "mapping" else None) for p in self.parameters}
        self.problems_label = Label(value="")
        super().__init__(widgets=list(self.fields.values()), labels=True, **kwargs)
        self.append(self.problems_label)  # inserted once initialised: magicgui then aligns the labels
        self.margins = (0, 0, 0, 0)
        self.problems_label.native.setStyleSheet("color: #e07070;")  # magicgui has no colour API
        self.problems_label.native.setWordWrap(True)
        self.problems_label.visible = False
        self._advanced = False
        for f in self.fields.values():
            f.changed.connect(self._on_changed)
        self.set_advanced(False)

    @classmethod
    def from_entry(cls, entry, **kwargs) -> ParameterForm:
        """The form of a registry entry (mesh method, model, environment kind...)."""
        return cls(entry.parameters, entry=entry, **kwargs)

    # -- values ----------------------------------------------------------------------------------------
    @property
    def value(self) -> dict:
        """Every parameter's value (``None``: unset)."""
        return {name: f.value for name, f in self.fields.items()}

    @value.setter
    def value(self, values: Mapping) -> None:
        self.set_value(values)

    def set_value(self, values: Mapping | None) -> None:
        """Show ``values``; parameters not in it take their default."""
        values = dict(values or {})
        with self.changed.blocked():
            for p in self.parameters:
                self.fields[p.name].set_value(values.get(p.name, p.default))
        self._on_changed()

    def values(self) -> dict:
        """The values that differ from the defaults (what a spec records)."""
        out = {}
        for p in self.parameters:
            v = self.fields[p.name].value
            d = tuple(p.default) if isinstance(p.default, list) else p.default
            if v != d:
                out[p.name] = v
        return out

    def set_values(self, values: Mapping | None) -> None:
        """Alias of :meth:`set_value`."""
        self.set_value(values)

    # -- display ---------------------------------------------------------------------------------------
    def set_advanced(self, shown: bool) -> None:
        """Show or hide the advanced parameters."""
        self._advanced = bool(shown)
        for p in self.parameters:
            if p.advanced:
                self.fields[p.name].visible = self._advanced

    def on_commit(self, callback) -> None:
        """Call ``callback()`` after each finished edit: Enter pressed in a text field or the field
        left, a choice made, a box ticked (not at every keystroke, unlike ``changed``)."""
        for f in self.fields.values():
            editor = f.editor
            if isinstance(editor, LineEdit):
                editor.native.editingFinished.connect(callback)  # magicgui's LineEdit reports keystrokes
            else:
                editor.changed.connect(lambda *_: callback())
            if f.auto is not None:
                f.auto.changed.connect(lambda *_: callback())

    def wrap_labels(self, width: int) -> None:
        """Labels at most ``width`` px wide, long ones on two lines: the editors keep the rest of a
        narrow dock."""
        for f in self.fields.values():
            labeled = f._labeled_widget()
            if labeled is not None:
                labeled.label_width = width
                labeled._label_widget.native.setWordWrap(True)  # magicgui has no word-wrap API
                labeled._label_widget.native.setMaximumWidth(width)

    def problems(self) -> list:
        """The problems of the values shown (``ParameterError`` s naming the parameter)."""
        values = self.value
        if self.entry is not None:
            return list(self.entry.problems(values))
        out = []
        for p in self.parameters:
            try:
                p.validate(values[p.name])
            except Exception as exc:
                out.append(exc)
        return out

    def _on_changed(self, *_):
        problems = self.problems()
        text = "\n".join(str(e) for e in problems)
        if self.problems_label.value != text:
            self.problems_label.value = text
        self.problems_label.visible = bool(text)
        self.changed.emit(self)


def form_for(parameters, **kwargs) -> ParameterForm:
    """A :class:`ParameterForm` for ``parameters`` (a sequence of ``Parameter``, or a registry entry)."""
    if hasattr(parameters, "parameters"):
        return ParameterForm.from_entry(parameters, **kwargs)
    return ParameterForm(parameters, **kwargs)
