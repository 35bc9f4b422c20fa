"""Readable progress of a run, from its events: ``DV fit — 12 of 40 units — 1 m 20 s left``, and a
line per unit (``iteration 40 · 55 %``, ``running on node3``). No Qt: the runs panel shows these
texts, and a script may print them."""

from __future__ import annotations

import time

FINAL = ("done", "failed", "cancelled", "skipped")
ACTIVE = ("started", "running", "progress")


def format_duration(seconds: float) -> str:
    """``45 s``, ``1 m 20 s``, ``2 h 05 m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} m"


def stage_text(model: str, stage: str | None) -> str:
    """What the run computes: ``DV fit``, ``meshes``."""
    if stage == "tessellate":
        return "meshes"
    return f"{model.upper()} fit" if model else "fit"


class RunProgress:
    """Unit states and fractions of one run, and the text that says how far it is.

    Parameters
    ----------
    labels : sequence of str
        The run's units.
    what : str
        What the run computes (:func:`stage_text`).
    clock : callable
        Seconds (``time.monotonic``), replaceable in tests.
    """

    def __init__(self, labels=(), what: str = "fit", clock=time.monotonic):
        self.what = what
        self.clock = clock
        self.states: dict[str, str] = {label: "queued" for label in labels}
        self.fractions: dict[str, float] = {}
        self.started = clock()
        self.first_start: float | None = None
        self.ended: float | None = None

    def set_units(self, labels) -> None:
        for label in labels:
            self.states.setdefault(label, "queued")

    def update(self, ev) -> None:
        """Take a :class:`~napari_tramway.pipeline.events.UnitEvent`."""
        if ev.unit is None:
            return
        if ev.kind in ("started", "progress") and self.first_start is None:
            self.first_start = self.clock()
        prev = self.states.get(ev.unit)
        if prev in FINAL and ev.kind not in FINAL:
            return
        if ev.kind == "progress":
            self.states[ev.unit] = "running"
            if ev.fraction is not None:
                self.fractions[ev.unit] = float(ev.fraction)
        elif ev.kind == "started":
            self.states[ev.unit] = "running"
        else:
            self.states[ev.unit] = ev.kind
            if ev.kind in FINAL:
                self.fractions.pop(ev.unit, None)

    def finish(self) -> None:
        self.ended = self.clock()

    # -- numbers -------------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.states)

    def count(self, *states) -> int:
        return sum(1 for s in self.states.values() if s in states)

    @property
    def finished(self) -> int:
        return self.count(*FINAL)

    def work_done(self) -> float:
        """Units done, counting running units by their fraction."""
        return self.finished + sum(self.fractions.get(u, 0.0) for u, s in self.states.items() if s == "running")

    def seconds_left(self) -> float | None:
        """Time left at the pace so far (None before there is enough to tell). Units found already
        done (skipped) take no time and do not count in the pace."""
        if self.first_start is None:
            return None
        skipped = self.count("skipped")
        done = self.work_done() - skipped
        todo = self.total - self.work_done()
        elapsed = self.clock() - self.first_start
        if done < 0.05 or elapsed < 1.0:
            return None
        return todo * elapsed / done

    # -- texts ------------------------------------------------------------------------------------------
    def describe(self) -> str:
        """``DV fit — 12 of 40 units — 1 m 20 s left`` (``… done in 2 m 03 s``, failures named)."""
        n, total = self.finished, self.total
        parts = [self.what, f"{n} of {total} unit{'s' if total != 1 else ''}"]
        failed, cancelled = self.count("failed"), self.count("cancelled")
        if self.ended is not None:
            took = format_duration(self.ended - self.started)
            parts[-1] += f" in {took}"
        else:
            left = self.seconds_left()
            if left is not None:
                parts.append(f"{format_duration(left)} left")
            elif self.first_start is None:
                parts.append("starting")
        if failed:
            parts.append(f"{failed} failed")
        if cancelled:
            parts.append(f"{cancelled} cancelled")
        return " — ".join(parts)


def unit_detail(ev) -> tuple[str, str]:
    """``(state, detail)`` of a unit after event ``ev``, in words."""
    if ev.kind == "progress":
        frac = "" if ev.fraction is None else f" · {100 * ev.fraction:.0f} %"
        return "running", f"{ev.message or 'running'}{frac}"
    if ev.kind == "started":
        return "running", f"running on {where_text(ev.where)}" if ev.where else (ev.message or "running")
    if ev.kind == "pending":
        return "pending", "waiting in the queue" + (f" ({ev.reason})" if ev.reason else "")
    if ev.kind == "queued":
        return "queued", ev.message or (f"queued [{ev.state}]" if ev.state else "")
    if ev.kind == "failed":
        where = f" (on {where_text(ev.where)})" if ev.where else ""
        return "failed", f"{ev.error or ev.message}{where}"
    return ev.kind, ev.message or ""


def where_text(where: str | None) -> str:
    """``vm (process 1464)`` for ``vm:1464``; a node name as it is."""
    if not where:
        return ""
    host, sep, pid = str(where).rpartition(":")
    if sep and pid.isdigit():
        return f"{host} (process {pid})"
    return str(where)
