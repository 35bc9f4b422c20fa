"""Frozen settings dataclasses generated from parameters (:func:`settings_class`).

A class made from a set of :class:`~napari_tramway.core.parameters.Parameter` has one field per
parameter; its values are validated once, when an instance is built (the same checking as the
registries': :func:`~napari_tramway.core.parameters.check_values`), and read from and written to
dicts and text. The data-file settings (:data:`napari_tramway.core.io.settings.FileSettings`) are
one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .errors import ParameterError, SettingsError
from .parameters import _TYPES, Check, Parameter, check_values


class _Settings:
    """Methods of the classes made by :func:`settings_class` (``PARAMETERS`` set there)."""

    PARAMETERS: tuple[Parameter, ...] = ()
    CHECKS: tuple[Check, ...] = ()

    def __post_init__(self):
        values = {p.name: getattr(self, p.name) for p in self.PARAMETERS}
        checked, problems = _checked(type(self), values, "")
        if problems:
            raise SettingsError(problems)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def validate(cls, values: Mapping[str, Any] | None, where: str = "") -> list[ParameterError]:
        """Every problem of ``values`` (unknown names, bad values, conflicts), each with its field
        path under ``where``; an empty list when they are valid."""
        return _checked(cls, values, where)[1]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, where: str = ""):
        """Settings from a dict (a spec's JSON, keyword options); unset names take their default.

        Raises :class:`~napari_tramway.core.errors.SettingsError` listing every problem.
        """
        checked, problems = _checked(cls, values, where)
        if problems:
            raise SettingsError(problems)
        return cls(**checked)

    @classmethod
    def from_text(cls, values: Mapping[str, str], where: str = ""):
        """Settings from text values (command-line options, text fields), see :meth:`Parameter.parse`."""
        known = {p.name: p for p in cls.PARAMETERS}
        parsed, problems = {}, []
        for name, text in dict(values or {}).items():
            if name not in known:
                parsed[name] = text  # reported as unknown below
                continue
            try:
                parsed[name] = known[name].parse(text, where)
            except ParameterError as exc:
                problems.append(exc)
        if problems:
            raise SettingsError(problems)
        return cls.from_dict(parsed, where)

    def to_dict(self, *, defaults: bool = False) -> dict:
        """The values as plain JSON types; only those that differ from the default unless ``defaults``."""
        out = {}
        for p in self.PARAMETERS:
            value = getattr(self, p.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            if defaults or value != p.default:
                out[p.name] = value
        return out

    def to_text(self) -> dict[str, str]:
        """The values that differ from the default, as text (for command-line options or fields)."""
        known = {p.name: p for p in self.PARAMETERS}
        return {k: known[k].format(v) for k, v in self.to_dict().items()}

    def replace(self, **changes):
        """A copy with ``changes``, validated."""
        return type(self).from_dict({**self.to_dict(defaults=True), **changes})

    def __hash__(self):
        return hash(json.dumps(self.to_dict(defaults=True), sort_keys=True, default=str))

    def __reduce__(self):  # read-only mappings do not pickle: rebuild from plain values
        return (type(self).from_dict, (self.to_dict(defaults=True),))


def _checked(cls, values, where) -> tuple[dict, list[ParameterError]]:
    out, problems = check_values(cls.PARAMETERS, cls.CHECKS, values, where,
                                 lambda known: f"unknown setting; known: {', '.join(known)}")
    return {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in out.items()}, problems


def settings_class(name: str, parameters: Sequence[Parameter], doc: str, checks: Sequence[Check] = (),
                   module: str | None = None) -> type:
    """A frozen dataclass with one field per parameter (same name, default and order).

    Its values are validated and normalised when an instance is built (a ``mapping`` becomes a
    read-only mapping), so an instance always holds valid values. ``checks`` are functions of the
    validated values returning ``[(field, message), ...]`` for problems between fields. The class
    has :meth:`~_Settings.from_dict`, :meth:`~_Settings.from_text`, :meth:`~_Settings.validate`
    (every problem with its field path), :meth:`~_Settings.to_dict`, :meth:`~_Settings.to_text`
    and :meth:`~_Settings.replace`.
    """
    fields = []
    for p in parameters:
        annotation = _TYPES[p.type] | None if p.accepts_none else _TYPES[p.type]
        fields.append((p.name, annotation, dataclasses.field(default=p.default)))
    cls = dataclasses.make_dataclass(
        name, fields, bases=(_Settings,), frozen=True,
        namespace={"PARAMETERS": tuple(parameters), "CHECKS": tuple(checks), "__doc__": doc,
                   "__hash__": _Settings.__hash__},
    )
    if module is not None:
        cls.__module__ = module
    return cls
