"""Following a run: ONE command per polling interval, every Slurm state mapped to an event, the
ledger updated as states change, failures reported with their cause, cancel and the end of a run.

A run's tasks are keyed by unit label; a chain's meshes (its first stage) by ``mesh:<region>``
(:data:`~..ledger.MESH`): they are reported as run-level messages, and a mesh that fails fails
the units of its region at once; the units of the other regions fail when Slurm cancels the
stage that waited for every mesh (``afterok``), with a sentence saying so. Collecting the
results (download, verify, put in place) is :mod:`.collect`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from ...pipeline.events import (
    CANCELLED,
    DONE,
    FAILED,
    PENDING,
    QUEUED,
    RUN,
    STARTED,
    UnitEvent,
)
from .. import ledger
from ..ledger import MESH
from . import commands as rs
from . import states
from .checks import SiteError
from .collect import Collection, cause_from_log
from .tasks import NEVER, RunTasks


@dataclass
class _Failure:
    path: str
    mtime: str
    record: dict


class Follower(RunTasks, Collection):
    """The polling loop of one run: one command per interval, collection, state changes, ledger."""

    def __init__(self, site, record: dict, emit, cancel: threading.Event):
        from ...pipeline.store import ResultStore

        self.site = site
        self.record = record
        self.emit = emit
        self.cancel = cancel
        self.store = ResultStore(record["local_store"])
        self._init_tasks(record)
        self.seen: dict = record.setdefault("seen", {})
        self.failures: dict[str, _Failure] = {}
        self.completed_at: dict[str, float] = {}
        self.unknown_since: dict[str, float] = {}
        self.unknown_polls: dict[str, int] = {}
        self.reported: set = set()
        self.collect_attempts: dict[str, int] = {}
        self.disconnected_since: float | None = None
        self.last_ok: float | None = None
        self.use_sacct = record.get("accounting") != "disabled"
        self.sacct_skip = 0
        self.norun_polls = 0

    # -- bookkeeping ------------------------------------------------------------------------------
    def _save(self):
        ledger.save(self.record)

    def _message(self, key, text):
        if key in self.reported:
            return
        self.reported.add(key)
        self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: {text}"))

    # -- the loop ----------------------------------------------------------------------------------
    def run(self):
        from ..ssh import AuthenticationFailed, HostKeyMismatch, HostKeyRefused, SSHError

        site = self.site
        if not self.record.get("jobs"):
            self._recover_job()
        interval = float(site.poll_interval)
        if self.record.get("status") in ("submitted", "submitting", "detached"):
            self.record["status"] = "running"
        while not self.all_final():
            if self.cancel.is_set():
                self._cancel()
                break
            if site._detach.is_set():
                self.record["status"] = "detached"
                self._save()
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: detached; the jobs go on: "
                                    f"napari-tramway attach {self.record['run_id']}"))
                return
            try:
                changed = self.poll_once()
                self.last_ok = time.time()
                if self.disconnected_since is not None:
                    self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: connection to "
                                        f"{site.describe()} back after {time.time() - self.disconnected_since:.0f} s"))
                    self.reported.discard("disconnected")
                self.disconnected_since = None
            except (HostKeyMismatch, HostKeyRefused, AuthenticationFailed):
                raise
            except (SSHError, OSError, EOFError) as exc:
                changed = False
                now = time.time()
                if self.disconnected_since is None:
                    self.disconnected_since = self.last_ok or now
                self._message("disconnected", f"lost the connection to {site.describe()} ({exc}); "
                              "retrying with back-off (the jobs keep running)")
                if now - self.disconnected_since > float(site.reconnect_timeout):
                    self.record["status"] = "detached"
                    self._save()
                    raise SiteError(f"run {self.record['run_id']}: no connection to {site.describe()} for "
                                    f"{now - self.disconnected_since:.0f} s; the jobs keep running: "
                                    f"`napari-tramway attach {self.record['run_id']}` later") from None
                site.close()
            if changed:
                interval = float(site.poll_interval)
                self._save()
            else:
                interval = min(interval * 1.5, float(site.max_poll_interval))
            if self.all_final():
                break
            self._sleep(interval)
        self._finish()

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.cancel.is_set() or self.site._detach.is_set():
                return
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def _recover_job(self):
        """The client stopped between ``sbatch`` and recording the job ids: read them from the run
        directory (``jobs/<name>.id``)."""
        pending = self.record.get("pending_jobs")
        if pending is None and self.record.get("pending_job"):  # a record of an older version
            pj = self.record["pending_job"]
            pending = [{"name": pj["job_file"][: -len(".id")], "stage": self.record["stage"],
                        "indices": pj.get("indices"), "script": pj.get("script")}]
        if not pending:
            raise SiteError(f"run {self.record['run_id']}: no job was recorded")
        jobs_dir = f"{rs.remote_path(self.record['remote_dir'])}/jobs"
        cmd = "".join(f"printf '%s %s\\n' {rs.shlex.quote(j['name'])} \"$(cat -- {jobs_dir}/"
                      f"{rs.shlex.quote(j['name'] + '.id')} 2>/dev/null)\"; " for j in pending)
        _, out, _ = self.site.session().run(cmd, check=False)
        ids = {}
        for line in out.splitlines():
            name, _, job_id = line.partition(" ")
            job_id = job_id.strip().split(";")[0]
            if job_id.isdigit():
                ids[name] = job_id
        if not ids:
            self.record["status"] = "submit-failed"
            self._save()
            raise SiteError(f"run {self.record['run_id']}: the job was never submitted")
        missing = [j["name"] for j in pending if j["name"] not in ids]
        if missing:
            self._message("partial", f"array job(s) {', '.join(missing)} were never submitted (the submission was "
                          f"interrupted): their units will not run; `napari-tramway resubmit {self.record['run_id']}`")
        self.record["jobs"] += [{**j, "job_id": ids[j["name"]], "job_name": f"ntw-{self.record['run_id']}",
                                 "submitted": ledger.now()} for j in pending if j["name"] in ids]
        self.record.pop("pending_jobs", None)
        self.record.pop("pending_job", None)
        self._task_map()
        self._save()

    # -- one poll ----------------------------------------------------------------------------------
    def poll_once(self) -> bool:
        site = self.site
        session = site.session()
        ids = [j["job_id"] for j in self.record.get("jobs", [])]
        use_sacct = self.use_sacct and self.sacct_skip <= 0
        script = rs.poll_script(run_dir=self.record["remote_dir"], job_ids=ids, deps=site.deps(),
                                use_sacct=use_sacct)
        seen = "".join(f"{p}\t{m}\n" for p, m in self.seen.items())
        _, out, err = session.run(script, stdin=seen.encode(), check=False)
        if "@@END" not in out:
            from ..ssh import SSHError

            raise SSHError(f"incomplete poll output: {(err or out).strip()[-300:]}")
        res = states.parse_poll(out)
        changed = False
        if self.sacct_skip > 0:
            self.sacct_skip -= 1
        self._accounting(res, use_sacct)
        if res.run_dir_missing:
            # twice in a row: a scratch file system that hiccups once does not fail the run
            self.norun_polls += 1
            if self.norun_polls < 2:
                return False
            self.record["remote_removed"] = True  # so that nobody resubmits into it or cleans it
            self.record["remote_gone"] = ledger.now()
            for key in self.entries:
                if not self.final(key):
                    self._fail(key, None, None, f"the remote run directory {self.record['remote_dir']} is gone "
                               "(removed on the cluster, e.g. a scratch purge); start a new run", "")
            return True
        self.norun_polls = 0
        # markers
        done = []
        for path, mtime, text in res.markers:
            label, kind = self._key_of(path, text)
            if label is None:
                self.seen[path] = mtime
                continue
            if kind == "done":
                done.append((path, mtime, label, text))
            else:
                try:
                    rec = json.loads(text)
                except ValueError:
                    rec = {"error": "unreadable failure record", "traceback": text[-2000:]}
                if self.final(label):
                    self.seen[path] = mtime
                else:
                    self.failures[label] = _Failure(path, mtime, rec)
        if done:
            changed |= self._collect(done, res)
        # Slurm states
        now = time.time()
        to_fail = []
        known_jobs = {job for job, _ in res.states}
        waited = []  # tasks of a stage whose dependency may have failed
        for label in self.entries:
            if self.final(label):
                continue
            task = self.task_of.get(label)
            ts = res.states.get(task) if task else None
            failure = self.failures.get(label)
            st = self.states.setdefault(label, {"kind": QUEUED})
            if ts is None:
                since = self.unknown_since.setdefault(label, now)
                self.unknown_polls[label] = self.unknown_polls.get(label, 0) + 1
                if failure is not None and now - since >= float(site.completion_grace):
                    to_fail.append((label, None, failure))
                elif (task is not None and self.unknown_polls[label] >= 2 and res.accounting == "ok"
                      and task[0] in known_jobs):
                    # accounting and the queue know its array job but not this task: its pending
                    # task was cancelled, which removes it from the array before it ever started
                    self._set(label, CANCELLED, slurm="CANCELLED", reason="removed before it started")
                    self._event(label, CANCELLED, state="CANCELLED", message="Slurm: removed from its array job "
                                f"{task[0]} before it started (its pending task was cancelled)")
                    changed = True
                elif task is not None and self.unknown_polls[label] >= 2:
                    self._message(("unknown", label), f"task {task[0]}_{task[1]} ({label}) is not known to Slurm "
                                  "any more (accounting off?) and has no result yet: waiting for its done-marker")
                    if now - since > float(site.unknown_timeout):
                        to_fail.append((label, None, None))
                continue
            self.unknown_since.pop(label, None)
            self.unknown_polls.pop(label, None)
            kind = ts.kind
            if kind is None:
                self._message(("state", ts.state), f"unknown Slurm state {ts.state} for {label}")
                continue
            if (kind == CANCELLED or ts.reason == NEVER) and self.job_of_task.get(task, {}).get("after_ok"):
                waited.append((label, task, ts))  # decided once this poll's failures are known
                continue
            if kind in (PENDING, STARTED):
                if failure is not None:
                    continue  # the worker has failed; its task is ending
                if (st.get("kind"), st.get("slurm"), st.get("reason")) != (kind, ts.state, ts.reason):
                    self._set(label, kind, slurm=ts.state, reason=ts.reason, node=ts.node)
                    meaning = ("waiting for the meshes (--dependency=afterok)" if ts.reason == "Dependency"
                               else ts.meaning)
                    self._event(label, kind, state=ts.state, reason=ts.reason, message=meaning,
                                where=ts.node if kind == STARTED else None)
                    changed = True
            elif kind == DONE:
                if failure is not None:
                    to_fail.append((label, ts, failure))
                    continue
                first = self.completed_at.setdefault(label, now)
                if now - first >= float(site.completion_grace):
                    to_fail.append((label, ts, None))
            elif kind == FAILED:
                to_fail.append((label, ts, failure))
            elif kind == CANCELLED:
                self._set(label, CANCELLED, slurm=ts.state, reason=ts.reason)
                self._event(label, CANCELLED, state=ts.state, reason=ts.reason, message=f"Slurm: {ts.meaning}")
                if failure is not None:
                    self.seen[failure.path] = failure.mtime
                    self.failures.pop(label, None)
                changed = True
        if to_fail:
            logs = self._log_tails([lbl for lbl, _, _ in to_fail])
            for label, ts, failure in to_fail:
                if failure is not None:
                    error = str(failure.record.get("error") or "failed")
                    tb = str(failure.record.get("traceback") or "")
                elif ts is not None and ts.state == "COMPLETED":
                    error = "the task completed but left no result file (see the log)"
                    tb = ""
                elif ts is not None:
                    error = f"Slurm {ts.state}: {ts.meaning}" + (f" ({ts.reason})" if ts.reason else "") + (
                        f", exit code {ts.exit_code}" if ts.exit_code and ts.exit_code not in ("0:0", "") else "")
                    tb = ""
                else:
                    error = "lost: not known to Slurm any more and no result on the cluster"
                    tb = ""
                if failure is not None and ts is not None and ts.state not in ("FAILED", "COMPLETED"):
                    error += f" [Slurm {ts.state}: {ts.meaning}]"
                if failure is None and logs.get(label):
                    cause = cause_from_log(logs[label][1])
                    if cause:
                        error += f": {cause}"
                self._fail(label, ts, failure, error, tb, logs.get(label))
            changed = True
        for label, task, ts in waited:
            if self.final(label):
                continue
            if self._dependency_failed(label, task, ts):
                changed = True
            elif ts.kind == CANCELLED:
                self._set(label, CANCELLED, slurm=ts.state, reason=ts.reason)
                self._event(label, CANCELLED, state=ts.state, reason=ts.reason, message=f"Slurm: {ts.meaning}")
                changed = True
        return changed

    def _accounting(self, res, used):
        if not used:
            return
        prev = self.record.get("accounting")
        if res.accounting == "ok":
            if prev in ("failed",):
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: sacct works again"))
                self.reported.discard("sacct-failed")
            self.record["accounting"] = "ok"
        elif res.accounting == "disabled":
            self.use_sacct = False
            self.record["accounting"] = "disabled"
            self._message("sacct-disabled", "Slurm accounting is disabled on this cluster ("
                          f"{res.accounting_error.splitlines()[-1] if res.accounting_error else 'sacct: disabled'}); "
                          "following the run with squeue/scontrol; a task that leaves the queue counts as "
                          "unknown until its done-marker appears")
        elif res.accounting == "failed":
            self.record["accounting"] = "failed"
            self.sacct_skip = 3  # try sacct again every few polls
            self._message("sacct-failed", f"sacct failed ({res.accounting_error.strip().splitlines()[-1] if res.accounting_error.strip() else 'error'}); "
                          "falling back to squeue/scontrol")
        if res.queue_error:
            self._message(("squeue", res.queue_error[:40]), f"squeue failed ({res.queue_error}); using scontrol")

    def _fail(self, label, ts, failure, error, tb, log=None):
        where = None
        if failure is not None:
            where = failure.record.get("where")
        if not where and ts is not None:
            where = ts.node
        text = tb or ""
        if log and log[1].strip():
            text = (text.rstrip() + "\n\n" if text.strip() else "") + f"--- last lines of the Slurm log {log[0]} ---\n" + log[1]
        unit = self.unit_objs[label]
        if not label.startswith(MESH):  # a mesh's failure is written for the units of its region
            try:
                self.store.write_failure(unit, error, text, where or "", slurm_state=ts.state if ts else None,
                                         run_id=self.record["run_id"], log=log[0] if log else None)
            except OSError:
                pass
        self._set(label, FAILED, slurm=ts.state if ts else None, reason=ts.reason if ts else None, error=error,
                  log=log[0] if log else None)
        self._event(label, FAILED, error=error, traceback=text or None, where=where,
                    state=ts.state if ts else None, reason=ts.reason if ts else None)
        if failure is not None:
            self.seen[failure.path] = failure.mtime
            self.failures.pop(label, None)
        if label.startswith(MESH):  # the units of its region cannot run: say so now, for each
            region = label[len(MESH):]
            for key in self.units:
                if not self.final(key) and self.unit_objs[key].region_key == region:
                    self._fail(key, None, None, f"not computed: the mesh of its region {region} failed: {error}",
                               text, log)

    # -- the end -----------------------------------------------------------------------------------
    def _cancel(self, scancelled: tuple[bool, str] | None = None):
        """``scancel`` the run's jobs (unless ``scancelled``, the outcome of a ``cancel_jobs`` already
        done), keep what finished before, mark the rest cancelled."""
        from ..ssh import SSHError

        try:
            cleared, left = scancelled or self.site.cancel_jobs(self.record)
            if not cleared:
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: after scancel, squeue still "
                                    f"shows: {left}"))
            try:
                self.poll_once()  # keep what finished before the cancel
            except SSHError:
                pass
        except SSHError as exc:
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: cancel failed ({exc}); "
                                f"retry with `napari-tramway cancel {self.record['run_id']}`"))
            self.record["status"] = "cancel-failed"
            self._save()
            return
        for key in self.entries:
            if not self.final(key):
                self._set(key, CANCELLED, slurm="CANCELLED")
                self._event(key, CANCELLED, state="CANCELLED", message="run cancelled")
        self.record["cancelled"] = ledger.now()

    def _finish(self):
        from ..ssh import SSHError

        kinds = [self.states.get(key, {}).get("kind") for key in self.units]
        if self.cancel.is_set() or self.record.get("cancelled"):
            status = "cancelled"
        elif FAILED in kinds:
            status = "failed"
        elif CANCELLED in kinds:
            status = "cancelled"
        else:
            status = "done"
        self.record["status"] = status
        self.record["finished"] = ledger.now()
        remove = not self.site.keep_remote and not self.record.get("keep_remote") and status in ("done", "cancelled")
        if remove and not self.record.get("remote_removed"):
            try:
                self.site.remove_remote(self.record)
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: removed "
                                    f"{self.record['remote_dir']} on the cluster"))
            except (SSHError, ValueError) as exc:
                self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: could not remove "
                                    f"{self.record['remote_dir']} ({exc})"))
        elif status == "failed" and self.record.get("remote_gone"):
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: the remote directory "
                                f"{self.record['remote_dir']} was removed on the cluster; results collected before "
                                "stay; start a new run for the others"))
        elif status == "failed":
            n = kinds.count(FAILED)
            self.emit(UnitEvent(RUN, None, message=f"{self.record['run_id']}: {n} unit(s) failed; the remote "
                                f"directory is kept: `napari-tramway resubmit {self.record['run_id']}` runs them "
                                f"again, `napari-tramway clean {self.record['run_id']}` removes it"))
        self._save()
