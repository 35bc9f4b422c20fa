"""Environment: where the units run — here (in-process), local processes, or a cluster site.

Sites are the presets, the adapters registered by packages and the TOML profiles that
:mod:`napari_tramway.environments.sites` lists. "Check site" connects (host-key confirmation and
password / one-time-code prompts are Qt dialogs, answered on the GUI thread while the check
waits in its own thread) and says what is missing on the cluster.
"""

from __future__ import annotations

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

from .common import if_alive, notify_error
from .dialogs import PromptBridge

INPROCESS = "inprocess"
LOCAL = "local"

#: Site options shown as fields (name, label, tooltip); others go in the free-form box.
SITE_FIELDS = (
    ("username", "user name", "Login on the cluster (default: from ~/.ssh/config, or your local user name)"),
    ("container", "container image", "Path of the Singularity/Apptainer image on the cluster"),
    ("partition", "partition", "Slurm partition (sbatch --partition)"),
    ("time", "time limit", "Slurm time limit per task, e.g. 1:00:00 (sbatch --time)"),
    ("mem", "memory", "Memory per task, e.g. 4G (sbatch --mem)"),
)
SBATCH_KEYS = ("partition", "time", "mem", "cpus_per_task", "qos", "account")


def list_sites() -> list[tuple[str, str, str]]:
    """``(name, kind, description)`` of every known site; empty when sites are not available."""
    try:
        from ..environments import sites
    except Exception:
        return []
    try:
        return [tuple(s) for s in sites.list_sites()]
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
    """``key = value`` lines that :func:`_parse_extra` reads back (JSON scalars and arrays are TOML)."""
    import json

    return "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())


