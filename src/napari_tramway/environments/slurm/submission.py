"""Submitting a run: upload ONE bundle and ``sbatch`` its array jobs in ONE command (a chain's
later stage with ``--dependency=afterok`` on the earlier one, arrays split at the site's
``MaxArraySize``), then follow it; the remote commands on a recorded run (``scancel``, removing
its directory).

:class:`Submission` is a part of :class:`~.site.SlurmOverSSH`.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

from ..._version import __version__
from ...pipeline.events import QUEUED, RUN, UnitEvent
from .. import ledger
from ..base import RunJob, skip_done
from ..ledger import MESH
from . import arrays, states
from . import commands as rs
from .arrays import DEFAULT_MAX_ARRAY_SIZE
from .checks import SiteError


class Submission:
    """Submission and the remote commands of a run (mixed into :class:`~.site.SlurmOverSSH`)."""

    # -- the run ------------------------------------------------------------------------------------
    def execute(self, job: RunJob, emit, cancel: threading.Event) -> None:
        """Submit and follow a run on a per-run copy of this site (its own connection and detach
        flag), so that one site object can run several analyses at once."""
        from dataclasses import replace

        from ...pipeline.stages import stage_chain

        for u in job.units:
            emit(UnitEvent(QUEUED, u.label))
        todo = skip_done(replace(job, stage=stage_chain(job.stage)[-1]), emit)
        if not todo:
            return
        run_id = job.run_id or ledger.new_run_id()
        job.run_id = run_id
        run = copy.copy(self)
        run._session, run._check_info, run._detach, run._runs = None, {}, threading.Event(), set()
        self._runs.add(run)
        try:
            with ledger.lock(run_id, "submit"):
                record = run.submit(job, todo, emit=emit, run_id=run_id)
                run.follow(record, emit=emit, cancel=cancel)
        finally:
            self._runs.discard(run)
            self._check_info = run._check_info  # what the last run's checks found (scratch, home)
            run.close()

    def submit(self, job: RunJob, units=None, emit=None, run_id: str | None = None) -> dict:
        """Check the site, upload the run and ``sbatch`` it; return the ledger record (already saved).

        Costs two SSH commands (the checks, then upload + extraction + verification + every
        ``sbatch``), whatever the number of units, of stages and of array jobs. A chain of stages
        (``tessellate_then_infer``) submits the meshes its units need, then its units with
        ``--dependency=afterok`` on them: the run goes on without the client.
        """
        from ...pipeline.stages import stage_chain, stage_units
        from ..base import unit_status
        from ..bundle import (
            BundleWriter,
            add_inputs,
            remote_store_info,
            tessellation_files,
            worker_code,
        )

        emit = emit or (lambda ev: None)
        units = list(job.units if units is None else units)
        if not units:
            raise SiteError("nothing to submit")
        run_id = run_id or job.run_id or ledger.new_run_id()
        job.run_id = run_id
        session = self.session()
        rt0 = session.round_trips
        worker_data, worker_sha = worker_code()  # one snapshot for the cache probe and the upload
        info = self._preflight(emit, worker_sha)
        chain = stage_chain(job.stage)
        stage = chain[-1]
        meshes = []  # a chain's first stage: the meshes its units need and this computer does not have
        if len(chain) > 1:
            meshes = [u for u in stage_units(chain[0], units) if unit_status(job, u, chain[0]).state != "done"]
        limit = int(info.get("max_array_size") or DEFAULT_MAX_ARRAY_SIZE)
        scratch = info.get("scratch") or (self.scratch_root().rstrip("/") + "/napari-tramway")
        remote_dir = f"{scratch.rstrip('/')}/{run_id}"

        writer = BundleWriter()
        writer.add("store/store.json", json.dumps(remote_store_info(job.store, job.spec, info.get("home")), indent=1,
                                                  default=str))
        if stage == "infer":  # the meshes already computed here travel with the run
            todo_meshes = {m.region_key for m in meshes}
            for rel, data in tessellation_files(job.store, [u for u in units if u.region_key not in todo_meshes]).items():
                writer.add(rel, data)
        worker_cache = rs.worker_cache_path(self.scratch_root(), worker_sha)
        worker_cached = bool(info.get("worker_cached"))
        if worker_cached:  # this version's worker code is on the cluster already (verified by checksum)
            writer.expect("napari_tramway.zip", worker_sha)
        else:
            writer.add("napari_tramway.zip", worker_data)
        input_bytes, source_bytes, n_inputs, mapping = add_inputs(writer, job.spec, units + meshes)
        seq = 1
        arrays_: list = []
        record_units = {}
        for st, st_units in ((chain[0], meshes), (stage, units)) if meshes else ((stage, units),):
            units_file = f"units-{st}.json"
            entries = [{"index": i, "unit": u.to_dict(), "input": mapping.get(u.label)} for i, u in enumerate(st_units)]
            writer.add(units_file, json.dumps({"format": "napari-tramway/units", "run_id": run_id, "stage": st,
                                               "environment": self.environment_label(), "units": entries}, indent=1))
            script = f"job-{st}-{seq}.sh"
            planned = arrays.plan(st, seq, script, list(range(len(st_units))), limit, self.worker_count,
                                  after_ok=[a.name for a in arrays_])
            writer.add(script, self._job_script(run_id, st, units_file, ",".join(a.array for a in planned)))
            arrays_ += planned
            record_units[st] = (units_file, entries)
        writer.add_dir("logs")
        writer.add_dir("jobs")
        data, files = writer.pack(f"SHA256SUMS-{seq}")
        t = self.target()
        record = {
            "run_id": run_id, "status": "submitting", "site": self.site_reference(),
            "user": self.resolved_username, "host": t.hostname, "port": t.port, "remote_dir": remote_dir,
            "remote_removed": False, "stage": job.stage, "local_store": str(Path(job.store.root).resolve()),
            "units_file": record_units[stage][0], "log_pattern": "logs/{stage}-{job}_{index}.out",
            "units": record_units[stage][1], "jobs": [], "pending_jobs": [a.record() for a in arrays_],
            "states": {u.label: {"kind": QUEUED} for u in units}, "seen": {}, "accounting": "unknown",
            "keep_remote": bool(self.keep_remote), "software": f"napari-tramway {__version__}",
            "limits": {"max_array_size": limit, "known": "max_array_size" in info},
            "upload": {"bundle_bytes": len(data), "input_bytes": input_bytes, "source_bytes": source_bytes,
                       "inputs": n_inputs, "worker_zip_bytes": files.get("napari_tramway.zip", 0),
                       "worker_cached": worker_cached},
        }
        if meshes:
            record["mesh_units_file"], record["mesh_units"] = record_units[chain[0]]
            record["states"].update({MESH + m.region_key: {"kind": QUEUED} for m in meshes})
        ledger.save(record)
        emit(UnitEvent(RUN, None, message=f"{run_id}: uploading {len(data) / 1024:.0f} KiB "
                       f"({n_inputs} cropped input(s), {input_bytes / 1024:.0f} KiB, from {source_bytes / 1024:.0f} KiB "
                       f"of data files; worker code {'cached on the cluster' if worker_cached else 'included'}) "
                       f"to {self.describe()}:{remote_dir}"))
        from ..ssh import SSHError

        try:
            ids, parsed, error = self._upload_and_sbatch(remote_dir, data, seq, arrays_, worker_cache=worker_cache,
                                                         worker_uploaded=not worker_cached)
        except SSHError as exc:
            record["status"] = "submit-unknown"
            record["error"] = str(exc)
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission interrupted ({exc}); if the job was submitted, "
                            f"`napari-tramway attach {run_id}` finds it") from None
        if parsed.get("RUNDIR"):
            record["remote_dir"] = parsed["RUNDIR"]
        if error:
            record["status"] = "submit-failed"
            record["error"] = error
            record["remote_removed"] = "CLEANED" in parsed  # nothing left on scratch
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission to {self.describe()} failed: {error}" + (
                "" if record["remote_removed"] else f" (`napari-tramway clean {run_id}` removes the upload)"))
        now = ledger.now()
        record["jobs"] = [{**a.record(), "job_id": ids[a.name], "job_name": f"ntw-{run_id}", "submitted": now}
                          for a in arrays_]
        record.pop("pending_jobs", None)
        record["status"] = "submitted"
        record["submissions"] = seq
        record["round_trips"] = {"submit": session.round_trips - rt0}
        ledger.save(record)
        for a in arrays_:
            after = " after " + ", ".join(f"{ids[n]} ({'ok' if n in a.after_ok else 'any'})"
                                          for n in a.after_ok + a.after_any) if a.after_ok or a.after_any else ""
            emit(UnitEvent(RUN, None, message=f"{run_id}: submitted array job {ids[a.name]} ({a.stage}, "
                           f"{len(a.indices())} task(s), --array={a.array}{', units from ' + str(a.offset) if a.offset else ''})"
                           f"{after} on {self.describe()}"))
        return record

    def follow(self, record: dict, emit=None, cancel: threading.Event | None = None, replay: bool = False) -> dict:
        """Poll the run until every unit is done, failed or cancelled; collect results as they come."""
        from .follower import Follower

        f = Follower(self, record, emit or (lambda ev: None), cancel or threading.Event())
        if replay:
            f.replay()
        f.run()
        return record

    def _job_script(self, run_id: str, stage: str, units_file: str, array: str | None = None) -> str:
        """The sbatch script of a stage's array jobs (the first submission or a resubmission)."""
        sing, opts, image = self.container_parts()
        return rs.job_script(run_id=run_id, stage=stage, job_name=f"ntw-{run_id}", array=array,
                             units_file=units_file, log_name=f"{stage}-%A_%a.out",
                             sbatch_options=self.sbatch_options, deps=self.deps(), python=self.interpreter(),
                             singularity=sing, singularity_options=opts, container=image,
                             version=__version__, environment=self.environment_label())

    def _upload_and_sbatch(self, remote_dir: str, bundle: bytes, seq: int, jobs: list,
                           **submit_options) -> tuple[dict, dict, str]:
        """ONE command: send ``bundle`` on stdin, extract and verify it in ``remote_dir``, ``sbatch``
        each array job of ``jobs`` (:class:`~.arrays.ArrayJob`); ``(job ids by name, the output's
        sections, error message or '')``. A refused job is reported as one line with the site's
        own reason (``sbatch refused the job: Invalid account or account/partition combination
        specified (--account=x)``); the array jobs already submitted are then cancelled."""
        cmd = rs.submit_script(run_dir=remote_dir, checksums=f"SHA256SUMS-{seq}", jobs=jobs, deps=self.deps(),
                               **submit_options)
        status, out, err = self.session().run(cmd, stdin=bundle, check=False,
                                              timeout=self.command_timeout + len(bundle) / 100_000)
        secs = states.sections(out)
        parsed = {name: args.strip() for name, args, _ in secs}
        ids = {}
        for name, args, _ in secs:
            if name == "JOB":
                key, _, job_id = args.strip().partition(" ")
                ids[key] = job_id.strip()
        if status == 0 and "SUBMITTED" in parsed and all(ids.get(j.name, "").isdigit() for j in jobs):
            return ids, parsed, ""
        error = parsed.get("ERROR") or (err.strip()[-500:] or out.strip()[-500:] or f"exit status {status}")
        if error.startswith("sbatch failed"):
            options = rs.sbatch_args(self.sbatch_options)
            error = f"sbatch refused the job: {states.sbatch_error(error)}" + (f" ({options})" if options else "")
        if parsed.get("SCANCELLED"):
            error += f"; the array job(s) already submitted were cancelled ({parsed['SCANCELLED']})"
        return ids, parsed, " ".join(error.split())

    # -- operations on recorded runs ----------------------------------------------------------------
    def cancel_jobs(self, record: dict, wait: float = 60.0) -> tuple[bool, str]:
        """``scancel`` the run's jobs and wait until ``squeue`` shows none; ``(cleared, leftovers)``."""
        ids = [j["job_id"] for j in record.get("jobs", [])]
        _, out, _ = self.session().run(rs.cancel_script(job_ids=ids, deps=self.deps(), wait=wait), check=False,
                                       timeout=wait + 60)
        secs = {name: lines for name, _, lines in states.sections(out)}
        return "CLEAR" in secs, "\n".join(secs.get("LEFT", [])).strip()

    def remove_remote(self, record: dict) -> None:
        self.session().run(rs.cleanup_script(record["remote_dir"]), check=True)
        record["remote_removed"] = True
