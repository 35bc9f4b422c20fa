"""Reading trajectory files into Tracks layers for the Data tab, in worker threads: open a file
(asking how to read it when its columns or units need it), and read it again when its settings
change, so that the layer shows what the analysis reads.

A layer's ``metadata["reader"]`` holds the settings it was read with (the data-file settings
given: :meth:`FileSettings.to_dict`, what the spec's file records); ``metadata["provenance"]``
what the read did (units, factors, where the frame interval and σ came from).
"""

from __future__ import annotations

from pathlib import Path

from .common import notify_error, notify_warning, start_worker, user_message

#: What to do when a trajectory file cannot be read.
READ_FIX = "check the file: docs/formats.md lists the formats, columns and units read"
#: What to do when a file cannot be read with the settings given in the Data tab.
SETTINGS_FIX = "correct its settings in the Data tab (the layer keeps its last reading)"


def notify_unit_warnings(messages) -> None:
    """One notification per warning of a read (units assumed against the values' appearance)."""
    for message in messages:
        notify_warning(f"napari-tramway: {message}")


class FileReading:
    """The reading half of :class:`~napari_tramway._widgets.data.DataPanel` (a mixin): it uses the
    panel's ``viewer``, ``_workers``, ``refresh()``, ``trajectories_in_pixels`` and ``pixel_size``."""

    def open_file(self, path, options: dict | None = None, frame_interval=None, localization_precision=None,
                  label=None, on_done=None):
        """Read a trajectory file in a background thread and add it as a Tracks layer.

        ``options`` are data-file settings (:data:`~napari_tramway.core.io.FILE_SETTINGS` names);
        ``frame_interval`` (s) and ``localization_precision`` (µm) are two of them. When the
        file's columns are not recognised or a unit cannot be determined, the column-mapping
        dialog asks how to read it. ``on_done(layer)`` is called once the layer is added, or
        ``on_done(None)`` if the file could not be read (or the user cancelled the dialog).
        """
        settings = dict(options or {})
        if frame_interval is not None:
            settings["frame_interval"] = frame_interval
        if localization_precision is not None:
            settings["localization_precision"] = localization_precision
        if self.trajectories_in_pixels.isChecked() and "pixel_size" not in settings:
            settings.setdefault("space_unit", "px")
            settings["pixel_size"] = float(self.pixel_size.value())
        name = Path(str(path)).name

        def done(tf):
            from .._reader import trajectory_layer_data

            data, kwargs, _ = trajectory_layer_data(path, tf)
            if label:
                kwargs["metadata"]["label"] = label
            layer = self.viewer.add_tracks(data, **kwargs)
            notify_unit_warnings(tf.provenance.warnings)
            if on_done is not None:
                on_done(layer)

        def failed(exc):
            from .columns import ask_file_settings, needs_settings

            if needs_settings(exc):
                new = ask_file_settings(path, str(exc), settings, self)
                if new is not None:
                    self.open_file(path, new, label=label, on_done=on_done)
                    return
            else:
                notify_error(user_message(f"could not read {name}", exc, READ_FIX))
            if on_done is not None:
                on_done(None)

        return self._read(path, settings, done, failed)

    def _read(self, path, settings: dict, done, failed):
        """``read_trajectory_file(path, settings)`` in a background thread; ``done(trajectory
        file)`` or ``failed(exc)`` (which tells the user: the error is handled once)."""
        from ..core.io import read_trajectory_file

        worker = start_worker(read_trajectory_file, path, settings, warn=False, what=f"could not read {path}",
                              returned=done, errored=failed, start=False)
        worker.finished.connect(lambda: self._workers.remove(worker) if worker in self._workers else None)
        self._workers.append(worker)
        worker.start()
        return worker

    def reread(self, layer):
        """Read a trajectory layer's file again with its settings (``metadata["reader"]``), and
        show it: the layer's locations and napari's time axis are then those the analysis reads.
        Layers without a file keep their own data. A reading that fails is one notification; the
        layer keeps its last reading and the settings given. Returns the worker, if any."""
        md = layer.metadata
        path = md.get("path")
        if not path:
            return None
        settings = dict(md.get("reader") or {})
        before = md.get("provenance")
        name = Path(str(path)).name

        def current() -> bool:
            """The layer is still there and its settings are still these (else a newer reading follows)."""
            return layer in self.viewer.layers and md.get("reader") == settings

        def done(tf):
            from .._reader import trajectory_layer_data

            if not current():
                return
            data, kwargs, _ = trajectory_layer_data(path, tf)
            layer.data = data
            layer.scale = kwargs["scale"]
            layer.tail_length, layer.head_length = kwargs["tail_length"], kwargs["head_length"]
            layer.metadata.update({k: v for k, v in kwargs["metadata"].items() if k != "label"})
            layer.metadata.pop("read_error", None)
            seen = set(before.warnings) if before is not None else set()
            notify_unit_warnings([w for w in tf.provenance.warnings if w not in seen])
            self.refresh()

        def failed(exc):
            if not current():
                return
            md["read_error"] = str(exc)
            notify_error(user_message(f"could not read {name} with these settings", exc, SETTINGS_FIX))
            self.refresh()

        return self._read(path, settings, done, failed)

    def _schedule_reread(self, layer):
        """After a change of the file's settings: read it again once the values settle."""
        if layer not in self._to_reread:
            self._to_reread.append(layer)
        self._reread_timer.start()

    def _reread_pending(self):
        layers, self._to_reread = self._to_reread, []
        for layer in layers:
            if layer in self.viewer.layers:
                self.reread(layer)
