"""Parameter descriptions shared by the mesh, model and data-file registries.

A :class:`Parameter` names a setting once, with its type, default, unit, valid range and a
one-line help. A :class:`RegistryEntry` is a named method (a mesh, a model) with its parameters and
its cross-parameter rules (``checks``); :meth:`RegistryEntry.settings` validates values once and
returns :class:`Settings`, the typed, read-only value that the rest of the code carries and trusts.
The CLI options, the napari forms, spec validation and the docs tables are all generated from
these descriptions. Every value can also be written as text
(:meth:`Parameter.parse` / :meth:`Parameter.format`): that is what a command-line option or a
text field holds. :func:`napari_tramway.core.settings.settings_class` turns a set of parameters
into a frozen dataclass whose values are validated once, when it is built.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError

_TYPES = {"float": float, "int": int, "bool": bool, "str": str, "int_pair": tuple, "mapping": dict}
_NONE_TEXT = ("", "none", "auto")


@dataclass(frozen=True)
class Parameter:
    """One setting of a mesh method or a model.

    Parameters
    ----------
    name : str
        Keyword name, identical to TRamWAy's where TRamWAy has one (``resolution``, ``sigma``...).
    type : str
        One of ``float``, ``int``, ``bool``, ``str``, ``int_pair`` (two ints, e.g. ``knn``),
        ``mapping`` (``{key: name or 0-based position}``, e.g. a column mapping; as text
        ``x=POSITION_X,y=POSITION_Y``).
    default : Any
        Default value; ``None`` means "unset" (derived from the data, or disabled).
    help : str
        One line, shown as tooltip and in ``--help``.
    unit : str
        Unit of the value ('µm', 's', 'µm²/s', 'kT', ...) or '' when dimensionless.
    minimum, maximum : float or None
        Inclusive valid range (``exclusive_minimum`` makes the lower bound strict).
    choices : tuple or None
        Allowed values for ``str`` parameters.
    nullable : bool
        Whether ``None`` is an accepted value (always true when the default is ``None``, unless
        ``required``).
    advanced : bool
        Hidden behind an "advanced" toggle in the GUI.
    keys : tuple or None
        Allowed keys of a ``mapping`` parameter.
    aliases : mapping or None
        Other accepted spellings of the ``choices`` (matched case-insensitively), e.g.
        ``{'um': 'µm', 'pixel': 'px'}``; values are stored in their canonical spelling.
    required : bool
        A value must be given (not ``None``; for ``str``, not empty).
    """

    name: str
    type: str
    default: Any
    help: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple | None = None
    nullable: bool = False
    advanced: bool = False
    keys: tuple | None = None
    aliases: Mapping[str, str] | None = field(default=None, hash=False)
    required: bool = False

    def __post_init__(self):
        if self.type not in _TYPES:
            raise TypeError(f"parameter {self.name}: unknown type {self.type!r}")

    @property
    def accepts_none(self) -> bool:
        return not self.required and (self.nullable or self.default is None)

    @property
    def label(self) -> str:
        """Human label with unit, e.g. ``resolution (µm)``."""
        text = self.name.replace("_", " ")
        return f"{text} ({self.unit})" if self.unit else text

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any, where: str = "") -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ParameterError`.

        ``where`` is the field path prefix used in the message (e.g. ``mesh.parameters``).
        """
        path = f"{where}.{self.name}" if where else self.name
        if value is None:
            if self.accepts_none:
                return None
            raise ParameterError(path, "a value is required")
        try:
            value = self._convert(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(path, f"expected {self.type}, got {value!r} ({exc})") from None
        if self.type in ("float", "int"):
            if isinstance(value, float) and not math.isfinite(value):
                raise ParameterError(path, f"must be finite, got {value!r}")
            self._check_range(path, value)
        elif self.type == "int_pair":
            for v in value:
                if v is not None:
                    self._check_range(path, v)
        elif self.type == "str" and self.required and not value:
            raise ParameterError(path, "a value is required")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(path, f"must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        return value

    def parse(self, text: str, where: str = "") -> Any:
        """The value written as ``text`` (a command-line option, a text field), validated.

        ``''``, ``none`` and ``auto`` mean "unset" when the parameter accepts ``None``. A mapping
        is ``key=value,key=value`` (a value of digits is a 0-based position, an empty value is
        ``None``) or a JSON object.
        """
        if not isinstance(text, str):
            return self.validate(text, where)
        stripped = text.strip()
        if stripped.lower() in _NONE_TEXT and (self.accepts_none or self.type != "str"):
            return self.validate(None, where)
        if self.type == "mapping":
            try:
                value = _mapping_from_text(stripped)
            except ValueError as exc:
                path = f"{where}.{self.name}" if where else self.name
                raise ParameterError(path, f"{exc}; expected key=value,key=value") from None
            return self.validate(value, where)
        return self.validate(stripped, where)

    def format(self, value: Any) -> str:
        """``value`` as text that :meth:`parse` reads back (``''`` for ``None``)."""
        if value is None:
            return ""
        if self.type == "mapping":
            return ",".join(f"{k}={'' if v is None else v}" for k, v in dict(value).items())
        if self.type == "int_pair":
            return ",".join("" if v is None else str(v) for v in value)
        if self.type == "bool":
            return "true" if value else "false"
        if self.type == "float":
            return repr(float(value))
        return str(value)

    def _check_range(self, path, value):
        lo, hi = self.minimum, self.maximum
        if lo is not None:
            if self.exclusive_minimum and not value > lo:
                raise ParameterError(path, f"must be > {lo} {self.unit}".rstrip() + f"; got {value!r}")
            if not self.exclusive_minimum and not value >= lo:
                raise ParameterError(path, f"must be ≥ {lo} {self.unit}".rstrip() + f"; got {value!r}")
        if hi is not None and not value <= hi:
            raise ParameterError(path, f"must be ≤ {hi} {self.unit}".rstrip() + f"; got {value!r}")

    def _convert(self, value):
        if self.aliases is not None and isinstance(value, str):
            key = value.strip()
            value = self.aliases.get(key, self.aliases.get(key.lower(), key))
        if self.type == "mapping":
            return self._mapping(value)
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
                return False
            if isinstance(value, (int,)) and value in (0, 1):
                return bool(value)
            raise ValueError("not a boolean")
        if self.type == "int":
            if isinstance(value, bool):
                raise ValueError("boolean given")
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError("not an integer")
                return int(value)
            return int(value)
        if self.type == "float":
            if isinstance(value, bool):
                raise ValueError("boolean given")
            return float(value)
        if self.type == "str":
            if not isinstance(value, str):
                raise ValueError("not a string")
            return value
        if self.type == "int_pair":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return (int(value), None)
            if isinstance(value, str):
                value = [v.strip() for v in (value.split(",") if "," in value else value.split())]
            if not isinstance(value, Sequence) or len(value) != 2:
                raise ValueError("expected two values (min, max)")
            return tuple(None if v in (None, "", "none", "None") else int(v) for v in value)
        raise TypeError(self.type)

    def _mapping(self, value):
        if isinstance(value, str):
            value = _mapping_from_text(value)
        if not isinstance(value, Mapping):
            raise ValueError("not a mapping {key: value}")
        out = {}
        for key, v in value.items():
            key = str(key).strip()
            if self.keys is not None and key not in self.keys:
                raise ValueError(f"unknown key {key!r}; expected some of {', '.join(self.keys)}")
            if isinstance(v, bool) or not (v is None or isinstance(v, (str, int))):
                raise ValueError(f"{key}: expected a name or a 0-based position, got {v!r}")
            if isinstance(v, str) and not v.strip():
                raise ValueError(f"{key}: empty name")
            out[key] = v.strip() if isinstance(v, str) else v
        if self.keys is not None:
            out = {k: out[k] for k in self.keys if k in out}
        return out or None


def _mapping_from_text(text: str) -> dict:
    """``{'x': 'POSITION_X', 'y': 2, 'z': None}`` from ``x=POSITION_X,y=2,z=`` or a JSON object."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON object ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value
    out: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, v = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value")
        v = v.strip()
        out[key.strip()] = None if not v else (int(v) if v.isdigit() else v)
    return out


#: A cross-parameter rule: given an entry's filled, typed values, the ``(parameter name, message)``
#: of every violation (e.g. ``resolution`` and ``avg_location_count`` both set).
Check = Callable[[Mapping[str, Any]], "list[tuple[str, str]]"]


@dataclass(frozen=True)
class RegistryEntry:
    """A named method (mesh or model) with its parameters, its cross-parameter rules (``checks``)
    and a one-line description; ``extra`` holds what the method's own code needs (module, columns...)."""

    name: str
    title: str
    help: str
    parameters: tuple[Parameter, ...]
    factory: Any = field(repr=False, default=None)
    extra: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = field(default=(), repr=False)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.parameters}

    def table(self) -> str:
        """A Markdown table of the parameters, for the docs."""
        rows = ["| parameter | type | default | unit | range | help |", "|---|---|---|---|---|---|"]
        rows += [f"| `{p.name}` | {p.type} | {p.default!r} | {p.unit} | {_range_text(p)} | {p.help} |"
                 for p in self.parameters]
        return "\n".join(rows)

    def validate(self, values: Mapping[str, Any] | None, where: str = "") -> dict:
        """Check every value, reject unknown names, fill defaults; raise on the first problem.

        Use :meth:`problems` to get every problem at once, :meth:`settings` for a typed value.
        """
        return dict(self.settings(values, where))

    def settings(self, values: Mapping[str, Any] | None = None, where: str = "") -> Settings:
        """Validate ``values`` once and return them as :class:`Settings` (defaults filled);
        raise the first :class:`ParameterError` (see :meth:`problems` for all of them).

        :class:`Settings` of this entry are returned as they are: they were validated already.
        """
        if isinstance(values, Settings) and values.entry is self:
            return values
        settings, problems = self.checked(values, where)
        if problems:
            raise problems[0]
        return settings

    def problems(self, values: Mapping[str, Any] | None, where: str = "") -> list[ParameterError]:
        """Every problem of ``values``: unknown names, bad values, then (when every value is valid)
        the entry's cross-parameter rules. Paths are ``<where>.<name>``."""
        return self.checked(values, where)[1]

    def checked(self, values: Mapping[str, Any] | None, where: str = "") -> tuple[Settings | None, list[ParameterError]]:
        """Validate once: ``(settings, [])``, or ``(None, every problem)`` (see :meth:`problems`)."""
        values = dict(values or {})
        filled, problems = check_values(
            self.parameters, self.checks, values, where,
            lambda known: f"unknown parameter for {self.name!r}; known: {', '.join(sorted(known))}")
        if problems:
            return None, problems
        return Settings(self, filled, tuple(k for k in filled if k in values)), []


def check_values(parameters: Sequence[Parameter], checks: Sequence[Check], values: Mapping[str, Any] | None,
                 where: str, unknown: Callable[[list[str]], str]) -> tuple[dict, list[ParameterError]]:
    """Validate a set of values once: ``(filled values, every problem)``.

    Unknown names (message ``unknown(known names)``), then each parameter's value (default when
    unset), then, when all of them are valid, the ``checks`` (cross-parameter rules) on the filled
    values. Paths are ``<where>.<name>``.
    """
    values = dict(values or {})
    known = [p.name for p in parameters]

    def path(name):
        return f"{where}.{name}" if where else str(name)

    problems = [ParameterError(path(key), unknown(known)) for key in values if key not in known]
    filled = {}
    for p in parameters:
        try:
            filled[p.name] = p.validate(values.get(p.name, p.default), where)
        except ParameterError as exc:
            problems.append(exc)
    if not problems:
        for check in checks:
            problems += [ParameterError(path(name), message) for name, message in check(filled)]
    return filled, problems


class Settings(Mapping):
    """The validated values of one :class:`RegistryEntry`: every parameter, typed, defaults
    filled; read-only. Made by :meth:`RegistryEntry.settings`, carried as it is by the code that
    receives it (nothing downstream validates it again).

    ``given`` are the values that were set explicitly (what a spec file records).
    """

    __slots__ = ("entry", "_values", "_given")

    def __init__(self, entry: RegistryEntry, values: dict, given: tuple[str, ...] = ()):
        self.entry = entry
        self._values = dict(values)
        self._given = tuple(given)

    @property
    def name(self) -> str:
        """The entry's name (mesh method or model)."""
        return self.entry.name

    @property
    def given(self) -> dict:
        """The explicitly set values, typed (``int_pair`` values as lists, ready for JSON)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._values.items() if k in self._given}

    def __getitem__(self, name):
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"Settings({self.entry.name!r}, {self.given!r})"

    def __copy__(self):  # read-only: a copy is the same value
        return self

    def __deepcopy__(self, memo):
        return self


class Registry(Mapping):
    """An ordered, read-only-by-convention mapping of name → :class:`RegistryEntry`."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = {}

    def register(self, entry: RegistryEntry) -> RegistryEntry:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> RegistryEntry:
        """Remove an entry (a plug-in or a test that registered one cleans up with this)."""
        return self._entries.pop(name)

    def __getitem__(self, name: str) -> RegistryEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}") from None

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def table(self) -> str:
        """A Markdown table of every entry and parameter (one row per pair)."""
        rows = [f"| {self.kind} | parameter | type | default | unit | range | help |", "|---|---|---|---|---|---|---|"]
        for entry in self._entries.values():
            for p in entry.parameters:
                rows.append(f"| {entry.name} | `{p.name}` | {p.type} | {p.default!r} | {p.unit} | {_range_text(p)} | {p.help} |")
        return "\n".join(rows)

    def parameter_table(self) -> str:
        """A Markdown table for the docs: one row per parameter, with the entries that take it
        (``all`` when every entry does), then the cross-parameter rules (each check's docstring)."""
        used: dict[int, tuple[Parameter, list[str]]] = {}
        for entry in self._entries.values():
            for p in entry.parameters:
                used.setdefault(id(p), (p, []))[1].append(entry.name)
        rows = [f"| parameter | {self.kind} | type | default | unit | range | help |", "|---|---|---|---|---|---|---|"]
        for p, names in used.values():
            where = "all" if len(names) == len(self._entries) else ", ".join(names)
            rows.append(f"| `{p.name}` | {where} | {p.type} | {p.default!r} | {p.unit} | {_range_text(p)} | {p.help} |")
        checks: dict[Check, list[str]] = {}
        for entry in self._entries.values():
            for check in entry.checks:
                checks.setdefault(check, []).append(entry.name)
        if checks:
            rows += ["", "Rules between parameters, checked with them:", ""]
            for check, names in checks.items():
                where = "all" if len(names) == len(self._entries) else ", ".join(names)
                doc = " ".join((check.__doc__ or check.__name__).split()).replace("``", "`")
                rows.append(f"- `{check.__name__}` ({where}): {doc}")
        return "\n".join(rows)


def _range_text(p: Parameter) -> str:
    """The valid values of ``p`` for a docs table: choices, keys or range."""
    if p.choices:
        return " / ".join(map(str, p.choices))
    if p.keys:
        return "keys " + ", ".join(p.keys)
    if p.minimum is not None or p.maximum is not None:
        lo = "" if p.minimum is None else (f"> {p.minimum}" if p.exclusive_minimum else f"≥ {p.minimum}")
        hi = "" if p.maximum is None else f"≤ {p.maximum}"
        return ", ".join(x for x in (lo, hi) if x)
    return ""
