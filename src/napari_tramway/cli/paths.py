"""Where the commands write: checked before anything is computed, so that an output the user
cannot write (a file, ``/proc``, a read-only folder) is one line and no work is lost (the check is
the façade's, :func:`napari_tramway.analysis.writable_directory`, shared with the napari panel)."""

from __future__ import annotations

from pathlib import Path

from .options import CliError


def writable_directory(path, what: str) -> Path:
    """``path`` as a directory this process can write in (created if missing); else
    :class:`CliError` naming ``what`` (``-o/--output DIR``...) and the cause."""
    from ..analysis import OutputDirectoryError
    from ..analysis import writable_directory as check

    try:
        return check(path, what)
    except OutputDirectoryError as exc:
        raise CliError(str(exc)) from None
