"""Spec sections described once: dataclass fields whose metadata say how a value is checked, read
from a JSON/TOML document and written back.

A section is a dataclass decorated with :func:`spec_section`; each of its fields is declared with
one of the field makers below, which hold the field's default (stated once) and its *kind*:

* :func:`setting` — a scalar described by a :class:`~napari_tramway.core.parameters.Parameter`
  (type, unit, range, help), or an existing ``Parameter`` of a registry;
* :func:`options` — a free JSON object (reader options, environment options);
* :func:`registry_name` + :func:`registry_settings` — the name of a registry entry (a mesh method,
  a model) and that entry's parameters, validated into
  :class:`~napari_tramway.core.parameters.Settings` with the entry's cross-parameter rules;
* :func:`subsection`, :func:`subsections` — a nested section, a list of them;
* :func:`roi_list` — a list of ROI shapes;
* :func:`grouped_setting` — a field of a settings class (``core.settings.settings_class``, e.g. the
  data-file settings): the section holds all of its fields, checked together, once, by the class,
  after the other fields; :func:`section_settings` gives them as an instance of the class;
* :func:`flattened_options` — an object of grouped fields (an older layout: a data file's
  ``reader``), merged into them, never written.

The decorator gives the section ``__post_init__`` (every field checked and converted once, at
construction: a :class:`SpecError` lists every problem with its field path), ``to_dict`` (see
:func:`section_dict`) and ``from_dict``, all from the same field descriptions. A section built from its own instances (a
spec holding a :class:`MeshSpec`) takes them as they are: they were checked when made.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import ParameterError, RoiFormatError, SettingsError
from ..core.parameters import Parameter, RegistryEntry, Settings

REQUIRED = dataclasses.MISSING
_OMIT = object()


class SpecError(ValueError):
    """An invalid spec; ``problems`` lists ``(field path, message)`` for every problem found."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(self.problems)} problem(s) in the analysis spec:"]
        lines += [f"  - {path}: {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


def join(where: str, rel: str) -> str:
    """Field path ``where`` + relative path ``rel`` (``name``, ``name.sub`` or ``[i]...``)."""
    if not where:
        return rel
    if not rel:
        return where
    return where + rel if rel.startswith("[") else f"{where}.{rel}"


Problems = list  # of (relative path, message)


# -- kinds: how one field's value is checked, read and written ---------------------------------

class Kind:
    """Checks a field's value (a Python value or its JSON form) and converts it; writes it back."""

    name: str = ""

    def bind(self, field: dataclasses.Field) -> None:
        self.name = field.name

    def check(self, value, owner, problems: Problems):
        """The converted value; problems are appended as (path relative to the field, message)."""
        return value

    def absent(self, field: dataclasses.Field):
        """The value of a key missing from a document: the field's default."""
        if field.default is not dataclasses.MISSING:
            return field.default
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return REQUIRED

    def write(self, value):
        return _OMIT if value is None else value


class ValueKind(Kind):
    def __init__(self, parameter: Parameter | None = None, **describe):
        self.parameter = parameter
        self.describe = describe

    def bind(self, field):
        super().bind(field)
        if self.parameter is None:
            default = None if field.default is dataclasses.MISSING else field.default
            self.parameter = Parameter(field.name, default=default, required=field.default is dataclasses.MISSING,
                                       **self.describe)

    def check(self, value, owner, problems):
        if value is REQUIRED:
            problems.append(("", "a value is required"))
            return None
        try:
            return self.parameter.validate(value)
        except ParameterError as err:
            problems.append(("", err.message))
            return None


class OptionsKind(Kind):
    def __init__(self, what: str):
        self.what = what

    def check(self, value, owner, problems):
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            problems.append(("", f"expected an object of {self.what}"))
            return {}
        return copy.deepcopy(dict(value))

    def write(self, value):
        return copy.deepcopy(dict(value)) if value else _OMIT


class RegistryNameKind(Kind):
    def __init__(self, registry: Callable[[], Mapping[str, RegistryEntry]]):
        self.registry = registry

    def check(self, value, owner, problems):
        reg = self.registry()
        if not isinstance(value, str) or value not in reg:
            problems.append(("", f"unknown {getattr(reg, 'kind', 'name')} {value!r}; known: {', '.join(reg)}"))
            return value if isinstance(value, str) else str(value)
        return value


class RegistrySettingsKind(Kind):
    """The parameters of the registry entry that the ``selector`` field names."""

    def __init__(self, registry, selector: str, absent: Callable[[], dict] | None):
        self.registry = registry
        self.selector = selector
        self._absent = absent

    def absent(self, field):
        return self._absent() if self._absent is not None else super().absent(field)

    def check(self, value, owner, problems):
        entry = self.registry().get(getattr(owner, self.selector))
        if isinstance(value, Settings) and value.entry is entry:
            return value
        if isinstance(value, Settings):
            value = value.given
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            problems.append(("", "expected an object"))
            return {}
        if entry is None:  # the selector's problem is reported: nothing to check against
            return dict(value)
        settings, errors = entry.checked(value)
        if errors:
            problems.extend((err.field, err.message) for err in errors)
            return dict(value)
        return settings

    def write(self, value):
        return value.given if isinstance(value, Settings) else copy.deepcopy(dict(value))


class SectionKind(Kind):
    def __init__(self, cls_ref: Callable[[], type], optional: bool):
        self.cls_ref = cls_ref
        self.optional = optional

    def absent(self, field):
        return None if self.optional else {}

    def check(self, value, owner, problems):
        cls = self.cls_ref()
        if value is None and self.optional:
            return None
        if isinstance(value, cls):
            return value
        return build(cls, value, "", problems)

    def write(self, value):
        return _OMIT if value is None else value.to_dict()


class SectionListKind(Kind):
    def __init__(self, cls_ref: Callable[[], type], what: str):
        self.cls_ref = cls_ref
        self.what = what

    def check(self, value, owner, problems):
        cls = self.cls_ref()
        if not isinstance(value, list | tuple):
            problems.append(("", f"expected a list of {self.what}"))
            return []
        return [item if isinstance(item, cls) else build(cls, item, f"[{i}]", problems)
                for i, item in enumerate(value)]

    def write(self, value):
        return [item.to_dict() for item in value]


class RoisKind(Kind):
    def __init__(self, optional: bool):
        self.optional = optional

    def check(self, value, owner, problems):
        if value is None and self.optional:
            return None
        if not isinstance(value, list | tuple):
            problems.append(("", "expected a list of ROIs"))
            return []
        out = []
        for i, item in enumerate(value):
            from ..core.roi import Roi, roi_from_dict  # numpy: for a spec with ROIs only

            if isinstance(item, Roi):
                out.append(item)
                continue
            try:
                out.append(roi_from_dict(item, where=f"[{i}]"))
            except RoiFormatError as exc:
                rel, _, message = str(exc).partition(": ")
                problems.append((rel, message))
        return out

    def write(self, value):
        return _OMIT if value is None else [r.to_dict() for r in value]


class GroupedSettingKind(Kind):
    """A field of the settings class ``group``, checked with the others by the class (:func:`check_fields`)."""

    def __init__(self, group: type, name: str):
        self.group = group
        self.parameter = next(p for p in group.PARAMETERS if p.name == name)

    def write(self, value):
        if value is None:
            return _OMIT
        return dict(value) if isinstance(value, Mapping) else value


class FlattenedOptionsKind(Kind):
    """An object of fields of ``group`` (an older layout), merged into them; afterwards the settings
    given without ``exclude`` (for code that reads it); never written."""

    def __init__(self, group: type, exclude: tuple[str, ...]):
        self.group = group
        self.exclude = tuple(exclude)

    def check(self, value, owner, problems):
        if not value:
            return None
        if not isinstance(value, Mapping):
            problems.append(("", "expected an object of data-file settings"))
            return None
        known = {p.name: p for p in self.group.PARAMETERS}
        for key, given in value.items():
            p = known.get(key)
            if p is None:
                problems.append((str(key), f"not a setting of the file; known: {', '.join(known)}"))
                continue
            current = getattr(owner, key)
            if current is not None and not _same(p, current, given):
                problems.append((key, f"{given!r} differs from {key} = {current!r}"))
                continue
            object.__setattr__(owner, key, given)
        return None

    def view(self, settings) -> dict:
        return {k: v for k, v in settings.to_dict().items() if k not in self.exclude}

    def write(self, value):
        return _OMIT


def _same(parameter: Parameter, current, given) -> bool:
    try:
        return parameter.validate(given) == parameter.validate(current)
    except ParameterError:
        return False


# -- field makers --------------------------------------------------------------------------------

def _field(kind: Kind, default=REQUIRED, default_factory=dataclasses.MISSING, **kw) -> Any:
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"kind": kind}, **kw)