class EnvironmentPanel(QWidget):
    """Choose where units run; check a site."""

    def __init__(self, viewer, main=None, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.main = main
        self._check_worker = None
        self.bridge = PromptBridge(self)  # the main widget withdraws questions of a cancelled run
        layout = QVBoxLayout(self)

        where = QGroupBox("Run on")
        wl = QFormLayout(where)
        self.combo = QComboBox()
        self.combo.addItem("this process (in-process)", INPROCESS)
        self.combo.addItem("local processes", LOCAL)
        self.sites = list_sites()
        for name, kind, description in self.sites:
            self.combo.addItem(f"{name} — {kind}", name)
            self.combo.setItemData(self.combo.count() - 1, description, 3)
        self.combo.currentIndexChanged.connect(self._on_choice)
        wl.addRow(self.combo)
        other = QHBoxLayout()
        self.site_ref = QLineEdit()
        self.site_ref.setPlaceholderText("or a site adapter: package.module:Class or path/to/file.py:Class")
        self.site_ref.setToolTip("Your own site adapter (a SingularitySlurm subclass), by module or file")
        use = QPushButton("Use")
        use.clicked.connect(lambda: self.select(self.site_ref.text().strip()) if self.site_ref.text().strip() else None)
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
        self.fields: dict[str, QLineEdit] = {}
        for key, label, tip in SITE_FIELDS:
            edit = QLineEdit()
            edit.setToolTip(tip)
            edit.setPlaceholderText("default")
            sl.addRow(label, edit)
            self.fields[key] = edit
        self.keep_remote = QCheckBox("keep the remote run directory")
        sl.addRow(self.keep_remote)
        self.extra = QPlainTextEdit()
        self.extra.setPlaceholderText("other options, one per line: key = value")
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

    def _on_choice(self, *_):
        name = self.name
        is_site = name not in (INPROCESS, LOCAL)
        self.site_box.setVisible(is_site)
        self.workers.setEnabled(name != INPROCESS)
        if name == INPROCESS:
            text = "Units run one after the other in this napari (cancellable); nothing to install."
        elif name == LOCAL:
            text = "Units run in parallel worker processes on this computer (default: all cores but one)."
        else:
            text = next((d for n, _, d in self.sites if n == name), "")
        self.description.setText(text)

    def select(self, name: str) -> None:
        i = self.combo.findData(name)
        if i < 0:
            self.combo.addItem(f"{name} — your adapter", name)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)

    # -- options ------------------------------------------------------------------------------------------------
    def options(self) -> dict:
        name = self.name
        if name == INPROCESS:
            return {}
        if name == LOCAL:
            return {"worker_count": int(self.workers.value())}
        opts: dict = {}
        sbatch = {}
        for key, edit in self.fields.items():
            v = edit.text().strip()
            if not v:
                continue
            if key in SBATCH_KEYS:
                sbatch[key] = v
            else:
                opts[key] = v
        extra = _parse_extra(self.extra.toPlainText())
        for key in list(extra):
            if key in SBATCH_KEYS:
                sbatch[key] = extra.pop(key)
        opts.update(extra)
        if sbatch:
            opts["sbatch_options"] = {**sbatch, **opts.get("sbatch_options", {})}
        if self.keep_remote.isChecked():
            opts["keep_remote"] = True
        opts["worker_count"] = int(self.workers.value())
        return opts

    def environment_factory(self, confirm_host_key=None, ask_secret=None):
        """A function making the chosen environment (sites get the dialogs' callbacks).

        Read the widgets now, on the GUI thread; call the function in a worker thread (a site
        may connect while it is made).
        """
        name, opts = self.name, self.options()
        confirm = confirm_host_key or self.bridge.confirm_host_key
        secret = ask_secret or self.bridge.ask_secret
        return lambda: make_environment(name, opts, confirm, secret)

    # -- check --------------------------------------------------------------------------------------------------
    def check_site(self):
        """Run the site's checks in a background thread; list the results."""
        if self.name in (INPROCESS, LOCAL):
            return None
        from napari.qt.threading import create_worker

        self.check_results.clear()
        self.check_results.addItem("connecting…")
        self.check_button.setEnabled(False)

        factory = self.environment_factory()

        def work():
            return factory().check()

        worker = create_worker(work)

        def done(results):
            self.check_results.clear()
            for r in results or []:  # CheckResult: the CLI's line, the whole message as tooltip
                item = QListWidgetItem(r.line())
                item.setToolTip(r.message or r.title)
                self.check_results.addItem(item)

        def failed(exc):
            self.check_results.clear()
            self.check_results.addItem(QListWidgetItem(f"✗ {type(exc).__name__}: {exc}"))
            notify_error(f"napari-tramway: site check failed: {exc}")

        worker.returned.connect(if_alive(done))
        worker.errored.connect(if_alive(failed))
        worker.finished.connect(if_alive(lambda: self.check_button.setEnabled(True)))
        worker.finished.connect(lambda: setattr(self, "_check_worker", None))
        self._check_worker = worker
        worker.start()
        return worker

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
        if "worker_count" in opts and opts["worker_count"]:
            self.workers.setValue(int(opts.pop("worker_count")))
        if "max_running" in opts and opts["max_running"]:
            self.workers.setValue(int(opts.pop("max_running")))
        opts.pop("max_running", None)
        opts.pop("worker_count", None)
        sbatch = dict(opts.pop("sbatch_options", {}) or {})
        for key, edit in self.fields.items():
            v = sbatch.pop(key, None) if key in SBATCH_KEYS else opts.pop(key, None)
            edit.setText("" if v is None else str(v))
        self.keep_remote.setChecked(bool(opts.pop("keep_remote", False)))
        if sbatch:
            opts.update(sbatch)
        self.extra.setPlainText(_format_extra(opts))


def make_environment(name, opts, confirm_host_key=None, ask_secret=None):
    """The environment ``name`` with ``opts`` (in-process, local processes, or a site)."""
    from ..environments import InProcess, LocalHost

    if name == INPROCESS:
        return InProcess()
    if name == LOCAL:
        return LocalHost(worker_count=opts.get("worker_count"))
    from ..environments import sites

    return sites.make_site(name, confirm_host_key=confirm_host_key, ask_secret=ask_secret, **opts)
