"""What the Runs tab opens and writes besides runs: results written earlier (Open…), publication
figures of a run (Figure…), and cluster runs left by an earlier session (Reattach…)."""

from __future__ import annotations

from qtpy.QtWidgets import QFileDialog

from .common import notify_error, notify_info, start_worker, user_message


class RunOutputs:
    """Open…, Figure… and Reattach… of :class:`~napari_tramway._widgets.runs.RunsPanel`."""

    def _open_dialog(self):
        path = QFileDialog.getExistingDirectory(self, "Open a results directory")
        if path:
            self.open_results(path)

    def open_results(self, path):
        """Show the maps of a result (a results directory, an ``analyze`` output, a ``.ntw``) in a
        background thread; return the worker."""
        grid = self.image_grid()

        def work():
            from .._layers.sources import layers_from_path

            return layers_from_path(path, grid)

        def done(layers):
            if layers:
                self._hide_tracks()
            self.feeder.feed(layers, settle=False)
            runs = {(kw["metadata"]["napari_tramway"].get("run") or {}).get("name") for _, kw, _ in layers}
            notify_info(f"napari-tramway: {', '.join(sorted(r for r in runs if r)) or 'maps'} opened from {path}")

        def finished():
            self._open_worker = None

        self._open_worker = start_worker(work, what=f"could not open {path}",
                                         fix="open a results directory, an analyze output folder or a .ntw file",
                                         returned=done, finished=finished)
        return self._open_worker

    def _figure_dialog(self):
        entry = self.selected_entry()
        if entry is None:
            notify_error("napari-tramway: no run to draw yet — run an analysis or open results first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save figures (one file per map)", f"{entry.run.name}.png",
                                              "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if path:
            self.save_figures(entry.run.key, path)

    def save_figures(self, key: str, path, shared_scale: bool | None = None):
        """Publication figures of run ``key`` (see :mod:`napari_tramway.figures`), over the wide-field
        image of the Data tab, in a background thread; return the worker."""
        from ..figures import Background

        store = key.split("|")[0]
        image = self.main.data.alignment.image_layer() if self.main is not None else None
        background = None
        if image is not None and image.ndim == 2 and not getattr(image, "rgb", False):
            background = Background.from_array(image.data, self.image_grid())

        def work():
            from .._layers.sources import units_of_path
            from ..figures import figures

            units = [u for u in units_of_path(store) if key_of_unit(u) == key]
            if not units:
                raise ValueError(f"{store} no longer holds this run's maps")
            return figures(units, path, background=background, shared_scale=shared_scale)

        def done(paths):
            self.figures_written = list(paths)
            notify_info(f"napari-tramway: {len(paths)} figure(s) written: " + ", ".join(str(p) for p in paths))

        def finished():
            self._figure_worker = None

        self._figure_worker = start_worker(work, what="could not draw the figures", returned=done, finished=finished,
                                           fix="check that the results directory is readable and the output "
                                           "folder writable")
        return self._figure_worker

    def _reattach_dialog(self):
        from .reattach import ReattachDialog

        dialog = ReattachDialog(self)
        if dialog.exec() and dialog.selected is not None:
            self.reattach(dialog.selected)

    def reattach(self, run_id: str):
        """Reattach to a run recorded in the ledger: follow it here and show its maps as they come."""
        from ..analysis import run_record

        try:
            record = run_record(run_id)
        except Exception as exc:
            notify_error(user_message(f"cannot reattach to {run_id}", exc))
            return None
        store = record.get("local_store")
        if not store:
            notify_error(f"napari-tramway: run {run_id} has no known results directory")
            return None
        bridge = self.main.environment.bridge if self.main is not None else None
        options = {}
        if bridge is not None:
            options = {"confirm_host_key": bridge.confirm_host_key, "ask_secret": bridge.ask_secret}

        def attach_fn():
            from ..analysis import start_attach

            return start_attach(record["run_id"], **options)

        return self.attach(attach_fn, store)


def key_of_unit(unit) -> str:
    """The run key of a unit ``(label, maps, meta, store)``."""
    from .._layers.runs import run_label_of_meta

    return run_label_of_meta(unit[2], unit[3]).key



def ledger_available() -> bool:
    try:
        from .. import analysis  # noqa: F401
    except Exception:
        return False
    return True