def setting(type: str | Parameter, default=REQUIRED, help: str = "", **describe) -> Any:
    """A scalar field: ``type`` (``float``, ``int``, ``bool``, ``str``) with the
    :class:`~napari_tramway.core.parameters.Parameter` options (``unit``, ``minimum``, ``choices``...),
    or a registry's ``Parameter`` itself (its default is the field's). ``REQUIRED``: no default."""
    if isinstance(type, Parameter):
        return _field(ValueKind(type), default=type.default)
    return _field(ValueKind(type=type, help=help, **describe), default=default)


def options(what: str) -> Any:
    """A free JSON object (default empty), written only when not empty."""
    return _field(OptionsKind(what), default_factory=dict)


def registry_name(registry: Callable[[], Mapping], default: str) -> Any:
    """The name of an entry of ``registry()`` (loaded on first use)."""
    return _field(RegistryNameKind(registry), default=default)


def registry_settings(registry: Callable[[], Mapping], selector: str, default: Callable[[], dict] = dict,
                      absent: Callable[[], dict] | None = None) -> Any:
    """The parameters of the entry named by field ``selector``, as validated ``Settings`` (the entry's
    values and cross-parameter rules). ``absent``: the value when a document has no such key
    (default: ``default``)."""
    return _field(RegistrySettingsKind(registry, selector, absent), default_factory=default)


