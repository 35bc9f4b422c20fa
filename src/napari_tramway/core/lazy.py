"""Names of a package imported when first used (PEP 562), so that importing the package (a spec,
``--help``, the napari manifest) does not import numpy, scipy, pandas or shapely."""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_exports(package: str, table: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps each name to the module (relative
    to ``package``, e.g. ``"grid"`` or ``".grid"``) that defines it; a name is imported once, then
    kept in the package."""
    module = sys.modules[package]

    def __getattr__(name):
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where if where.startswith(".") else f".{where}", package), name)
        setattr(module, name, value)
        return value

    def __dir__():
        return sorted(set(vars(module)) | set(table) | set(getattr(module, "__all__", ())))

    return __getattr__, __dir__
