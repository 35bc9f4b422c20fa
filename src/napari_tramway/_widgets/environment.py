"""Environment: where the units run — here (in-process), local processes, or a cluster site.

The choices are the environment registry's kinds, the adapters registered by packages and the
TOML profiles (``napari_tramway.analysis.list_sites``), each listed once; a site's settings form is
built from the registry's description of its kind (``environment_kinds``), so that the panel, the
CLI options and the docs table show the same settings. "Check site" connects (host-key
confirmation and password / one-time-code prompts are Qt dialogs, answered on the GUI thread while
the check waits in its own thread) and says what is missing on the cluster.
"""

from __future__ import annotations

import dataclasses
import os

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .common import notify_error, start_worker, user_message
from .dialogs import PromptBridge
from .forms import ParameterForm
from .layout import narrow, scrolling

INPROCESS = "inprocess"
LOCAL = "local"
#: settings with their own widget above the form (shared by local processes and sites)
OWN_WIDGET = ("worker_count",)
SBATCH_OPTIONS = "sbatch_options"


def list_sites() -> list[tuple[str, str, str]]:
    """``(name, kind, description)`` of every environment, each once; empty when they cannot be listed."""
    try:
        from ..analysis import list_sites as sites

        return [tuple(row) for row in sites()]
    except Exception as exc:  # a broken profile must not break the panel
        notify_error(f"napari-tramway: could not list the cluster sites: {exc}")
        return []


def _parse_extra(text: str) -> dict:
    """``key = value`` lines (TOML values; bare words are strings)."""
    import tomllib

    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"expected 'key = value', got {line!r}")
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except Exception:
            out[key] = value
    return out


def _format_extra(d: dict) -> str:
    """``key = value`` lines that :func:`_parse_extra` reads back (JSON scalars and arrays are TOML,
    tables are written inline)."""
    import json

    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    return "\n".join(f"{k} = {value(v)}" for k, v in d.items())


