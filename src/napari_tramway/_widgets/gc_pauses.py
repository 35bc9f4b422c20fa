"""Shorter pauses of Python's garbage collector while napari shows maps.

A full collection (generation 2) scans every container object of the process — napari, Qt,
vispy and everything loaded: about 300,000 objects once the panel is open, a 180–390 ms pause of
the whole process (GUI thread included) measured by ``benchmarks/gui_stall.py``, and one such
pause came with nearly every batch of maps. Nearly all of those objects live as long as napari
(modules, classes, the window and its widgets): :func:`freeze_long_lived` moves them, once, out
of the collector's scans (:func:`gc.freeze`), so that later collections scan only what was made
since (the runs, their layers and tables).

The price: an object that existed when the panel opened and later becomes garbage *in a
reference cycle* is not freed (a layer opened before the panel and deleted afterwards, for
instance); set ``NAPARI_TRAMWAY_GC_FREEZE=0`` to keep Python's default.
"""

from __future__ import annotations

import gc
import os

_FROZEN = False


def freeze_long_lived() -> bool:
    """Freeze the objects that exist now (once per process); whether it was done."""
    global _FROZEN
    if _FROZEN or os.environ.get("NAPARI_TRAMWAY_GC_FREEZE", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    gc.freeze()
    _FROZEN = True
    return True
