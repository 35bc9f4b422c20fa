"""The shape of the house: rooms, arrows between them, and file sizes (``docs/architecture.md``).

The import graph of ``src/napari_tramway`` is built with :mod:`ast` from every ``import`` statement,
at module level AND inside functions (a lazy import is still an arrow). Rooms, bottom to top::

    version < core < pipeline < environments < façade < cli | napari face

An arrow may point down or stay in its room, never up; the CLI may open the napari face (``demo``)
but not the reverse; the faces reach the environments only through the façade; nothing below the
napari face imports napari, Qt or magicgui; no two rooms import each other, even through others;
and no file is longer than 500 lines without a ``# size:`` comment at its top saying why.

``python tests/test_architecture.py`` prints the rooms, the arrows between them and their counts.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "napari_tramway"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: rooms, bottom to top (a room may import its own and lower ranks)
RANK = {"version": 0, "core": 1, "pipeline": 2, "environments": 3, "façade": 4, "cli": 5, "napari face": 5}
#: the only sideways arrow: ``napari-tramway demo`` opens napari
SIDEWAYS = {("cli", "napari face")}
GUI_PACKAGES = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "vispy", "superqt",
                "app_model", "npe2"}
MAX_LINES = 500
#: files above MAX_LINES outside this branch's area, each with the issue that splits it; the test
#: accepts them until then (a file that shrinks needs no change here)
SIZE_ALLOWED = {
}
#: import cycles allowed between modules of one sub-package (none: every cycle fails)
CYCLES_ALLOWED_IN: tuple[str, ...] = ()


def room_of(module: str) -> str:
    """The room of a module (``napari_tramway.environments.slurm.site`` → ``environments``)."""
    parts = module.split(".")[1:]
    if not parts:
        return "façade"  # the package itself: lazy exports of the façade
    head = parts[0]
    if head == "_version":
        return "version"
    if head in ("core", "pipeline", "environments", "cli"):
        return head
    if head == "analysis":
        return "façade"
    if head.startswith(("_widgets", "_layers", "_reader", "_writer", "_sample_data")) or head in ("figures", "demo", "summary_plots"):
        return "napari face"
    return f"? {head}"  # an unplaced module: the test says so


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """``(imported module, line)`` of every import in ``path``: napari_tramway modules by their full
    name (``from . import x`` gives the submodule ``x`` when there is one), others by their top name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((alias.name if alias.name.startswith(PACKAGE) else alias.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            if not target.startswith(PACKAGE):
                out.append((target.split(".")[0], node.lineno))
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    out.append((sub, node.lineno))
                elif target == PACKAGE and alias.name == "__version__":
                    out.append((f"{PACKAGE}._version", node.lineno))
                else:
                    out.append((target, node.lineno))
    return sorted(set(out), key=lambda t: (t[1], t[0]))


def import_graph() -> dict[str, list[tuple[str, int]]]:
    mods = modules()
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def room_arrows(graph=None) -> dict[tuple[str, str], list[str]]:
    """``(from room, to room) → ["module -> module (line)"...]`` between different rooms."""
    graph = graph or import_graph()
    arrows = defaultdict(list)
    for mod, targets in graph.items():
        for target, line in targets:
            if target.startswith(PACKAGE):
                a, b = room_of(mod), room_of(target)
                if a != b:
                    arrows[(a, b)].append(f"{mod} -> {target} (line {line})")
    return dict(arrows)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# -- the tests ------------------------------------------------------------------------------------

def test_every_module_has_a_room():
    unplaced = sorted(m for m in modules() if room_of(m).startswith("?"))
    assert not unplaced, f"modules in no room (place them in room_of): {unplaced}"


def test_no_arrow_points_up():
    offenders = []
    for (a, b), where in sorted(room_arrows().items()):
        if RANK.get(b, 99) > RANK.get(a, -1) or (RANK.get(a) == RANK.get(b) and (a, b) not in SIDEWAYS):
            offenders += [f"{a} -> {b}: {w}" for w in where]
    assert not offenders, "upward arrows:\n" + "\n".join(offenders)


def test_faces_reach_the_environments_only_through_the_facade():
    offenders = [f"{a} -> {b}: {w}" for (a, b), where in sorted(room_arrows().items())
                 if a in ("cli", "napari face") and b == "environments" for w in where]
    assert not offenders, "use napari_tramway.analysis instead:\n" + "\n".join(offenders)


def test_nothing_below_the_napari_face_imports_napari_or_qt():
    offenders = []
    for mod, targets in import_graph().items():
        if room_of(mod) == "napari face":
            continue
        offenders += [f"{mod}: {t} (line {line})" for t, line in targets if t in GUI_PACKAGES]
    assert not offenders, "\n".join(offenders)


def test_no_cycle_between_rooms():
    edges = defaultdict(set)
    for a, b in room_arrows():
        edges[a].add(b)
    assert _cycles(edges) == [], _cycles(edges)


def test_no_cycle_between_modules():
    edges = defaultdict(set)
    for mod, targets in import_graph().items():
        for t, _ in targets:
            if t.startswith(PACKAGE) and t != mod:
                edges[mod].add(t)
    cycles = [c for c in _cycles(edges)
              if not all(m.startswith(CYCLES_ALLOWED_IN) for m in c)
              or len({next(p for p in CYCLES_ALLOWED_IN if m.startswith(p)) for m in c}) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_long_file_without_a_reason():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        rel = path.relative_to(SRC).as_posix()
        if len(lines) <= MAX_LINES or rel in SIZE_ALLOWED:
            continue
        if not any(line.startswith("# size:") for line in lines[:15]):
            offenders.append(f"{rel}: {len(lines)} lines")
    assert not offenders, (f"files over {MAX_LINES} lines without a '# size: <reason>' comment at their top "
                           "(split them by idea, or say why not):\n" + "\n".join(offenders))


#: what a steps table's numbers mean: carried typed (``core.acquisition.Acquisition``), never in ``attrs``
ACQUISITION_KEYS = ("frame_interval", "localization_precision", "min_squared_step", "region_bounds")
#: where they may touch ``DataFrame.attrs``: the reader writes its copy of the record for people to
#: look at, and the napari face reads it back to draw a layer on napari's time axis (display only)
ATTRS_ALLOWED = {"core/io/assemble.py", "_layers/data.py", "_layers/sources.py"}


def attrs_uses(path: Path) -> list[tuple[int, str]]:
    """``(line, statement)`` of every statement of ``path`` that uses ``<something>.attrs`` with one of
    :data:`ACQUISITION_KEYS`."""
    text = path.read_text(encoding="utf-8")
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.If, ast.For,
                                                                 ast.While, ast.With, ast.Try, ast.Module)):
            touches = any(isinstance(n, ast.Attribute) and n.attr == "attrs" for n in ast.walk(node))
            segment = ast.get_source_segment(text, node) or ""
            if touches and any(f'"{k}"' in segment or f"'{k}'" in segment or f"{k}=" in segment
                               for k in ACQUISITION_KEYS):
                out.append((node.lineno, segment.splitlines()[0]))
    return out


def test_the_frame_interval_and_sigma_do_not_travel_in_attrs():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel not in ATTRS_ALLOWED:
            offenders += [f"{rel}:{line}: {text}" for line, text in attrs_uses(path)]
    assert not offenders, ("pass an Acquisition (napari_tramway.core.acquisition) instead of DataFrame.attrs:\n"
                           + "\n".join(offenders))


def test_the_attrs_scan_sees_reads_and_writes(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f(steps, x):\n    s = steps.attrs.get('localization_precision')\n"
                 "    x.attrs['min_squared_step'] = 1\n    x.attrs.update(frame_interval=2)\n    x.attrs['source'] = 's'\n")
    assert [line for line, _ in attrs_uses(p)] == [2, 3, 4]


def test_the_graph_sees_function_level_imports(tmp_path):
    # a lazy import inside a function is an arrow too
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from ..environments import sites\n    import napari\n")
    found = imports_of(f"{PACKAGE}.pipeline.m", p, {f"{PACKAGE}.environments.sites"})
    assert (f"{PACKAGE}.environments.sites", 2) in found and ("napari", 3) in found


if __name__ == "__main__":  # print the drawing: rooms, arrows, counts
    arrows = room_arrows()
    rooms = sorted({r for ab in arrows for r in ab} | {room_of(m) for m in modules()}, key=lambda r: RANK.get(r, 9))
    print("rooms (bottom to top):", ", ".join(rooms))
    for (a, b), where in sorted(arrows.items(), key=lambda kv: (RANK.get(kv[0][0], 9), kv[0])):
        up = RANK.get(b, 99) > RANK.get(a, -1) or (RANK.get(a) == RANK.get(b) and (a, b) not in SIDEWAYS)
        print(f"  {a:>13} -> {b:<13} {len(where):3d} import(s){'   UPWARD' if up else ''}")
        if "-v" in sys.argv:
            for w in where:
                print(f"        {w}")
