"""Slurm job arrays within a site's limits: which array jobs a stage's units become.

A site limits arrays with ``MaxArraySize`` (task ids go from 0 to MaxArraySize - 1; default 1001)
and possibly ``SchedulerParameters=max_array_tasks=N`` (tasks per array); the pre-flight check
reads both from ``scontrol show config``. A stage with more units is split into several array
jobs, each with task ids from 0 and an *offset* added by the job script (``$1``), so that task
``i`` of a chunk runs the unit ``offset + i`` of the stage's units file. With a throttle (``%N``,
the most tasks running at once), the chunks of a stage run one after the other
(``--dependency=afterany``) so that the throttle holds for the whole stage; a later stage waits
for every chunk of the one before (``--dependency=afterok``, and ``--kill-on-invalid-dep=yes`` so
that a failure cancels it instead of leaving it pending forever).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Slurm's default MaxArraySize (task ids 0-1000), assumed when the site's is unknown
DEFAULT_MAX_ARRAY_SIZE = 1001


@dataclass
class ArrayJob:
    """One ``sbatch`` of an array job: task ids ``tasks`` (relative), run as units ``offset + id``."""

    name: str
    """Its name in the run directory (``jobs/<name>.id`` keeps the submitted job id)."""
    stage: str
    script: str
    offset: int
    tasks: str
    """The task ids, e.g. ``0-99`` or ``0,3,7-9`` (without the throttle)."""
    throttle: int | None = None
    after_ok: list[str] = field(default_factory=list)
    """Names of array jobs (of the same submission) that must all succeed first."""
    after_any: list[str] = field(default_factory=list)
    """Names of array jobs that must end first, whatever their outcome."""

    @property
    def array(self) -> str:
        """The ``--array`` value: ``0-99%4``."""
        return self.tasks + (f"%{int(self.throttle)}" if self.throttle else "")

    def indices(self) -> list[int]:
        """The units (indices in the stage's units file) this array job runs."""
        return [self.offset + i for i in expand(self.tasks)]

    def record(self) -> dict:
        """What the run ledger keeps of it (with ``job_id`` once submitted)."""
        return {"name": self.name, "stage": self.stage, "script": self.script, "offset": self.offset,
                "tasks": self.tasks, "array": self.array, "after_ok": list(self.after_ok),
                "after_any": list(self.after_any)}


def indices_spec(indices: list[int] | None, count: int, throttle: int | None) -> str:
    """The ``--array`` value: ``0-99%4`` for every task, or ``3,7,9%4`` for a subset."""
    if indices is None:
        text = f"0-{count - 1}" if count > 1 else "0"
    else:
        text = compress(sorted(set(indices)))
    if throttle:
        text += f"%{int(throttle)}"
    return text


def compress(values: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``0-2,5,7-8``."""
    parts = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}-{values[j]}")
        i = j + 1
    return ",".join(parts)


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?(?::(\d+))?$")


def expand(spec: str) -> list[int]:
    """``'1-5%2'`` or ``'[0,3,5-7]'`` → the task ids (the ``%throttle`` and ``:step`` handled)."""
    spec = spec.strip().strip("[]")
    spec = spec.split("%", 1)[0]
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"cannot read array task range {spec!r}")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        step = int(m.group(3)) if m.group(3) else 1
        out.extend(range(a, b + 1, step))
    return out


def array_limit(config_lines) -> int:
    """The most task ids one array job may span, from ``scontrol show config`` lines:
    ``MaxArraySize`` (ids 0 to MaxArraySize - 1) and ``max_array_tasks`` of
    ``SchedulerParameters``; :data:`DEFAULT_MAX_ARRAY_SIZE` when neither is there. 0: the site
    disables arrays."""
    limit = None
    tasks = None
    for line in config_lines or ():
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key == "MaxArraySize" and value.isdigit():
            limit = int(value)
        elif key == "SchedulerParameters":
            m = re.search(r"(?:^|,)max_array_tasks=(\d+)", value)
            if m:
                tasks = int(m.group(1))
    limit = DEFAULT_MAX_ARRAY_SIZE if limit is None else limit
    return min(limit, tasks) if tasks is not None else limit


def chunks(indices: list[int], limit: int) -> list[tuple[int, list[int]]]:
    """Split unit indices into ``(offset, task ids)`` pairs whose task ids stay below ``limit``."""
    if limit < 1:
        raise ValueError("this cluster does not allow job arrays (MaxArraySize=0)")
    values = sorted(set(indices))
    out = []
    i = 0
    while i < len(values):
        offset = values[i]
        j = i
        while j < len(values) and values[j] - offset < limit:
            j += 1
        out.append((offset, [v - offset for v in values[i:j]]))
        i = j
    return out


def plan(stage: str, seq: int, script: str, indices: list[int], limit: int, throttle: int | None = None,
         after_ok: list[str] | None = None) -> list[ArrayJob]:
    """The array jobs of one stage's units (``indices`` in its units file), within ``limit``.

    Chunks are named ``<stage>-<seq>-<k>``; with a throttle each chunk waits for the one before
    (``after_any``) so that at most ``throttle`` tasks of the stage run at once; every chunk
    waits for the success of ``after_ok``.
    """
    jobs: list[ArrayJob] = []
    for k, (offset, tasks) in enumerate(chunks(indices, limit)):
        jobs.append(ArrayJob(f"{stage}-{seq}-{k}", stage, script, offset, compress(tasks), throttle,
                             list(after_ok or []), [jobs[-1].name] if throttle and jobs else []))
    return jobs


__all__ = ["DEFAULT_MAX_ARRAY_SIZE", "ArrayJob", "array_limit", "chunks", "compress", "expand", "indices_spec",
           "plan"]
