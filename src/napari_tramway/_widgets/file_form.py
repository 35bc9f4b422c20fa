"""The data-file settings form: :data:`~napari_tramway.core.io.FILE_SETTINGS` through the magicgui
forms of :mod:`.forms` — the one form the Data tab (for the selected file) and the column-mapping
dialog show.

Its fields are the registry's, with their units, defaults and help as tooltips: the same names as
the command line's options (``--columns``, ``--space-unit``, ``--pixel-size``...) and a spec's
``files[i]`` fields, so that no face can describe a file another cannot. An unset field is empty
(or *auto*): the reader then finds the value in the file, or applies the rule of
``docs/formats.md``. The values are checked as they are typed (the problems are listed under the
form) and taken, once, as a :class:`~napari_tramway.core.io.FileSettings` by :func:`settings_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .forms import ParameterForm, label_of

#: The width (px) of the form's labels in the dock: long ones take two lines.
DOCK_LABEL_WIDTH = 105


class FileSettingsRules:
    """What checks the form's values: :meth:`FileSettings.validate` (each value, and the rules
    between them: a unit and a scale for one axis, a column given two roles)."""

    @property
    def parameters(self):
        from ..core.io.settings import FILE_SETTINGS

        return FILE_SETTINGS.parameters

    def problems(self, values: Mapping, where: str = "") -> list:
        from ..core.io.settings import FileSettings

        return FileSettings.validate(values, where)


def file_settings_form(column_choices: Sequence | None = None) -> ParameterForm:
    """The form of the data-file settings; with ``column_choices`` (``(label, column)`` pairs: a
    file's column names, or 0-based positions for a file without header) the column mapping is one
    combo box per role, else a text field (``n=TRACK_ID,x=POSITION_X,...``, as on the command line)."""
    rules = FileSettingsRules()
    choices = None if column_choices is None else {"columns": list(column_choices)}
    return ParameterForm(rules.parameters, entry=rules, value_choices=choices)


def settings_of(form: ParameterForm):
    """The form's values as :class:`~napari_tramway.core.io.FileSettings`; raises
    :class:`~napari_tramway.core.errors.SettingsError` naming every bad field."""
    from ..core.io.settings import FileSettings

    return FileSettings.from_dict(form.value)


def field_label(path: str) -> str:
    """The form's label of a setting, from a problem's field path (``files[0].pixel_size`` →
    ``pixel size (µm)``)."""
    from ..core.io.settings import FILE_SETTINGS

    name = str(path).rsplit(".", 1)[-1]
    try:
        return label_of(FILE_SETTINGS.parameter(name))
    except KeyError:
        return name


def settings_message(what: str, exc) -> str:
    """One line naming each bad field as the form labels it:
    ``napari-tramway: cells.csv: the "pixel size (µm)" field: must be > 0.0 µm; got -1.0``."""
    problems = getattr(exc, "problems", None) or [exc]
    parts = [f'the "{field_label(getattr(p, "field", ""))}" field: {getattr(p, "message", p)}' for p in problems]
    return f"napari-tramway: {what}: " + "; ".join(parts)
