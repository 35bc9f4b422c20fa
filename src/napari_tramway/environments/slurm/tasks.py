"""What each Slurm task of a run is: the run's units and a chain's meshes, keyed by unit label and
``mesh:<region>`` (:data:`~..ledger.MESH`), the array task that runs each, which marker belongs to
which, their states and events, and what happens to the tasks of a stage whose dependency failed.

:class:`RunTasks` is a part of :class:`~.follower.Follower`.
"""

from __future__ import annotations

import json
import time

from ...pipeline.events import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    PENDING,
    QUEUED,
    RUN,
    SKIPPED,
    STARTED,
    UnitEvent,
)
from ..ledger import MESH
from .arrays import expand

#: the pending reason of a job whose dependency failed (and that stays pending without
#: ``--kill-on-invalid-dep=yes``)
NEVER = "DependencyNeverSatisfied"


class RunTasks:
    """A run's units and meshes, their tasks, markers, states and events (mixed into the follower)."""

    def _init_tasks(self, record: dict) -> None:
        from ...pipeline.stages import stage_chain
        from ...pipeline.units import Unit

        self.final_stage = stage_chain(record["stage"])[-1]
        # a chain's meshes first: their events come before those of the units waiting for them
        self.entries = {MESH + e["unit"]["label"]: {**e, "stage": "tessellate"} for e in record.get("mesh_units", [])}
        self.entries.update({e["unit"]["label"]: {**e, "stage": self.final_stage} for e in record["units"]})
        self.unit_objs = {key: Unit.from_dict(e["unit"]) for key, e in self.entries.items()}
        self.key_by_index = {(e["stage"], e["index"]): key for key, e in self.entries.items()}
        self.units = [key for key in self.entries if not key.startswith(MESH)]
        self.states: dict = record.setdefault("states", {key: {"kind": QUEUED} for key in self.entries})
        self.dependency_cancelled: set = set()  # jobs scancelled because their dependency can never be satisfied
        self._task_map()

    def _task_map(self):
        """Which Slurm task (job id, task id) runs which unit or mesh: task ``i`` of an array job runs
        the entry ``offset + i`` of its stage (older records: the entry ``i``)."""
        self.task_of: dict[str, tuple[str, int]] = {}
        self.job_of_task: dict[tuple[str, int], dict] = {}
        for job in self.record.get("jobs", []):
            stage = job.get("stage") or self.final_stage
            if "tasks" in job:
                offset = int(job.get("offset") or 0)
                pairs = [(offset + i, i) for i in expand(job["tasks"])]
            else:
                n = sum(1 for e in self.entries.values() if e["stage"] == stage)
                pairs = [(i, i) for i in (job["indices"] if job.get("indices") is not None else range(n))]
            for index, task in pairs:
                key = self.key_by_index.get((stage, index))
                if key is not None:
                    self.task_of[key] = (job["job_id"], task)
                    self.job_of_task[(job["job_id"], task)] = job

    def final(self, label) -> bool:
        return self.states.get(label, {}).get("kind") in FINAL

    def all_final(self) -> bool:
        return all(self.final(key) for key in self.entries)

    def _event(self, key, kind, **info):
        """A unit's event; a chain's mesh becomes a run-level message (``mesh cell0/roi000: done``)."""
        if not key.startswith(MESH):
            self.emit(UnitEvent(kind, key, **info))
            return
        if kind in (PENDING, STARTED, QUEUED):
            return  # the units waiting for the meshes say so (pending, reason Dependency)
        text = (info.get("error") or info.get("message") or "").strip("()")
        self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: mesh {key[len(MESH):]}: {kind}"
                            + (f" ({text})" if text else "")))

    def _set(self, label, kind, **info):
        st = {"kind": kind, "time": time.time()}
        st.update({k: v for k, v in info.items() if v is not None})
        self.states[label] = st

    def replay(self):
        """On attach: report each unit's (and mesh's) known state first."""
        for key in self.entries:
            st = self.states.get(key, {"kind": QUEUED})
            kind = st.get("kind", QUEUED)
            if kind == FAILED:
                self._event(key, FAILED, error=st.get("error"), state=st.get("slurm"),
                            reason=st.get("reason"), message="(before attach)")
            elif kind in (DONE, CANCELLED, SKIPPED, PENDING, STARTED, QUEUED):
                self._event(key, kind, state=st.get("slurm"), reason=st.get("reason"),
                            message="(before attach)" if kind in FINAL else "")

    def _key_of(self, path: str, text: str = "") -> tuple[str | None, str | None]:
        """The unit (or mesh) of a done/failed marker, and ``'done'`` or ``'failed'``; ``(None, None)``
        for a marker that is not one of this run's (a path leaving the store is never one)."""
        for prefix in ("units/", "tessellations/"):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            for suffix, kind in ((".done.json", "done"), (".failed.json", "failed")):
                if not rest.endswith(suffix):
                    continue
                name = rest[: -len(suffix)]
                if ".." in name.split("/"):
                    return None, None
                if kind == "done" and prefix == "tessellations/":
                    key = MESH + name if MESH + name in self.entries else (
                        name if self.final_stage == "tessellate" else None)
                elif kind == "done":
                    key = name if self.final_stage != "tessellate" else None
                elif prefix == "units/":  # a failure record: whose stage failed?
                    try:
                        stage = json.loads(text).get("stage") if text else None
                    except (ValueError, AttributeError):
                        stage = None
                    key = MESH + name if stage == "tessellate" and MESH + name in self.entries else name
                else:
                    key = None
                return (key, kind) if key in self.entries else (None, None)
        return None, None

    def _dependency_failed(self, label, task, ts) -> bool:
        """A task that will never run because the stage it waited for failed (Slurm cancelled it, or
        it stays pending with reason DependencyNeverSatisfied, which is then cancelled): fail the
        unit saying which mesh failed. False when no mesh of the run failed (cancelled otherwise)."""
        failed = [k for k in self.entries if k.startswith(MESH) and self.states.get(k, {}).get("kind") == FAILED]
        if not failed or self.cancel.is_set():
            return False
        if ts.reason == NEVER and ts.kind == PENDING and task[0] not in self.dependency_cancelled:
            self.dependency_cancelled.add(task[0])
            from ..ssh import SSHError

            try:
                self.site.cancel_jobs({"jobs": [{"job_id": task[0]}]}, wait=10)
            except SSHError:
                self.dependency_cancelled.discard(task[0])
        first = self.states[failed[0]]
        which = f"the mesh of {failed[0][len(MESH):]}" + (f" and {len(failed) - 1} other mesh(es)" if len(failed) > 1
                                                         else "")
        self._fail(label, ts, None, f"not run: {which} failed ({first.get('error', 'failed')}), and this stage waited "
                   "for every mesh (--dependency=afterok), so Slurm cancelled it; `napari-tramway resubmit "
                   f"{self.record['run_id']}` runs it again", "")
        return True

