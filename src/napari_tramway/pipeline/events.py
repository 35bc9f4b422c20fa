"""The event vocabulary of a run, shared by the unit worker, every environment (in-process, local
processes, Slurm), the façade and the faces (the CLI's progress bar, the napari runs panel).

Every unit goes through ``queued`` → (``pending``) → ``started`` → ``progress``… → one of
``done``, ``failed``, ``cancelled`` or ``skipped`` (already done). ``state`` carries the
scheduler's own state when there is one (e.g. Slurm ``PENDING`` with its ``reason``). Run-level
messages have ``unit=None`` (``kind='run'``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

QUEUED = "queued"
PENDING = "pending"
STARTED = "started"
PROGRESS = "progress"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
SKIPPED = "skipped"
RUN = "run"
KINDS = (QUEUED, PENDING, STARTED, PROGRESS, DONE, FAILED, CANCELLED, SKIPPED, RUN)
FINAL = (DONE, FAILED, CANCELLED, SKIPPED)


@dataclass
class UnitEvent:
    """One thing that happened to a unit (or to the run when ``unit`` is None)."""

    kind: str
    unit: str | None = None
    message: str = ""
    fraction: float | None = None
    error: str | None = None
    traceback: str | None = None
    where: str | None = None
    state: str | None = None
    reason: str | None = None
    time: float = field(default_factory=time.time)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")

    @property
    def final(self) -> bool:
        return self.kind in FINAL

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> UnitEvent:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def describe(self) -> str:
        """One human line, for logs and the CLI."""
        if self.unit is not None:
            parts = [f"{self.unit}: {self.kind}"]
        else:  # a run-level message: "run: <message>", not "run: run <message>"
            parts = ["run:"] if self.kind == RUN else [f"run: {self.kind}"]
        if self.state:
            parts.append(f"[{self.state}{', ' + self.reason if self.reason else ''}]")
        if self.fraction is not None and self.kind == PROGRESS:
            parts.append(f"{100 * self.fraction:.0f}%")
        if self.message:
            parts.append(self.message)
        if self.error:
            parts.append(("— " if self.message else "error: ") + self.error)
        if self.where:
            parts.append(f"({self.where})")
        return " ".join(parts)


@dataclass
class RunSummary:
    """Final state of every unit of a run, plus the run's own status."""

    states: dict[str, str]
    errors: dict[str, str]
    cancelled: bool = False
    run_id: str | None = None
    elapsed: float = 0.0

    def count(self, kind: str) -> int:
        return sum(1 for s in self.states.values() if s == kind)

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(s in (DONE, SKIPPED) for s in self.states.values())

    def describe(self) -> str:
        parts = [f"{self.count(k)} {k}" for k in (DONE, SKIPPED, FAILED, CANCELLED) if self.count(k)]
        other = len(self.states) - sum(self.count(k) for k in (DONE, SKIPPED, FAILED, CANCELLED))
        if other:
            parts.append(f"{other} unfinished")
        text = ", ".join(parts) or "no unit"
        return f"{text} in {self.elapsed:.1f} s" + (" (cancelled)" if self.cancelled else "")
