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

Numbers are edited as text (``1e-05``, ``0.025``): exactly what is typed is kept, in any
magnitude, and a typo is named in the problems list rather than silently rounded — a spin box
would round to its fixed decimals. Everything is magicgui but two Qt calls it has no API for:
the grey hint of an empty text field and the colour of the problems line.
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

    def __init__(self, parameter, **kwargs):
        p = self.parameter = parameter
        self.editor = _editor(p)
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
            if isinstance(w, ComboBox):
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
        The registry entry the form shows, if any (its ``problems`` then check the values).
    """

    def __init__(self, parameters: Sequence, entry=None, **kwargs):
        self.parameters = tuple(parameters)
        self.entry = entry
        self.fields: dict[str, ParameterField] = {p.name: ParameterField(p) for p in self.parameters}
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
