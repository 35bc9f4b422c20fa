"""How the command line shows a run's events (:class:`~napari_tramway.pipeline.events.UnitEvent`):
a one-line progress bar over units on a terminal, plain lines otherwise.

A run that cannot go on (a site that cannot be reached...) raises its error, which the command
prints once; the run-level event that carries it is not shown again here.
"""

from __future__ import annotations

import sys
import time

FINAL = ("done", "failed", "cancelled", "skipped")


class ProgressBar:
    """A one-line terminal progress bar over units (plain lines when not a terminal); run-level
    messages (a site's checks, the upload, the submitted job...) are printed as lines."""

    def __init__(self, total: int, stream=None, verbose: bool = False):
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.verbose = verbose
        self.states: dict[str, str] = {}
        self.fraction: dict[str, float] = {}
        self.last = 0.0

    def __call__(self, ev):
        if ev.unit is None:
            if not ev.error:  # a run-level error is raised, and printed once by the command
                self._line(ev.describe(), newline=True)
            return
        if ev.kind == "progress" and ev.fraction is not None:
            self.fraction[ev.unit] = ev.fraction
        elif ev.kind != "progress":
            self.states[ev.unit] = ev.kind + (f" [{ev.state}]" if ev.state else "")
        if ev.kind == "failed":
            self._line(ev.describe(), newline=True)
            if self.verbose and ev.traceback:
                self._line(ev.traceback.rstrip(), newline=True)
            return
        if not self.tty:
            if ev.kind in ("done", "cancelled", "skipped") or self.verbose:
                self._line(ev.describe(), newline=True)
            return
        now = time.monotonic()
        if now - self.last < 0.1 and ev.kind == "progress":
            return
        self.last = now
        fin = sum(1 for s in self.states.values() if s.split()[0] in FINAL)
        running = [u for u, s in self.states.items() if s.startswith("started")]
        frac = (fin + sum(self.fraction.get(u, 0.0) for u in running)) / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self._line(f"[{bar}] {fin}/{self.total} units, {len(running)} running")

    def _line(self, text, newline=False):
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if newline else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")


def event_lines(verbose: bool, only_failures: bool = False):
    """An events callback printing one line per event to stderr: every event when ``verbose``,
    else run-level messages (unless ``only_failures``), failures and cancellations."""
    def cb(ev):
        if ev.unit is None and ev.error:
            return  # raised, and printed once by the command
        if verbose or ev.kind == "failed" or (not only_failures and (ev.unit is None or ev.kind == "cancelled")):
            print(ev.describe(), file=sys.stderr)
            if verbose and ev.kind == "failed" and ev.traceback:
                print(ev.traceback, file=sys.stderr)
    return cb


def print_summary(summary) -> None:
    """The summary line of a run, then one line per failed unit (stdout)."""
    print(summary.describe())
    for label, err in summary.errors.items():
        print(f"  failed {label}: {err}")
