"""Runs recorded in the ledger: re-create their site, reattach, cancel, resubmit, clean.

The scripting façade (:mod:`napari_tramway.analysis`) and through it the CLI and the napari
widgets use these; they work from another process than the one that submitted the run.
"""

from __future__ import annotations

import threading

from ...pipeline.events import CANCELLED, DONE, FAILED, QUEUED, RUN, RunSummary, UnitEvent
from .. import ledger
from ..base import Environment, RunHandle, RunJob
from ..bundle import BundleWriter
from ..ledger import MESH
from . import arrays
from .checks import SiteError
from .follower import Follower
from .site import SlurmOverSSH


def site_for_record(record: dict, **options) -> SlurmOverSSH:
    """Re-create the site of a recorded run (callbacks such as ``confirm_host_key`` are passed anew)."""
    from .. import sites

    ref = record.get("site", {})
    opts = {k: v for k, v in ref.get("options", {}).items() if v is not None}  # None: the default
    opts.update({k: v for k, v in options.items() if v is not None})
    errors = []
    for name in (ref.get("name"), ref.get("file"), ref.get("class")):
        if not name:
            continue
        try:
            env = sites.make_environment(name, opts)
        except Exception as exc:  # try the next way of finding it
            errors.append(f"{name}: {exc}")
            continue
        if isinstance(env, SlurmOverSSH):
            return env
    raise SiteError(f"run {record.get('run_id')}: cannot re-create its site ({'; '.join(errors) or 'no site recorded'})")


class _Reattach(Environment):
    """Follow a recorded run as an environment, so that it fits :class:`RunHandle`."""

    name = "attach"

    def __init__(self, site: SlurmOverSSH, record: dict):
        self.site = site
        self.record = record

    def describe(self):
        return f"run {self.record['run_id']} on {self.site.describe()}"

    def detach(self) -> None:
        """Stop following without cancelling (see :meth:`SlurmOverSSH.detach`)."""
        self.site.detach()

    def execute(self, job, emit, cancel):
        self.site._detach.clear()
        try:
            with ledger.lock(self.record["run_id"], "attach"):
                self.record.update(ledger.load(self.record["run_id"]))
                self.site.follow(self.record, emit=emit, cancel=cancel, replay=True)
        finally:
            self.site.close()


def _job_for_record(record) -> RunJob:
    from ...pipeline.store import ResultStore
    from ...pipeline.units import Unit

    units = [Unit.from_dict(e["unit"]) for e in record["units"]]
    return RunJob(spec=None, store=ResultStore(record["local_store"]), units=units, stage=record["stage"],
                  run_id=record["run_id"])


def start_attach(run_id: str, events=None, **options) -> RunHandle:
    """Reattach to a recorded run in a background thread: reconnect, poll, collect; a
    :class:`RunHandle` whose ``cancel()`` cancels the run's jobs."""
    record = ledger.load(run_id)
    return _follow_in_background(site_for_record(record, **options), record, events)


def _follow_in_background(site: SlurmOverSSH, record: dict, events=None) -> RunHandle:
    return RunHandle(_Reattach(site, record), _job_for_record(record), events).start()


def attach(run_id: str, events=None, **options) -> RunSummary:
    """Reattach to a recorded run and block until every unit is final; return the summary.

    Units that finished while nobody watched are collected too. ``options`` are site settings
    (e.g. ``confirm_host_key``, ``ask_secret``, ``poll_interval``).
    """
    handle = start_attach(run_id, events, **options)
    try:
        while handle.wait(0.2) is None:
            pass
    except KeyboardInterrupt:
        raise
    if handle.exception is not None:
        raise handle.exception
    return handle.summary()


def cancel_run(run_id: str, events=None, wait: float = 60.0, **options) -> dict:
    """``scancel`` a recorded run's jobs and wait until ``squeue`` shows none of them.

    If no process follows the run, results that were already done are collected and the remote
    directory is removed (unless the run keeps it); the ledger says ``cancelled``.
    """
    record = ledger.load(run_id)
    site = site_for_record(record, **options)
    emit = events or (lambda ev: None)
    try:
        cleared, left = site.cancel_jobs(record, wait=wait)
        if not ledger.is_locked(record["run_id"]):
            with ledger.lock(record["run_id"], "cancel"):
                record = ledger.load(record["run_id"])
                ev = threading.Event()
                ev.set()
                f = Follower(site, record, emit, ev)
                f._cancel((cleared, left))
                f._finish()
        else:
            emit(UnitEvent(RUN, None, message=f"{run_id}: cancelled; the process following it collects "
                           "what was done"))
        record["cancel_cleared"] = cleared
        if not cleared:
            record["cancel_left"] = left
        return record
    finally:
        site.close()