def subsection(cls_ref: Callable[[], type], optional: bool = False) -> Any:
    """A nested section (``optional``: may be None, the default; else its default instance)."""
    if optional:
        return _field(SectionKind(cls_ref, True), default=None)
    return _field(SectionKind(cls_ref, False), default_factory=lambda: cls_ref()())


def subsections(cls_ref: Callable[[], type], what: str) -> Any:
    """A list of nested sections (default empty)."""
    return _field(SectionListKind(cls_ref, what), default_factory=list)


def grouped_setting(group: type, name: str) -> Any:
    """The field ``name`` of the settings class ``group`` (its default is the class's); the
    section must declare every field of ``group``, which are checked together (see the module)."""
    kind = GroupedSettingKind(group, name)
    return _field(kind, default=kind.parameter.default)


def flattened_options(group: type, exclude: tuple[str, ...] = ()) -> Any:
    """An object of settings of ``group`` merged into the section's grouped fields (an older layout;
    not written, never compared). After checking it holds the settings given, without ``exclude``."""
    return _field(FlattenedOptionsKind(group, exclude), default=None, compare=False, repr=False)


def roi_list(optional: bool = False) -> Any:
    """A list of ROI shapes (``optional``: None, the default, means "not given")."""
    if optional:
        return _field(RoisKind(True), default=None)
    return _field(RoisKind(False), default_factory=list)


# -- sections --------------------------------------------------------------------------------------

def spec_section(path: str, *, shorthand: str | None = None, frozen: bool = False):
    """Make a section dataclass of the decorated class.

    ``path`` is the section's field path when it is built on its own (problems read
    ``<path>.<field>``); ``shorthand`` names the field that a bare value stands for (a data file
    given as its path); ``frozen`` sections are read-only values.
    """
    def wrap(cls):
        cls.__post_init__ = _post_init
        cls = dataclasses.dataclass(frozen=frozen)(cls)
        cls.SECTION_PATH = path
        cls.SHORTHAND = shorthand
        for f in dataclasses.fields(cls):
            if "kind" in f.metadata:
                f.metadata["kind"].bind(f)
        for group, names in _groups(cls).items():
            missing = [p.name for p in group.PARAMETERS if p.name not in names]
            if missing:
                raise TypeError(f"{cls.__name__} holds some fields of {group.__name__} but not {', '.join(missing)}")
        if "to_dict" not in cls.__dict__:
            cls.to_dict = section_dict
        if "from_dict" not in cls.__dict__:
            cls.from_dict = classmethod(_from_dict)
        return cls
    return wrap


def schema_fields(cls) -> list[tuple[dataclasses.Field, Kind]]:
    return [(f, f.metadata["kind"]) for f in dataclasses.fields(cls) if "kind" in f.metadata]


