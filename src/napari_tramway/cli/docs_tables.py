"""The parameter tables of the docs, generated from the registries.

Each table lives in a docs file between ``<!-- registry:NAME -->`` and ``<!-- /registry -->``;
:data:`TABLES` lists (docs file, NAME, the function that makes the table from its registry). ``python -m napari_tramway.cli.docs_tables --write``
rewrites every table from its registry; without ``--write`` it lists the tables that disagree
(exit status 1), which ``tests/test_docs_tables.py`` also checks. Adding a registry's table is one
line in :data:`TABLES` and its two markers in the docs file.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

#: The repository's ``docs`` folder (the tables are checked and written in a source checkout).
DOCS = Path(__file__).resolve().parents[3] / "docs"


def _meshes() -> str:
    from ..core.meshes import MESHES

    return MESHES.parameter_table()


def _models() -> str:
    from ..core.models import MODELS

    return MODELS.parameter_table()


def _file_settings() -> str:
    from ..core.io.settings import FILE_SETTINGS

    return FILE_SETTINGS.table()


def _environments() -> str:
    from ..analysis import environment_kinds

    return environment_kinds().table()


#: (docs file relative to :data:`DOCS`, marker name, the table from its registry).
TABLES: list[tuple[str, str, Callable[[], str]]] = [
    ("meshes.md", "meshes", _meshes),
    ("models.md", "models", _models),
    ("formats.md", "file-settings", _file_settings),
    ("clusters.md", "environments", _environments),
]


def region(name: str) -> re.Pattern:
    """The text between a table's markers (the markers kept in groups 1 and 3)."""
    return re.compile(rf"(<!-- registry:{re.escape(name)} -->\n)(.*?)(<!-- /registry -->)", re.S)


def render(table: Callable[[], str]) -> str:
    """A table's text between its markers (one final newline)."""
    return table().rstrip("\n") + "\n"


def replace_table(text: str, name: str, table: str, where: str = "") -> str:
    """``text`` with the region of marker ``name`` replaced by ``table``; ValueError without one region."""
    pattern = region(name)
    found = pattern.findall(text)
    if len(found) != 1:
        raise ValueError(f"{where or 'text'}: expected one '<!-- registry:{name} -->' ... '<!-- /registry -->' "
                         f"region, found {len(found)}")
    return pattern.sub(lambda m: m.group(1) + table + m.group(3), text)


def stale(docs: Path = DOCS) -> list[str]:
    """The tables that disagree with their registry, as ``file (marker)``."""
    out = []
    for file, name, table in TABLES:
        path = docs / file
        text = path.read_text(encoding="utf-8")
        if replace_table(text, name, render(table), str(path)) != text:
            out.append(f"{path} ({name})")
    return out


def write(docs: Path = DOCS) -> list[Path]:
    """Rewrite every table from its registry; the files that changed."""
    from ..core.archive import atomic_write

    changed = []
    for file, name, table in TABLES:
        path = docs / file
        text = path.read_text(encoding="utf-8")
        new = replace_table(text, name, render(table), str(path))
        if new != text:
            with atomic_write(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            changed.append(path)
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m napari_tramway.cli.docs_tables", description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the tables (default: only check them)")
    ap.add_argument("--docs", type=Path, default=DOCS, help=f"the docs folder (default: {DOCS})")
    args = ap.parse_args(argv)
    try:
        if args.write:
            for path in write(args.docs):
                print(f"rewrote {path}")
            return 0
        bad = stale(args.docs)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for item in bad:
        print(f"out of date: {item} (run python -m napari_tramway.cli.docs_tables --write)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