def resubmit(run_id: str, labels=None, events=None, wait: bool = True, **options):
    """Run failed (or given) units of a recorded run again: new array jobs over only their task
    indices, in the same remote directory (split at the site's array size limit). In a chain, the
    meshes they need that did not succeed are computed again first, and the units wait for them
    (``--dependency=afterok``). Returns the summary (``wait``) or the handle."""
    from ...pipeline.stages import stage_chain
    from ...pipeline.units import Unit

    record = ledger.load(run_id)
    if record.get("remote_removed"):
        raise SiteError(f"run {run_id}: its remote directory was removed; start a new run instead")
    entries = {e["unit"]["label"]: e for e in record["units"]}
    if labels is None:
        labels = [lbl for lbl, st in record.get("states", {}).items()
                  if st.get("kind") in (FAILED, CANCELLED) and not lbl.startswith(MESH)]
    labels = list(labels)
    unknown = [lbl for lbl in labels if lbl not in entries]
    if unknown:
        raise SiteError(f"run {run_id}: no unit(s) {', '.join(unknown)}")
    if not labels:
        raise SiteError(f"run {run_id}: no failed unit to resubmit")
    site = site_for_record(record, **options)
    try:
        with ledger.lock(run_id, "resubmit"):
            record = ledger.load(run_id)
            if record.get("remote_removed"):
                raise SiteError(f"run {run_id}: its remote directory was removed; start a new run instead")
            chain = stage_chain(record["stage"])
            stage = chain[-1]
            meshes = {e["unit"]["label"]: e for e in record.get("mesh_units", [])}
            regions = {Unit.from_dict(entries[lbl]["unit"]).region_key for lbl in labels}
            redo = sorted(r for r in regions if r in meshes
                          and record["states"].get(MESH + r, {}).get("kind") != DONE)
            seq = int(record.get("submissions") or len(record.get("jobs", []))) + 1
            limit = int(record.get("limits", {}).get("max_array_size") or arrays.DEFAULT_MAX_ARRAY_SIZE)
            writer = BundleWriter()
            planned: list = []
            for st, indices, units_file in (
                    (chain[0], [meshes[r]["index"] for r in redo], record.get("mesh_units_file")),
                    (stage, sorted(entries[lbl]["index"] for lbl in labels), record["units_file"])):
                if not indices:
                    continue
                script = f"job-{st}-{seq}.sh"
                jobs = arrays.plan(st, seq, script, indices, limit, site.worker_count,
                                   after_ok=[a.name for a in planned])
                writer.add(script, site._job_script(run_id, st, units_file, ",".join(a.array for a in jobs)))
                planned += jobs
            data, _ = writer.pack(f"SHA256SUMS-{seq}")
            # the old markers go in the same command: a stale done-marker would be collected
            # (again) before the new task runs
            done_dir = "tessellations/" if stage == "tessellate" else "units/"
            stale = [p for lbl in labels for p in (f"store/units/{lbl}.failed.json", f"store/{done_dir}{lbl}.done.json")]
            stale += [p for r in redo for p in (f"store/units/{r}.failed.json", f"store/tessellations/{r}.done.json")]
            ids, parsed, error = site._upload_and_sbatch(record["remote_dir"], data, seq, planned,
                                                         remove_first=stale, existing=True)
            if "NORUN" in parsed:  # removed on the cluster (a scratch purge...): say so in the ledger
                record.update(remote_removed=True, remote_gone=ledger.now())
                ledger.save(record)
            if error:
                raise SiteError(f"run {run_id}: resubmission failed: {error[-300:]}")
            record["jobs"] += [{**a.record(), "job_id": ids[a.name], "job_name": f"ntw-{run_id}",
                                "submitted": ledger.now()} for a in planned]
            for key in labels + [MESH + r for r in redo]:
                record["states"][key] = {"kind": QUEUED, "resubmitted": ledger.now()}
                name = key[len(MESH):] if key.startswith(MESH) else key
                for suffix in (".failed.json", ".done.json"):
                    for prefix in ("units/", "tessellations/"):
                        record["seen"].pop(prefix + name + suffix, None)
            record["status"] = "submitted"
            record["submissions"] = seq
            record.pop("cancelled", None)
            ledger.save(record)
    except BaseException:
        site.close()
        raise
    what = f"{len(labels)} unit(s)" + (f" and {len(redo)} mesh(es) they need" if redo else "")
    (events or (lambda ev: None))(UnitEvent(RUN, None, message=f"{run_id}: resubmitted {what} as array job(s) "
                                            + ", ".join(f"{ids[a.name]} (--array={a.array})" for a in planned)))
    handle = _follow_in_background(site, record, events)  # on the same connection
    if not wait:
        return handle
    while handle.wait(0.2) is None:
        pass
    if handle.exception is not None:
        raise handle.exception
    return handle.summary()


def clean_run(run_id: str, forget: bool = False, **options) -> dict:
    """Remove a recorded run's remote directory (and, with ``forget``, its ledger entry)."""
    record = ledger.load(run_id)
    if ledger.is_locked(record["run_id"]):
        raise ledger.RunBusy(f"run {run_id} is being followed by another process")
    if not record.get("remote_removed"):
        site = site_for_record(record, **options)
        try:
            site.remove_remote(record)
        finally:
            site.close()
        ledger.save(record)
    if forget:
        ledger.delete(record["run_id"])
    return record


__all__ = ["attach", "cancel_run", "clean_run", "resubmit", "site_for_record", "start_attach"]
