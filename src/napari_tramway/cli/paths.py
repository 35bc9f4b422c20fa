"""Where the commands write: checked before anything is computed, so that an output the user
cannot write (a file, ``/proc``, a read-only folder) is one line and no work is lost."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .options import CliError


def writable_directory(path, what: str) -> Path:
    """``path`` as a directory this process can write in (created if missing); else
    :class:`CliError` naming ``what`` (``-o/--output DIR``...) and the cause."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CliError(f"{what} {path}: it is a file, not a directory") from None
    except NotADirectoryError:
        raise CliError(f"{what} {path}: {_file_above(path)} is a file, not a directory") from None
    except OSError as exc:
        raise CliError(f"{what} {path}: cannot create this directory ({_cause(exc)})") from None
    if not path.is_dir():
        raise CliError(f"{what} {path}: not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ntw-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(f"{what} {path}: cannot write in this directory ({_cause(exc)})") from None
    return path


def _file_above(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            return parent
    return path


def _cause(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