def _groups(cls) -> dict[type, list[str]]:
    """``{settings class: [its field names in the section]}`` of a section class."""
    out: dict = {}
    for f, kind in schema_fields(cls):
        if isinstance(kind, GroupedSettingKind):
            out.setdefault(kind.group, []).append(f.name)
    return out


def check_fields(obj) -> list[tuple[str, str]]:
    """Check and convert every field of a section in place; the problems, with relative paths.

    Grouped settings are checked last, together, by their settings class (once); the instance is
    kept for :func:`section_settings`, and flattened options then show its values."""
    out = []
    for f, kind in schema_fields(type(obj)):
        problems: list = []
        value = kind.check(getattr(obj, f.name), obj, problems)
        object.__setattr__(obj, f.name, value)
        out += [(join(f.name, rel), msg) for rel, msg in problems]
    for group, names in _groups(type(obj)).items():
        try:
            settings = group.from_dict({n: getattr(obj, n) for n in names})
        except SettingsError as exc:
            out += [(p.field, p.message) for p in exc.problems]
            continue
        _keep(obj, group, settings)
        for f, kind in schema_fields(type(obj)):
            if isinstance(kind, FlattenedOptionsKind) and kind.group is group:
                object.__setattr__(obj, f.name, kind.view(settings))
    return out


def _keep(obj, group: type, settings) -> None:
    """Set the grouped fields of ``obj`` to the values of ``settings`` and keep the instance."""
    for p in group.PARAMETERS:
        value = getattr(settings, p.name)
        object.__setattr__(obj, p.name, dict(value) if isinstance(value, Mapping) else value)
    cache = obj.__dict__.setdefault("_settings_of_groups", {})
    cache[group] = settings


def section_settings(obj, group: type):
    """The grouped fields of ``obj`` as an instance of ``group``: the one made when ``obj`` was
    checked, or, when a field was changed since, a new one (checked: raises
    :class:`~napari_tramway.core.errors.SettingsError` with every problem)."""
    kept = obj.__dict__.get("_settings_of_groups", {}).get(group)
    values = {p.name: getattr(obj, p.name) for p in group.PARAMETERS}
    if kept is not None and kept.to_dict(defaults=True) == values:
        return kept
    settings = group.from_dict(values, where=getattr(obj, "SECTION_PATH", ""))
    _keep(obj, group, settings)
    return settings


def _post_init(self):
    problems = check_fields(self)
    if problems:
        raise SpecError([(join(self.SECTION_PATH, p), m) for p, m in problems])


def build(cls, document, where: str, problems: list):
    """A section from its document form, problems appended with paths under ``where``."""
    if cls.SHORTHAND is not None and isinstance(document, str):
        document = {cls.SHORTHAND: document}
    checked = isinstance(document, Mapping)
    if not checked:
        expected = f"an object with at least {cls.SHORTHAND!r}" if cls.SHORTHAND else "an object"
        problems.append((where, f"expected {expected}, got {type(document).__name__}"))
        document = {}
    known = [f.name for f, _ in schema_fields(cls)]
    for key in document:
        if key not in known:
            problems.append((join(where, str(key)), f"unknown field; known: {', '.join(sorted(known))}"))
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        kind = f.metadata.get("kind")
        if kind is None:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            object.__setattr__(obj, f.name, default)
        else:
            object.__setattr__(obj, f.name, document[f.name] if f.name in document else kind.absent(f))
    if checked:
        problems += [(join(where, p), m) for p, m in check_fields(obj)]
    return obj


def _from_dict(cls, document, source: str | None = None):
    problems: list = []
    obj = build(cls, document, cls.SECTION_PATH, problems)
    if problems:
        raise SpecError(problems, source)
    return obj


def section_dict(self) -> dict:
    """A section's document form: every field written by its kind (None and empty options left out)."""
    out = {}
    for f, kind in schema_fields(type(self)):
        value = kind.write(getattr(self, f.name))
        if value is not _OMIT:
            out[f.name] = value
    return out


__all__ = ["REQUIRED", "SpecError", "spec_section", "setting", "options", "registry_name", "registry_settings",
           "subsection", "subsections", "roi_list", "grouped_setting", "flattened_options", "build", "check_fields",
           "join", "section_dict", "section_settings"]
