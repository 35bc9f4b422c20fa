"""What describes a trajectory file, described once: :data:`FILE_SETTINGS` and :class:`FileSettings`.

Every face reads a file with the same settings: the command line (one option per parameter,
``Parameter.cli_flag``, values parsed by ``Parameter.parse``), a spec file (``to_dict`` /
``from_dict``) and the napari form (one field per parameter). Names, types, units, defaults and
help live in :data:`FILE_SETTINGS` only; :class:`FileSettings` is generated from it.

An unset value (``None``) means "from the file, else the rule of ``docs/formats.md``": it is the
reader that decides, once, and records what it decided in
:class:`~napari_tramway.core.io.provenance.Provenance`.
"""

from __future__ import annotations

from napari_tramway.core.defaults import LOCALIZATION_PRECISION
from napari_tramway.core.parameters import Parameter, RegistryEntry
from napari_tramway.core.settings import settings_class

from . import units as U
from .names import FORMATS, ROLES

SPACE_UNITS = ("µm", "nm", "px")
TIME_UNITS = ("s", "ms", "frame")


def _aliases(table: dict, canonical: dict) -> dict[str, str]:
    """Every spelling in ``table`` whose factor has a canonical name, to that name."""
    out = {}
    for name, factor in table.items():
        if factor in canonical:
            out[name] = canonical[factor]
            out[name.replace("µ", "\u03bc")] = canonical[factor]  # Greek mu as well as micro sign
    return out


SPACE_ALIASES = _aliases(U.SPACE_FACTORS, {1.0: "µm", 1e-3: "nm", U.PIXEL: "px"})
TIME_ALIASES = _aliases(U.TIME_FACTORS, {1.0: "s", 1e-3: "ms", U.FRAME: "frame"})

FILE_SETTINGS = RegistryEntry(
    name="file",
    title="Data file",
    help="How to read a trajectory file: format, which column is which, units, σ.",
    parameters=(
        Parameter("format", "str", None, "File format; unset: recognised from the content",
                  choices=FORMATS),
        Parameter("columns", "mapping", None,
                  "Which column holds each role: n (trajectory id), x, y, z (optional), t (time) "
                  "or frame; column names or 0-based positions, e.g. x=POSITION_X,y=POSITION_Y; "
                  "z= (empty) ignores a z column; unset roles are recognised by name",
                  keys=ROLES),
        Parameter("space_unit", "str", None,
                  "Unit of the file's positions; unset: the unit the file states, else px when a "
                  "pixel size is given, else µm (with a warning when the values look like pixels)",
                  choices=SPACE_UNITS, aliases=SPACE_ALIASES),
        Parameter("pixel_size", "float", None,
                  "Size of a pixel: converts positions in px to µm (given alone, it says the "
                  "positions are in px unless the file states their unit)",
                  unit="µm", minimum=0.0, exclusive_minimum=True),
        Parameter("time_unit", "str", None,
                  "Unit of the file's times; unset: the unit the file states, else frame for a "
                  "frame column, else s", choices=TIME_UNITS, aliases=TIME_ALIASES),
        Parameter("frame_interval", "float", None,
                  "Time between frames: converts frame numbers to s; unset: the file's, else "
                  "implied by its time and frame columns, else estimated as the median time step "
                  "(flagged as estimated)", unit="s", minimum=0.0, exclusive_minimum=True),
        Parameter("localization_precision", "float", None,
                  f"Localization precision σ; unset: the file's, else {LOCALIZATION_PRECISION} µm",
                  unit="µm", minimum=0.0),
        Parameter("space_scale", "float", None,
                  "Factor from the file's positions to µm, for a unit not listed in space_unit "
                  "(instead of space_unit)", minimum=0.0, exclusive_minimum=True, advanced=True),
        Parameter("time_scale", "float", None,
                  "Factor from the file's times to s, for a unit not listed in time_unit (instead "
                  "of time_unit)", minimum=0.0, exclusive_minimum=True, advanced=True),
    ),
)


def _one_of_each(values) -> list[tuple[str, str]]:
    """Problems between fields: a unit and a scale for one axis, a column given two roles."""
    problems = []
    for unit, scale in (("space_unit", "space_scale"), ("time_unit", "time_scale")):
        if values.get(unit) is not None and values.get(scale) is not None:
            problems.append((scale, f"give {unit} or {scale}, not both"))
    columns = values.get("columns") or {}
    seen: dict = {}
    for role, source in columns.items():
        if source is not None:
            seen.setdefault(source, []).append(role)
    for source, roles in seen.items():
        if len(roles) > 1:
            problems.append(("columns", f"column {source!r} is given several roles ({', '.join(roles)})"))
    return problems


FileSettings = settings_class(
    "FileSettings",
    FILE_SETTINGS.parameters,
    """How to read one trajectory file (frozen; validated when built).

    One field per parameter of :data:`FILE_SETTINGS`, same names and defaults: ``format``,
    ``columns``, ``space_unit``, ``pixel_size`` (µm), ``time_unit``, ``frame_interval`` (s),
    ``localization_precision`` (σ, µm), ``space_scale``, ``time_scale``. ``None`` means "from
    the file" (see :class:`~napari_tramway.core.io.provenance.Provenance` for what was used).

    Build it with ``FileSettings(pixel_size=0.16)``, ``FileSettings.from_dict(spec_dict,
    where="files[0]")`` or ``FileSettings.from_text({'columns': 'x=POSITION_X,...'})``; each
    raises :class:`~napari_tramway.core.errors.SettingsError` listing every problem with its
    field path. ``FileSettings.validate(d, where)`` returns the problems without raising.
    """,
    checks=(_one_of_each,),
    module=__name__,
)


def how_to_give(name: str, value=None) -> str:
    """How to give the file setting ``name`` (optionally ``value``) in each face, generated from
    :data:`FILE_SETTINGS`.

    E.g. ``--pixel-size PIXEL_SIZE (command line), the "pixel size (µm)" field (napari),
    pixel_size=... (Python)``, or with ``value='µm'``: ``--space-unit µm (command line),
    "space unit" = µm (napari), space_unit='µm' (Python)``.
    """
    p = FILE_SETTINGS.parameter(name)
    if value is not None:
        text = p.format(value)
        return f'{p.cli_flag} {text} (command line), "{p.label}" = {text} (napari), {p.name}={value!r} (Python)'
    if p.type == "mapping":
        example = {"n": "NAME", "x": "NAME", "y": "NAME", "t": "NAME"}
        cli, python = p.format(example), repr(example)
    else:
        cli, python = p.name.upper(), "..."
    return f'{p.cli_flag} {cli} (command line), the "{p.label}" field (napari), {p.name}={python} (Python)'
