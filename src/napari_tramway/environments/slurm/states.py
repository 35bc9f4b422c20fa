"""What Slurm says, read: every job state mapped to the event vocabulary, array task ids, and
the ``@@`` sections of the remote commands' output (:mod:`.commands`), with the poll's.

:data:`SLURM_STATES` maps every Slurm job state to an event kind of
:mod:`napari_tramway.pipeline.events` and a sentence for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...pipeline.events import CANCELLED, DONE, FAILED, PENDING, STARTED
from .arrays import expand

# ---------------------------------------------------------------------------------------------
# Slurm states
# ---------------------------------------------------------------------------------------------

SLURM_STATES: dict[str, tuple[str, str]] = {
    # state: (event kind, what it means for the user)
    "PENDING": (PENDING, "waiting in the queue"),
    "CONFIGURING": (PENDING, "resources allocated, node being configured"),
    "REQUEUED": (PENDING, "requeued, waiting to run again"),
    "REQUEUE_HOLD": (PENDING, "requeued and held"),
    "REQUEUE_FED": (PENDING, "requeued (federation)"),
    "RESV_DEL_HOLD": (PENDING, "held: its reservation was deleted"),
    "SUSPENDED": (PENDING, "suspended (not running now)"),
    "STOPPED": (PENDING, "stopped (SIGSTOP), keeps its allocation"),
    "RUNNING": (STARTED, "running"),
    "COMPLETING": (STARTED, "finishing"),
    "RESIZING": (STARTED, "being resized"),
    "SIGNALING": (STARTED, "being signalled"),
    "STAGE_OUT": (STARTED, "staging out"),
    "COMPLETED": (DONE, "finished with exit status 0"),
    "FAILED": (FAILED, "finished with a non-zero exit status"),
    "TIMEOUT": (FAILED, "reached its time limit (raise the sbatch option 'time')"),
    "OUT_OF_MEMORY": (FAILED, "ran out of memory (raise the sbatch option 'mem')"),
    "NODE_FAIL": (FAILED, "its node failed"),
    "BOOT_FAIL": (FAILED, "its node failed to boot"),
    "DEADLINE": (FAILED, "missed its deadline"),
    "PREEMPTED": (FAILED, "preempted by another job"),
    "SPECIAL_EXIT": (FAILED, "special exit state (held after a failure)"),
    "LAUNCH_FAILED": (FAILED, "could not be launched"),
    "REVOKED": (CANCELLED, "revoked (federation: it runs on another cluster)"),
    "CANCELLED": (CANCELLED, "cancelled"),
}
TERMINAL_STATES = frozenset(s for s, (k, _) in SLURM_STATES.items() if k in (DONE, FAILED, CANCELLED))


@dataclass(frozen=True)
class TaskState:
    """What Slurm says about one array task."""

    state: str
    reason: str | None = None
    node: str | None = None
    exit_code: str | None = None
    source: str = "sacct"

    @property
    def kind(self) -> str | None:
        """The event kind (pending/started/done/failed/cancelled), or None for an unknown state."""
        entry = SLURM_STATES.get(self.state)
        return entry[0] if entry else None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def meaning(self) -> str:
        entry = SLURM_STATES.get(self.state)
        return entry[1] if entry else f"unknown Slurm state {self.state}"


def map_state(state: str, reason: str | None = None) -> tuple[str | None, str | None, str | None]:
    """``(event kind, state, reason)`` for a Slurm state as printed by sacct/squeue/scontrol.

    ``CANCELLED by 1001`` gives ``('cancelled', 'CANCELLED', 'by 1001')``; an unknown state gives
    kind None.
    """
    state = (state or "").strip()
    word, _, rest = state.partition(" ")
    word = word.rstrip("+").upper()
    reason = _clean_reason(reason)
    if rest:
        reason = rest.strip() if not reason else f"{rest.strip()}; {reason}"
    entry = SLURM_STATES.get(word)
    return (entry[0] if entry else None), word, reason


def _clean_reason(reason):
    if reason is None:
        return None
    reason = reason.strip().strip("()")
    return None if reason in ("", "None", "(null)", "n/a", "N/A") else reason


# ---------------------------------------------------------------------------------------------
# Job / task ids
# ---------------------------------------------------------------------------------------------

def expand_indices(spec: str) -> list[int]:
    """``'1-5%2'`` or ``'[0,3,5-7]'`` → the task indices (the ``%throttle`` and ``:step`` handled)."""
    return expand(spec)


def parse_task_id(text: str) -> tuple[str, list[int]] | None:
    """``'123_4'`` → ``('123', [4])``; ``'123_[2-5%2]'`` → ``('123', [2, 3, 4, 5])``; else None."""
    text = text.strip()
    m = re.match(r"^(\d+)_(\[?[\d,\-%:]+\]?)$", text)
    if not m:
        return None
    try:
        return m.group(1), expand_indices(m.group(2))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Output parsing
# ---------------------------------------------------------------------------------------------

def sections(output: str) -> list[tuple[str, str, list[str]]]:
    """Split ``@@NAME args`` sections: a list of ``(name, args, lines)`` in order."""
    out: list[tuple[str, str, list[str]]] = []
    current = None
    for line in output.splitlines():
        if line.startswith("@@") and re.match(r"^@@[A-Z_]+( |$)", line):
            name, _, args = line[2:].partition(" ")
            current = (name, args, [])
            out.append(current)
        elif current is not None:
            current[2].append(line)
    return out


def _parse_states(lines: list[str], node_col: int, exit_col: int | None, source: str) -> dict[tuple[str, int], TaskState]:
    """``JobID|State|Reason|...`` lines → task states (``node_col``/``exit_col``: where those fields are)."""
    out = {}
    for line in lines:
        parts = line.split("|")
        if len(parts) < 2:
            continue
        ids = parse_task_id(parts[0])
        if ids is None:
            continue
        job, idx = ids
        _, state, reason = map_state(parts[1], parts[2] if len(parts) > 2 else None)
        node = parts[node_col].strip() if len(parts) > node_col else None
        node = None if node in ("", "None assigned", "(null)") else node
        exit_code = parts[exit_col].strip() if exit_col is not None and len(parts) > exit_col else None
        for i in idx:
            out[(job, i)] = TaskState(state, reason, node, exit_code, source)
    return out


def parse_sacct(lines: list[str]) -> dict[tuple[str, int], TaskState]:
    """``sacct -n -P -X -o JobID,State,Reason,ExitCode,NodeList`` lines → task states."""
    return _parse_states(lines, node_col=4, exit_col=3, source="sacct")


def parse_squeue(lines: list[str]) -> dict[tuple[str, int], TaskState]:
    """``squeue -h -r -t all -o '%i|%T|%r|%N'`` lines → task states."""
    return _parse_states(lines, node_col=3, exit_col=None, source="squeue")


def parse_scontrol(lines: list[str]) -> dict[tuple[str, int], TaskState]:
    """``scontrol show job -o ID`` lines (one record per line) → task states."""
    out = {}
    for line in lines:
        fields = {}
        for key in ("ArrayJobId", "ArrayTaskId", "JobState", "Reason", "NodeList", "ExitCode"):
            m = re.search(rf"(?:^|\s){key}=(\S*)", line)
            if m:
                fields[key] = m.group(1)
        if "ArrayJobId" not in fields or "ArrayTaskId" not in fields or "JobState" not in fields:
            continue
        try:
            idx = expand_indices(fields["ArrayTaskId"])
        except ValueError:
            continue
        _, state, reason = map_state(fields["JobState"], fields.get("Reason"))
        node = fields.get("NodeList")
        node = None if node in (None, "", "(null)") else node
        for i in idx:
            out[(fields["ArrayJobId"], i)] = TaskState(state, reason, node, fields.get("ExitCode"), "scontrol")
    return out


def merge_states(sacct: dict, squeue: dict) -> dict[tuple[str, int], TaskState]:
    """One state per task: a terminal state wins (whichever tool saw it first), else the live
    queue's (it has the pending reason), else accounting's."""
    out = dict(sacct)
    for key, q in squeue.items():
        a = out.get(key)
        if a is None or (q.terminal and not a.terminal) or (not a.terminal and not q.terminal):
            if a is not None and q.node is None and a.node:
                q = TaskState(q.state, q.reason, a.node, a.exit_code, q.source)
            out[key] = q
    return out


_SBATCH_ERRORS = tuple(re.compile(p + r":\s*(.+)$", re.I) for p in (
    r"Batch job submission failed", r"allocation failure", r"sbatch: error"))


def sbatch_error(text: str) -> str:
    """The site's own reason in what ``sbatch`` printed when it refused a job, as one line:
    ``Invalid account or account/partition combination specified`` from ``sbatch: error: Batch
    job submission failed: Invalid account...``; the last non-empty line when none is found."""
    for pattern in _SBATCH_ERRORS:  # the submission failure itself first, then a warning before it
        found = [m.group(1).strip() for line in text.splitlines() if (m := pattern.search(line.strip()))]
        if found:
            return found[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


ACCOUNTING_DISABLED = re.compile(r"accounting storage is disabled", re.I)


@dataclass
class PollResult:
    """What one poll found: task states, new markers, the results tar, accounting status."""

    states: dict
    markers: list  # (relative path, mtime key, content text)
    tar: tuple[str, int] | None
    accounting: str  # ok | disabled | failed | skipped
    accounting_error: str = ""
    queue_error: str = ""
    run_dir_missing: bool = False
    tar_error: str = ""


def parse_poll(output: str) -> PollResult:
    secs = sections(output)
    sacct_lines, squeue_lines, scontrol_lines = [], [], []
    accounting, acc_err, queue_err = "skipped", "", ""
    markers = []
    tar = None
    tar_error = ""
    missing = False
    i = 0
    while i < len(secs):
        name, args, lines = secs[i]
        rc_lines = secs[i + 1] if i + 1 < len(secs) and secs[i + 1][0] == "RC" else None
        rc = int(rc_lines[1]) if rc_lines and rc_lines[1].strip().lstrip("-").isdigit() else None
        if name == "NORUN":
            missing = True
        elif name == "SACCT":
            text = "\n".join(lines)
            if ACCOUNTING_DISABLED.search(text):
                accounting, acc_err = "disabled", text.strip()[-300:]
            elif rc == 0:
                accounting, sacct_lines = "ok", lines
            else:
                accounting = "failed"
                acc_err = (text.strip()[-300:] or f"exit status {rc}") + (" (timed out)" if rc == 124 else "")
        elif name == "SQUEUE":
            text = "\n".join(lines)
            if rc == 0:
                squeue_lines = lines
            elif "Invalid job id" in text:
                squeue_lines = []  # every job of the run has left the controller's memory
            else:
                queue_err = text.strip()[-300:] or f"exit status {rc}"
        elif name == "SCONTROL":
            scontrol_lines = lines
        elif name == "FILE":
            path, _, mtime = args.partition("\t")
            markers.append((path, mtime, "\n".join(lines)))
        elif name == "TAR":
            p, _, size = args.rpartition(" ")
            tar = (p, int(size) if size.isdigit() else -1)
        elif name == "TARERR":
            tar_error = args
        i += 2 if rc_lines else 1
    states = merge_states(parse_sacct(sacct_lines), parse_squeue(squeue_lines))
    if scontrol_lines:
        states = merge_states(states, parse_scontrol(scontrol_lines))
    return PollResult(states, markers, tar, accounting, acc_err, queue_err, missing, tar_error)
