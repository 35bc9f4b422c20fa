"""Qt dialogs for what a remote environment must ask: unknown host keys, passwords, one-time codes.

The environments call ``confirm_host_key(host, key_type, fingerprint) -> bool`` and
``ask_secret(prompt, echo) -> str | None`` from their own background thread. :class:`PromptBridge`
turns these calls into dialogs on the GUI thread and blocks only the calling (worker) thread
until the user answers; the GUI thread never waits. Secrets are handed to the caller and never
stored.
"""

from __future__ import annotations

import threading

from qtpy.QtCore import QObject, Qt, QThread, Signal, Slot
from qtpy.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class HostKeyDialog(QDialog):
    """Accept or refuse an unknown SSH host key, shown by its SHA256 fingerprint."""

    def __init__(self, host: str, key_type: str, fingerprint: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("napari_tramway_host_key")
        self.setWindowTitle("napari-tramway: unknown host key")
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint
        layout = QVBoxLayout(self)
        text = QLabel(
            f"The authenticity of host <b>{host}</b> cannot be established: its key is not in your "
            f"known hosts.<br><br>{key_type} key fingerprint:<br><tt>{fingerprint}</tt><br><br>"
            "Compare it with the fingerprint your cluster's administrators publish. Accept it only if "
            "they match; it will be remembered, and a changed key will be refused."
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(text)
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("Accept and remember", QDialogButtonBox.ButtonRole.AcceptRole)
        self.refuse_button = buttons.addButton("Refuse", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.refuse_button.setDefault(True)
        layout.addWidget(buttons)

    def answer(self):
        return self.result() == QDialog.DialogCode.Accepted


class SecretDialog(QDialog):
    """Ask for a password or a one-time code (hidden unless ``echo``); nothing is stored."""

    def __init__(self, prompt: str, echo: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("napari_tramway_secret")
        self.setWindowTitle("napari-tramway: authentication")
        layout = QVBoxLayout(self)
        label = QLabel(prompt.strip() or "Password:")
        label.setWordWrap(True)
        layout.addWidget(label)
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if echo else QLineEdit.EchoMode.Password)
        layout.addWidget(self.edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def answer(self):
        if self.result() != QDialog.DialogCode.Accepted:
            return None
        text = self.edit.text()
        self.edit.clear()
        return text


class _Request:
    def __init__(self, kind, args):
        self.kind = kind
        self.args = args
        self.answer = None
        self.done = threading.Event()
        self.dialog = None


class PromptBridge(QObject):
    """Callbacks for environments, answered by Qt dialogs on the GUI thread.

    Create it on the GUI thread. ``confirm_host_key`` and ``ask_secret`` may be called from any
    thread: from a worker thread they post a request to the GUI thread (non-blocking there: the
    dialog is opened with ``open()``) and wait for the answer; ``cancelled`` (a callable) lets a
    cancelled run stop waiting. ``current_dialog`` is the dialog on screen, if any (for tests).
    """

    _request = Signal(object)
    asked = Signal(object)
    """Emitted on the GUI thread with each dialog shown."""

    def __init__(self, parent: QWidget | None = None, cancelled=None):
        super().__init__(parent)
        self._parent_widget = parent
        self.cancelled = cancelled or (lambda: False)
        self.current_dialog: QDialog | None = None
        self._request.connect(self._show, Qt.ConnectionType.QueuedConnection)

    # -- callbacks for environments (any thread) ----------------------------------------------------
    def confirm_host_key(self, host: str, key_type: str, fingerprint: str) -> bool:
        return bool(self._ask("host_key", (str(host), str(key_type), str(fingerprint))))

    def ask_secret(self, prompt: str = "Password:", echo: bool = False) -> str | None:
        return self._ask("secret", (str(prompt), bool(echo)))

    # -- machinery ----------------------------------------------------------------------------------
    def _ask(self, kind, args):
        request = _Request(kind, args)
        app = QApplication.instance()
        if app is not None and QThread.currentThread() is app.thread():
            dialog = self._make(request)
            self.current_dialog = dialog
            self.asked.emit(dialog)
            dialog.exec()
            self.current_dialog = None
            return dialog.answer()
        self._request.emit(request)
        while not request.done.wait(0.1):
            if self.cancelled():
                self._request.emit(_Request("close", (request,)))
                return None
        return request.answer

    def _make(self, request):
        if request.kind == "host_key":
            return HostKeyDialog(*request.args, parent=self._parent_widget)
        return SecretDialog(*request.args, parent=self._parent_widget)

    @Slot(object)
    def _show(self, request):
        if request.kind == "close":
            target = request.args[0]
            if target.dialog is not None:
                target.dialog.reject()
            return
        dialog = self._make(request)
        request.dialog = dialog
        dialog.setWindowModality(Qt.WindowModality.ApplicationModal)

        def finished(_result):
            request.answer = dialog.answer()
            if self.current_dialog is dialog:
                self.current_dialog = None
            request.done.set()
            dialog.deleteLater()

        dialog.finished.connect(finished)
        self.current_dialog = dialog
        dialog.open()
        self.asked.emit(dialog)
