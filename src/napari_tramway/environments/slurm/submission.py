"""Submitting a run: upload ONE bundle and ``sbatch`` it in ONE command, then follow it; the
remote commands on a recorded run (``scancel``, removing its directory).

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
from . import commands as rs
from . import states
from .checks import SiteError


class Submission:
    """Submission and the remote commands of a run (mixed into :class:`~.site.SlurmOverSSH`)."""

    # -- the run ------------------------------------------------------------------------------------
    def execute(self, job: RunJob, emit, cancel: threading.Event) -> None:
        """Submit and follow a run on a per-run copy of this site (its own connection and detach
        flag), so that one site object can run several analyses at once."""
        for u in job.units:
            emit(UnitEvent(QUEUED, u.label))
        todo = skip_done(job, emit)
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

        Costs two SSH commands (the checks, then upload + extraction + verification + sbatch).
        """
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
        stage = job.stage
        scratch = info.get("scratch") or (self.scratch_root().rstrip("/") + "/napari-tramway")
        remote_dir = f"{scratch.rstrip('/')}/{run_id}"

        writer = BundleWriter()
        writer.add("store/store.json", json.dumps(remote_store_info(job.store, job.spec, info.get("home")), indent=1,
                                                  default=str))
        if stage == "infer":
            for rel, data in tessellation_files(job.store, units).items():
                writer.add(rel, data)
        worker_cache = rs.worker_cache_path(self.scratch_root(), worker_sha)
        worker_cached = bool(info.get("worker_cached"))
        if worker_cached:  # this version's worker code is on the cluster already (verified by checksum)
            writer.expect("napari_tramway.zip", worker_sha)
        else:
            writer.add("napari_tramway.zip", worker_data)
        input_bytes, source_bytes, n_inputs, mapping = add_inputs(writer, job.spec, units)
        units_file = f"units-{stage}.json"
        plan = {"format": "napari-tramway/units", "run_id": run_id, "stage": stage,
                "environment": self.environment_label(),
                "units": [{"unit": u.to_dict(), "input": mapping.get(u.label)} for u in units]}
        writer.add(units_file, json.dumps(plan, indent=1))
        seq = 1
        script_name = f"job-{stage}-{seq}.sh"
        array = rs.indices_spec(None, len(units), self.worker_count)
        writer.add(script_name, self._job_script(run_id, stage, units_file, array))
        writer.add_dir("logs")
        writer.add_dir("jobs")
        data, files = writer.pack(f"SHA256SUMS-{seq}")
        t = self.target()
        record = {
            "run_id": run_id, "status": "submitting", "site": self.site_reference(),
            "user": self.resolved_username, "host": t.hostname, "port": t.port, "remote_dir": remote_dir,
            "remote_removed": False, "stage": stage, "local_store": str(Path(job.store.root).resolve()),
            "units_file": units_file, "log_pattern": "logs/{stage}-{job}_{index}.out",
            "units": [{"index": i, "unit": u.to_dict(), "input": mapping.get(u.label)} for i, u in enumerate(units)],
            "jobs": [], "pending_job": {"job_file": f"{script_name}.id", "script": script_name, "indices": None},
            "states": {u.label: {"kind": QUEUED} for u in units}, "seen": {}, "accounting": "unknown",
            "keep_remote": bool(self.keep_remote), "software": f"napari-tramway {__version__}",
            "upload": {"bundle_bytes": len(data), "input_bytes": input_bytes, "source_bytes": source_bytes,
                       "inputs": n_inputs, "worker_zip_bytes": files.get("napari_tramway.zip", 0),
                       "worker_cached": worker_cached},
        }
        ledger.save(record)
        emit(UnitEvent(RUN, None, message=f"{run_id}: uploading {len(data) / 1024:.0f} KiB "
                       f"({n_inputs} cropped input(s), {input_bytes / 1024:.0f} KiB, from {source_bytes / 1024:.0f} KiB "
                       f"of data files; worker code {'cached on the cluster' if worker_cached else 'included'}) "
                       f"to {self.describe()}:{remote_dir}"))
        from ..ssh import SSHError

        try:
            job_id, parsed, error = self._upload_and_sbatch(remote_dir, data, seq, script_name,
                                                            worker_cache=worker_cache,
                                                            worker_uploaded=not worker_cached)
        except SSHError as exc:
            record["status"] = "submit-unknown"
            record["error"] = str(exc)
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission interrupted ({exc}); if the job was submitted, "
                            f"`napari-tramway attach {run_id}` finds it") from None
        if parsed.get("RUNDIR"):
            record["remote_dir"] = parsed["RUNDIR"]
        if job_id is None:
            record["status"] = "submit-failed"
            record["error"] = error
            record["remote_removed"] = "CLEANED" in parsed  # nothing left on scratch
            ledger.save(record)
            raise SiteError(f"run {run_id}: submission to {self.describe()} failed: {error}" + (
                "" if record["remote_removed"] else f" (`napari-tramway clean {run_id}` removes the upload)"))
        record["jobs"].append({"job_id": job_id, "name": f"ntw-{run_id}", "stage": stage, "indices": None,
                               "script": script_name, "submitted": ledger.now(), "array": array})
        record.pop("pending_job", None)
        record["status"] = "submitted"
        record["round_trips"] = {"submit": session.round_trips - rt0}
        ledger.save(record)
        emit(UnitEvent(RUN, None, message=f"{run_id}: submitted array job {job_id} ({len(units)} task(s), "
                       f"--array={record['jobs'][-1]['array']}) on {self.describe()}"))
        return record

    def follow(self, record: dict, emit=None, cancel: threading.Event | None = None, replay: bool = False) -> dict:
        """Poll the run until every unit is done, failed or cancelled; collect results as they come."""
        from .follower import Follower

        f = Follower(self, record, emit or (lambda ev: None), cancel or threading.Event())
        if replay:
            f.replay()
        f.run()
        return record

    def _job_script(self, run_id: str, stage: str, units_file: str, array: str) -> str:
        """The sbatch script of one array job of a run (the first one or a resubmission)."""
        sing, opts, image = self.container_parts()
        return rs.job_script(run_id=run_id, stage=stage, job_name=f"ntw-{run_id}", array=array,
                             units_file=units_file, log_name=f"{stage}-%A_%a.out",
                             sbatch_options=self.sbatch_options, deps=self.deps(), python=self.interpreter(),
                             singularity=sing, singularity_options=opts, container=image,
                             version=__version__, environment=self.environment_label())

    def _upload_and_sbatch(self, remote_dir: str, bundle: bytes, seq: int, script_name: str,
                           **submit_options) -> tuple[str | None, dict, str]:
        """ONE command: send ``bundle`` on stdin, extract and verify it in ``remote_dir``, ``sbatch``
        ``script_name``; ``(job id or None, the output's sections, error message)``."""
        cmd = rs.submit_script(run_dir=remote_dir, checksums=f"SHA256SUMS-{seq}", job_file=f"{script_name}.id",
                               script=script_name, deps=self.deps(), **submit_options)
        status, out, err = self.session().run(cmd, stdin=bundle, check=False,
                                              timeout=self.command_timeout + len(bundle) / 100_000)
        parsed = {name: args.strip() for name, args, _ in states.sections(out)}
        job_id = parsed.get("JOB")
        if status != 0 or not job_id or not job_id.isdigit():
            return None, parsed, parsed.get("ERROR") or (err.strip()[-500:] or out.strip()[-500:])
        return job_id, parsed, ""

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
