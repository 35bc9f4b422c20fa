"""The part of a run that goes on in a napari worker thread: plan the units, start the run, relay
its events, and for each finished unit read its maps and build its layer data (rasterisation
included), so that the GUI thread only adds layers and updates tables."""

from __future__ import annotations

import queue
import sys
import threading
import time

#: Python's thread switch interval while a run is followed (s). Units running in this process hold
#: the GIL between their numpy calls; the GUI thread, which releases it in every Qt call, would
#: otherwise wait up to 5 ms (Python's default) to get it back each time.
RUN_SWITCH_INTERVAL = 0.0005

_SWITCH_LOCK = threading.Lock()
_SWITCH = {"followers": 0, "saved": None}


def hold_switch_interval() -> None:
    """Lower Python's switch interval while at least one run is followed (any viewer)."""
    with _SWITCH_LOCK:
        if _SWITCH["followers"] == 0:
            _SWITCH["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_SWITCH["saved"], RUN_SWITCH_INTERVAL))
        _SWITCH["followers"] += 1


def release_switch_interval() -> None:
    with _SWITCH_LOCK:
        _SWITCH["followers"] -= 1
        if _SWITCH["followers"] == 0:
            sys.setswitchinterval(_SWITCH["saved"])


def run_generator(analysis, make_env, image_grid, *, run, overwrite: bool = False, cancel: threading.Event,
                  handle_box: list, log_diffusivity: bool = True, attach=None):
    """The run, as a generator of messages for the GUI thread (runs in a napari worker thread).

    Messages: ``("status", text)``, ``("units", [Unit])``, ``("event", UnitEvent)``,
    ``("layers", unit label, [layer data], build seconds)``, ``("error", unit label, text)``,
    ``("summary", RunSummary, exception)``. ``run`` is the :class:`~napari_tramway._layers.RunLabel`
    the layers are named after. ``handle_box`` receives the run handle as soon as it exists (for
    Cancel). ``attach``: a function returning the handle of a run started earlier (reattach).
    """
    from .._layers import collection_key, plan_collections
    from .gui_first import GUI_WORK, gui_first

    if attach is None:
        yield ("status", "reading the data and planning the units…")
        units = analysis.units()
        yield ("units", units)
        if cancel.is_set():
            yield ("status", "cancelled before starting")
            return
        yield ("status", "starting…")
        env = gui_first(make_env())
        if cancel.is_set():
            yield ("status", "cancelled before starting")
            return
        handle = analysis.start(env=env, overwrite=overwrite, units=units)
    else:
        handle = attach()
        units = list(getattr(handle.job, "units", []) or [])
        yield ("units", units)
    handle_box.append(handle)
    if cancel.is_set():
        handle.cancel()
    yield ("status", f"running on {handle.env.describe()}")
    store_root = str(analysis.store.root)
    collections = plan_collections(units, run, image_grid, store_root, log_diffusivity,
                                   spec=analysis.spec.to_dict())
    results = None
    last_yield = time.monotonic()
    while True:
        try:
            event = handle.events.get(timeout=0.05)
        except queue.Empty:
            if not handle.running and handle.events.empty():
                break
            if time.monotonic() - last_yield > 0.5:  # lets worker.quit() act
                last_yield = time.monotonic()
                yield ("tick", None)
            continue
        last_yield = time.monotonic()
        yield ("event", event)
        if event.unit is None or event.kind not in ("done", "skipped"):
            continue
        if handle.job.stage == "tessellate":  # meshes only: each region's cells, to check before the fit
            mesh = _mesh_layers(analysis, units, event.unit, image_grid, run)
            if mesh:
                yield ("layers", event.unit, mesh, 0.0)
            continue
        try:
            GUI_WORK.wait_idle()  # the maps already on their way to the screen first
            if results is None:
                results = analysis.results()
            maps, meta = results.unit(event.unit)
            key, window = collection_key(event.unit, meta)
            t0 = time.perf_counter()
            layers = collections[key].add(window, event.unit, maps, meta)
            yield ("layers", event.unit, layers, time.perf_counter() - t0)
        except Exception as exc:  # a unit that cannot be shown must not stop the run
            yield ("error", event.unit, f"{type(exc).__name__}: {exc}")
    yield ("summary", handle.summary(), handle.exception)


def _mesh_layers(analysis, units, label: str, image_grid, run) -> list:
    """The cells of the mesh the unit ``label`` stored (a Labels layer, outlines), named after its
    region and run; [] when it left none."""
    import dataclasses

    from .._layers.maps import layers_from_meshes
    from ..core.meshes import load_mesh

    unit = next((u for u in units if u.label == label), None)
    path = analysis.store.tessellation_path(unit) if unit is not None else None
    if path is None or not path.is_file():
        return []
    mesh, _ = load_mesh(path)
    return layers_from_meshes([mesh], None, image_grid, name=f"mesh · {unit.region_label} · {run.text}",
                              metadata={"key": f"mesh|{path}", "source": str(path), "run": dataclasses.asdict(run)},
                              titles=[unit.region_label])
