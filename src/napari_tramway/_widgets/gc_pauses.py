"""Shorter pauses of Python's garbage collector while napari puts maps on screen.

A full collection (generation 2) scans every container object of the process — napari, Qt,
vispy and everything loaded: about 300,000 objects once the panel is open, a 180–390 ms pause of
the whole process (GUI thread included) measured by ``benchmarks/gui_stall.py``, and one such
pause came with nearly every batch of maps. While the layer feeder works, :func:`hold` moves the
objects alive then out of the collector's scans (:func:`gc.freeze`), so that collections scan
only what was made since (the run's layers and tables: 20–90 ms); :func:`release` puts them back
(:func:`gc.unfreeze`) when the maps are on screen, so that nothing is kept alive for longer than
Python would keep it (a layer deleted meanwhile is freed at the next full collection, which may
then be a long one, outside the click-to-maps path). ``NAPARI_TRAMWAY_GC_FREEZE=0`` keeps
Python's default throughout.
"""

from __future__ import annotations

import gc
import os

_HOLDERS: set[int] = set()


def enabled() -> bool:
    return os.environ.get("NAPARI_TRAMWAY_GC_FREEZE", "1").strip().lower() not in ("0", "false", "no", "off")


def hold(owner) -> bool:
    """Freeze the objects alive now, for ``owner`` (once per owner); whether it froze them now."""
    if not enabled() or id(owner) in _HOLDERS:
        return False
    first = not _HOLDERS
    _HOLDERS.add(id(owner))
    if first:
        gc.freeze()
    return first


def release(owner) -> bool:
    """End ``owner``'s hold; the last one unfreezes (the objects are scanned again). Whether it did."""
    if id(owner) not in _HOLDERS:
        return False
    _HOLDERS.discard(id(owner))
    if not _HOLDERS:
        gc.unfreeze()
        return True
    return False
