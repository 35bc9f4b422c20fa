"""Units running in napari's own process wait while the GUI thread puts maps on screen.

A fit in this process (the ``inprocess`` environment) and napari's GUI thread share Python's GIL:
while both run Python, each gets about half of it, and every OpenGL call of the GUI (which
releases the GIL) has to win it back. ``benchmarks/gui_stall.py`` measured the GUI's turns (adding
a layer, drawing it) two to three times longer while a fit ran beside them. So the GUI has the
first claim: while a :class:`~napari_tramway._widgets.common.LayerFeeder` has layers to put on
screen (about a second per batch of maps), an in-process unit waits at its next check for
cancellation (once per optimizer iteration: every 1–30 ms), and the run's worker thread waits
before building the next unit's layer data. The run loses that second; a cancellation is seen at
once; a wait never lasts more than :data:`MAX_WAIT_S`.
"""

from __future__ import annotations

import threading

#: The longest a unit waits for the GUI at one check (s), whatever happens to the GUI.
MAX_WAIT_S = 5.0


class GuiWork:
    """Whether the GUI thread has maps to put on screen (counted per feeder)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._busy: set[int] = set()
        self._idle = threading.Event()
        self._idle.set()

    def begin(self, who) -> None:
        with self._lock:
            self._busy.add(id(who))
            self._idle.clear()

    def end(self, who) -> None:
        with self._lock:
            self._busy.discard(id(who))
            if not self._busy:
                self._idle.set()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def wait_idle(self, timeout: float = MAX_WAIT_S) -> bool:
        """Wait until the GUI has nothing to put on screen (at most ``timeout`` s); whether it has not."""
        return self._idle.wait(timeout)


GUI_WORK = GuiWork()


class _CancelAfterGui:
    """The run's cancel event as an in-process unit sees it: checking it first waits for the GUI."""

    def __init__(self, event, work: GuiWork = GUI_WORK):
        self._event = event
        self._work = work

    def is_set(self) -> bool:
        if not self._event.is_set() and threading.current_thread() is not threading.main_thread():
            self._work.wait_idle()
        return self._event.is_set()

    def __getattr__(self, name):
        return getattr(self._event, name)


def gui_first(env):
    """``env`` itself; when it runs units in this process, their cancel checks wait for the GUI."""
    if getattr(env, "name", None) != "inprocess" or not hasattr(env, "execute") or getattr(env, "_gui_first", False):
        return env
    execute = env.execute

    def execute_after_gui(job, emit, cancel):
        return execute(job, emit, _CancelAfterGui(cancel))

    env.execute = execute_after_gui
    env._gui_first = True
    return env