class EnvironmentPanel(QWidget):
    """Choose where units run; set a site's settings (a form from the environment registry); check a site."""

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self._check_worker = None
        self.bridge = PromptBridge(self)  # the main widget withdraws questions of a cancelled run
        layout = scrolling(self)

        where = QGroupBox("Run on")
        wl = QFormLayout(where)
        self.combo = QComboBox()
        self.sites = list_sites()
        kinds = _kinds()
        for name, kind, description in self.sites:
            entry = kinds.get(name)
            label = entry.title if name in (INPROCESS, LOCAL) and entry is not None else f"{name} — {kind}"
            self.combo.addItem(label, name)
            self.combo.setItemData(self.combo.count() - 1, description, 3)
        if self.combo.findData(INPROCESS) < 0:  # the sites could not be listed: here still works
            self.combo.insertItem(0, "this process (in-process)", INPROCESS)
        self.combo.currentIndexChanged.connect(self._on_choice)
        wl.addRow(self.combo)
        other = QHBoxLayout()
        self.site_ref = QLineEdit()
        self.site_ref.setPlaceholderText("or a site adapter: package.module:Class or path/to/file.py:Class")
        self.site_ref.setToolTip("Your own site adapter (a SingularitySlurm subclass), by module or file")
        use = QPushButton("Use")
        use.clicked.connect(lambda: self.use_site(self.site_ref.text()))
        self.site_ref.returnPressed.connect(lambda: self.use_site(self.site_ref.text()))
        other.addWidget(self.site_ref, 1)
        other.addWidget(use)
        wl.addRow(other)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #a0a0a0;")
        wl.addRow(self.description)
        self.workers = QSpinBox()
        self.workers.setRange(1, 4096)
        self.workers.setValue(max(1, (os.cpu_count() or 2) - 1))
        self.workers.setToolTip("Worker processes (local) or array tasks running at once (cluster)")
        wl.addRow("workers", self.workers)
        layout.addWidget(where)

        self.site_box = QGroupBox("Site settings")
        sl = QFormLayout(self.site_box)
        self.forms: dict[str, ParameterForm] = {}
        """One settings form per kind of site (its registry entry), made when first shown."""
        self.form: ParameterForm | None = None
        self.form_holder = QVBoxLayout()
        sl.addRow(self.form_holder)
        self.advanced = QCheckBox("advanced settings")
        self.advanced.toggled.connect(lambda shown: self.form.set_advanced(shown) if self.form is not None else None)
        sl.addRow(self.advanced)
        self.extra = QPlainTextEdit()
        self.extra.setPlaceholderText("other settings, one per line: key = value (e.g. sbatch_options = {gres = \"gpu:1\"})")
        self.extra.setMaximumHeight(70)
        sl.addRow("other", self.extra)
        row = QPushButton("Check site")
        row.setToolTip("Connect and check the dependencies, the container, its Python and the scratch directory")
        row.clicked.connect(self.check_site)
        self.check_button = row
        sl.addRow(row)
        self.check_results = QListWidget()
        self.check_results.setMaximumHeight(140)
        sl.addRow(self.check_results)
        layout.addWidget(self.site_box)
        layout.addStretch(1)
        self._on_choice()

    @property
    def name(self) -> str:
        return self.combo.currentData()

    def _site_form(self, name: str):
        """The settings form of site ``name`` (None, and the reason in the description, when it
        cannot be found or is not a registry kind)."""
        try:
            from ..analysis import environment_kind

            entry = environment_kind(name)
        except Exception as exc:  # an adapter file that is gone, a broken profile...
            self.description.setText(f"cannot use {name!r}: {exc}")
            return None
        if entry is None or "sbatch" not in entry.extra:
            return None
        if entry.name not in self.forms:
            shown = dataclasses.replace(entry, parameters=tuple(p for p in entry.parameters if p.name not in OWN_WIDGET))
            form = ParameterForm.from_entry(shown)
            form.set_advanced(self.advanced.isChecked())
            narrow(form.native)
            self.form_holder.addWidget(form.native)
            self.forms[entry.name] = form
        return self.forms[entry.name]

    def _on_choice(self, *_):
        name = self.name
        is_site = name not in (INPROCESS, LOCAL)
        self.workers.setEnabled(name != INPROCESS)
        if name == INPROCESS:
            text = "Units run one after the other in this napari (cancellable); nothing to install."
        elif name == LOCAL:
            text = "Units run in parallel worker processes on this computer (default: all cores but one)."
        else:
            text = next((d for n, _, d in self.sites if n == name), "")
        self.description.setText(text)
        form = self._site_form(name) if is_site else None
        for f in self.forms.values():
            f.visible = f is form
        self.form = form
        self.site_box.setVisible(is_site)

    def select(self, name: str) -> None:
        i = self.combo.findData(name)
        if i < 0:
            self.combo.addItem(f"{name} — your adapter", name)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)

    def use_site(self, name: str) -> bool:
        """Use the site typed: a name, ``package.module:Class`` or ``path/to/file.py:Class``. One
        that cannot be found is one notification listing the known sites; the choice is unchanged."""
        name = str(name).strip()
        if not name:
            return False
        try:
            from ..analysis import environment_kind

            environment_kind(name)
        except Exception as exc:  # SiteNotFound lists the known sites; a broken adapter says why
            notify_error(user_message(f"cannot use the site {name!r}", exc, "choose one in the list above"))
            return False
        self.select(name)
        return True

    # -- options ------------------------------------------------------------------------------------------------
    def options(self) -> dict:
        """The chosen environment's settings, for the spec and the factory: the form's values that
        differ from the registry's defaults, the sbatch ones gathered in ``sbatch_options``, then the
        "other" lines (they win)."""
        name = self.name
        if name == INPROCESS:
            return {}
        if name == LOCAL:
            return {"worker_count": int(self.workers.value())}
        sbatch_keys = self.form.entry.extra.get("sbatch", ()) if self.form is not None else ()
        opts: dict = {}
        sbatch: dict = {}
        values = dict(self.form.values()) if self.form is not None else {}
        values.update(_parse_extra(self.extra.toPlainText()))
        for key, value in values.items():
            if value == "":  # an empty field is unset
                continue
            if key in sbatch_keys:
                sbatch[key.replace("_", "-")] = value
            elif key == SBATCH_OPTIONS and isinstance(value, dict):
                sbatch.update(value)
            else:
                opts[key] = value
        if sbatch:
            opts[SBATCH_OPTIONS] = sbatch
        opts["worker_count"] = int(self.workers.value())
        return opts

    def environment_factory(self, confirm_host_key=None, ask_secret=None):
        """A function making the chosen environment (sites get the dialogs' callbacks).

        Read the widgets now, on the GUI thread; call the function in a worker thread (a site
        may connect while it is made).
        """
        from ..analysis import make_environment

        name, opts = self.name, self.options()
        confirm = confirm_host_key or self.bridge.confirm_host_key
        secret = ask_secret or self.bridge.ask_secret
        return lambda: make_environment(name, opts, confirm_host_key=confirm, ask_secret=secret)

    # -- check --------------------------------------------------------------------------------------------------
    def check_site(self):
        """Run the site's checks in a background thread; list the results."""
        if self.name in (INPROCESS, LOCAL):
            return None
        from ..analysis import check_site

        self.check_results.clear()
        self.check_results.addItem("connecting…")
        self.check_button.setEnabled(False)

        factory = self.environment_factory()

        def work():
            return check_site(factory())

        name = self.name

        def done(results):
            self.check_results.clear()
            for r in results or []:  # CheckResult: the CLI's line, the whole message as tooltip
                item = QListWidgetItem(r.line())
                item.setToolTip(r.message or r.title)
                self.check_results.addItem(item)
            failed = [r for r in results or [] if r.ok is False]
            if failed:  # one notification: the first failure (host, port and cause for a connection)
                more = f" (and {len(failed) - 1} more, listed in the Where tab)" if len(failed) > 1 else ""
                notify_error(f"napari-tramway: the check of site {name} failed: {failed[0].line()}{more}")

        def failed(exc):
            self.check_results.clear()
            self.check_results.addItem(QListWidgetItem(f"✗ {type(exc).__name__}: {exc}"))
            notify_error(user_message("site check failed", exc, "check the site's settings and that you can log in "
                                      "with ssh"))

        def finished():
            self.check_button.setEnabled(True)
            self._check_worker = None

        self._check_worker = start_worker(work, what="site check", returned=done, errored=failed, finished=finished)
        return self._check_worker

    # -- spec ---------------------------------------------------------------------------------------------------------
    def to_spec(self, spec) -> None:
        from ..pipeline.spec import EnvironmentSpec

        spec.environment = EnvironmentSpec(self.name, self.options())

    def from_spec(self, spec) -> None:
        env = spec.environment
        name = env.name
        if name in ("in-process", "none", ""):
            name = INPROCESS
        if name.startswith("local:"):
            self.workers.setValue(int(name.split(":", 1)[1]))
            name = LOCAL
        self.select(name)
        opts = dict(env.options or {})
        for key in ("worker_count", "max_running"):
            if opts.get(key):
                self.workers.setValue(int(opts[key]))
            opts.pop(key, None)
        form = self.form
        shown = {p.name for p in form.entry.parameters} if form is not None else set()
        sbatch_keys = form.entry.extra.get("sbatch", ()) if form is not None else ()
        sbatch = dict(opts.pop(SBATCH_OPTIONS, None) or {})
        values = {k: opts.pop(k) for k in list(opts) if k in shown}
        for key in list(sbatch):
            if key.replace("-", "_") in sbatch_keys:
                values[key.replace("-", "_")] = sbatch.pop(key)
        if form is not None:
            form.set_values(values)
        if sbatch:
            opts[SBATCH_OPTIONS] = sbatch
        self.extra.setPlainText(_format_extra(opts))


def _kinds() -> dict:
    """The environment registry's kinds by name."""
    from ..analysis import environment_kinds

    return dict(environment_kinds().items())
