"""Which source column plays which role (n, x, y, z, t, frame), and in which unit.

Column names are matched case-insensitively after removing quotes and a trailing unit in
brackets, so ``"x [nm]"``, ``POSITION_X`` and ``X (µm)`` are all recognised; the bracketed unit
is returned alongside.
"""

from __future__ import annotations

import re

from napari_tramway.core.errors import ColumnError, TrajectoryFormatError

from .names import ROLES

#: Accepted names of each role, by priority (normalised form, see :func:`normalize_name`).
ALIASES = {
    "n": (
        "n",
        "trajectory",
        "traj",
        "trajectory_id",
        "track_id",
        "trackid",
        "track",
        "tid",
        "particle",
        "particle_id",
    ),
    "x": ("x", "position_x", "pos_x", "posx", "x_position", "xpos"),
    "y": ("y", "position_y", "pos_y", "posy", "y_position", "ypos"),
    "z": ("z", "position_z", "pos_z", "posz", "z_position", "zpos"),
    "t": ("t", "time", "position_t", "pos_t", "timestamp"),
    "frame": ("frame", "frames", "frame_number", "frame_id", "frame_index", "slice"),
}

#: Column names of a file without a header, by number of values per line.
DEFAULT_NAMES = {4: ["n", "x", "y", "t"], 5: ["n", "x", "y", "z", "t"]}

_UNIT_SUFFIX = re.compile(r"^(?P<name>.*?)\s*[\[(](?P<unit>[^\])]*)[\])]\s*$")


def split_name(raw) -> tuple[str, str | None]:
    """``(normalised name, unit or None)`` of a header cell such as ``'"x [nm]"'``."""
    s = str(raw).strip().strip('"').strip("'").strip()
    unit = None
    m = _UNIT_SUFFIX.match(s)
    if m and m.group("name"):
        s, unit = m.group("name"), m.group("unit").strip() or None
    return normalize_name(s), unit


def normalize_name(name: str) -> str:
    """Lower case, spaces and hyphens as underscores: ``'Track ID'`` -> ``'track_id'``."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def dedupe(names: list[str]) -> list[str]:
    """Make column names unique by appending ``.1``, ``.2``... to repeats (as pandas does)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = str(name)
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            out.append(candidate)
            seen[candidate] = 0
        else:
            seen[name] = 0
            out.append(name)
    return out


def listed_names(path: str, listed, width: int, line: int | None) -> list[str]:
    """The names of ``columns=[...]``, checked against the ``width`` values of each line."""
    names = [str(c) for c in listed]
    if len(names) != width:
        raise ColumnError(
            f"columns= names {len(names)} columns ({' '.join(names)}) but the file has "
            f"{width} values per line",
            path=path,
            line=line,
        )
    return dedupe(names)


def headerless_names(path: str, width: int, columns, line: int | None) -> list[str]:
    """Column names of a file without a header line whose lines hold ``width`` values.

    ``columns`` is the caller's ``columns=`` option: a list names the columns; otherwise 4 values
    are ``n x y t`` and 5 ``n x y z t``; with a role dict other widths get ``column1``... names
    (the dict then says which is which). 3 values (``x y t``) are refused: not tracked.
    """
    if isinstance(columns, (list, tuple)):
        return listed_names(path, columns, width, line)
    if width in DEFAULT_NAMES:
        return list(DEFAULT_NAMES[width])
    if isinstance(columns, dict):
        return [f"column{i + 1}" for i in range(width)]
    if width == 3:
        raise TrajectoryFormatError(
            "3 columns and no header: these look like x y t, without trajectory ids; the "
            "molecules are not tracked. Link the localisations into trajectories first "
            "(expected n x y t or n x y z t)",
            path=path,
            line=line,
        )
    raise ColumnError(
        f"{width} values per line and no header: expected 4 (n x y t) or 5 (n x y z t); add a "
        "header line, or say which column is which by 0-based position (e.g. n=0,x=1,y=2,t=5): "
        f"{_how()}",
        path=path,
        line=line,
    )


def resolve(
    names: list[str],
    path: str,
    mapping: dict | None = None,
    allow_id_as_n: bool = True,
    n_aliases: tuple[str, ...] | None = None,
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Assign roles to the source columns ``names``.

    Parameters
    ----------
    names : list of str
        Source column names, unique.
    path : str
        The file, for error messages.
    mapping : dict, optional
        Explicit ``{role: source name or 0-based position}`` from the caller; the other roles are
        looked up by name.
    allow_id_as_n : bool
        Accept a column named ``id`` as the trajectory id when nothing better exists (not for
        localisation tables, whose ``id`` numbers localisations).
    n_aliases : tuple of str, optional
        Replace the accepted names of the trajectory-id role.

    Returns
    -------
    roles : dict
        ``{role: source name}`` for the roles found.
    units : dict
        ``{role: unit written in the header, or None}``.
    """
    roles: dict[str, str] = {}
    units: dict[str, str | None] = {}
    parsed = {name: split_name(name) for name in names}
    used: set[str] = set()
    if mapping:
        for role, source in mapping.items():
            if role not in ROLES:
                raise ColumnError(
                    f"unknown role {role!r} in the column mapping; expected some of {', '.join(ROLES)}",
                    path=path,
                )
            if source is None:
                continue
            found = _find(names, parsed, source)
            if found is None:
                raise ColumnError(
                    f"the column mapping gives {role!r} the column {source!r}, which is not a column "
                    f"of the file. Columns found: {_listing(names)}; map the roles to these "
                    f"(names, or 0-based positions): {_how()}",
                    path=path,
                )
            roles[role] = found
            units[role] = parsed[found][1]
            used.add(found)
    aliases = dict(ALIASES)
    if n_aliases is not None:
        aliases["n"] = n_aliases
    for role in ROLES:
        if role in roles or (mapping and role in mapping):
            continue
        for alias in aliases[role]:
            hit = next((c for c in names if c not in used and parsed[c][0] == alias), None)
            if hit is not None:
                roles[role] = hit
                units[role] = parsed[hit][1]
                used.add(hit)
                break
    if "n" not in roles and allow_id_as_n and not (mapping and "n" in mapping):
        hit = next((c for c in names if c not in used and parsed[c][0] == "id"), None)
        if hit is not None:
            roles["n"] = hit
            units["n"] = None
    return roles, units


def require(roles: dict, names: list[str], path: str, what: str = "") -> None:
    """Raise :class:`ColumnError` unless ``roles`` has n, x, y and t or frame.

    The message names the columns found and how to say which is which in every face (the
    ``columns`` setting of :data:`~napari_tramway.core.io.settings.FILE_SETTINGS`).
    """
    found = _listing(names)
    suffix = f" ({what})" if what else ""
    if "n" not in roles:
        if "x" in roles and "y" in roles and len(names) <= 4:
            raise ColumnError(
                f"no trajectory-id column: the molecules are not tracked{suffix}. Columns "
                f"found: {found}; expected n x y t (or n x y z t). Link the localisations "
                f"into trajectories first, or say which column is the trajectory id (n): {_how()}",
                path=path,
            )
        raise ColumnError(
            f"no trajectory-id column{suffix}. Columns found: {found}; expected one of "
            f"{', '.join(ALIASES['n'])}, or say which column is which: {_how()}",
            path=path,
        )
    for axis in ("x", "y"):
        if axis not in roles:
            raise ColumnError(
                f"no {axis} column{suffix}. Columns found: {found}; expected one of "
                f"{', '.join(ALIASES[axis])}, or say which column is which: {_how()}",
                path=path,
            )
    if "t" not in roles and "frame" not in roles:
        raise ColumnError(
            f"no time or frame column{suffix}. Columns found: {found}; expected a time column "
            f"({', '.join(ALIASES['t'])}) or a frame column ({', '.join(ALIASES['frame'])}) and "
            f"the frame interval ({_flag('frame_interval')}, frame_interval=); or say which column is "
            f"which: {_how()}",
            path=path,
        )


def _how(name: str = "columns") -> str:
    from .settings import how_to_give  # settings imports this module

    return how_to_give(name)


def _flag(name: str) -> str:
    from .settings import FILE_SETTINGS

    return FILE_SETTINGS.parameter(name).cli_flag


def _find(names, parsed, source):
    if isinstance(source, int) and not isinstance(source, bool):
        return names[source] if -len(names) <= source < len(names) else None
    source = str(source)
    if source in names:
        return source
    key = split_name(source)[0]
    for c in names:
        if c.strip().strip('"') == source.strip():
            return c
    for c in names:
        if parsed[c][0] == key:
            return c
    return None


def _listing(names) -> str:
    shown = [str(n) for n in names[:30]]
    more = f" (+{len(names) - 30} more)" if len(names) > 30 else ""
    return ", ".join(shown) + more
