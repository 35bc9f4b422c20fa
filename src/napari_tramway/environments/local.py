"""Local environments: in this process (the default), or a pool of local worker processes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

from ..pipeline.events import CANCELLED, DONE, FAILED, QUEUED, UnitEvent
from .base import Environment, RunJob, run_stages, skip_done, unit_status


def _one_blas_thread():
    """Limit BLAS/OpenMP pools to one thread while units run in this process.

    Multithreaded BLAS makes the models' small dense operations several times slower on few
    cores (see docs/models.md); without threadpoolctl this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


class InProcess(Environment):
    """Units one after the other in the calling thread; cancellable between units and inside fits."""

    name = "inprocess"

    def execute(self, job: RunJob, emit, cancel: threading.Event) -> None:
        run_stages(job, emit, cancel, self._execute_stage)

    def _execute_stage(self, job: RunJob, emit, cancel: threading.Event) -> None:
        for u in job.units:
            emit(UnitEvent(QUEUED, u.label))
        todo = skip_done(job, emit)
        with _one_blas_thread():
            self._run_units(job, todo, emit, cancel)

    def _run_units(self, job, todo, emit, cancel):
        from ..pipeline.worker import run_one

        for unit in todo:
            if cancel.is_set():
                emit(UnitEvent(CANCELLED, unit.label, message="run cancelled before this unit started"))
                continue
            run_one(job.store, job.spec, unit, stage=job.stage, emit=lambda d: emit(UnitEvent.from_dict(d)),
                    cancel=cancel.is_set, environment=self.name)


def default_worker_count() -> int:
    """All cores but one (at least 1)."""
    return max(1, (os.cpu_count() or 2) - 1)


class _Worker:
    """One ``python -m napari_tramway.pipeline.worker serve`` process and its stdout reader thread."""

    def __init__(self, store_dir: str, events: queue.Queue, env_vars: dict, nice: int = 0):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "napari_tramway.pipeline.worker", "serve", "--store", store_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env=env_vars, start_new_session=True,
        )
        self.pid = self.proc.pid
        if nice:
            try:  # below the GUI / the client, so napari stays responsive while workers compute
                os.setpriority(os.PRIO_PROCESS, self.pid, nice)
            except (OSError, AttributeError):
                pass
        self.unit = None
        self.ready = False
        self.started_ok = False
        self.stderr_tail: list[str] = []
        self._events = events
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            self._events.put((self, d))
        self.proc.wait()
        self._events.put((self, {"kind": "exit", "returncode": self.proc.returncode}))

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))
            del self.stderr_tail[:-30]

    def send(self, cmd: dict) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def kill(self, grace: float = 2.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``grace`` s) and wait for it."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"quit": True})
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.kill()


class LocalHost(Environment):
    """A pool of local worker processes (default: all cores but one).

    Each worker is a long-lived ``python -m napari_tramway.pipeline.worker serve`` process that reads each
    data file once and runs units one at a time, with one BLAS thread. A worker that dies mid-unit
    leaves that unit failed (with its exit status) and is replaced; cancel stops every worker.
    """

    name = "local"

    def __init__(self, worker_count: int | None = None, nice: int = 5):
        self.nice = int(nice)
        """Scheduling priority added to worker processes (0 = same as this process)."""
        if worker_count is not None and worker_count < 0:
            worker_count = max(1, (os.cpu_count() or 2) + worker_count)
        self.worker_count = worker_count or default_worker_count()
        self.pids: list[int] = []
        """Pids of every worker process started by the last run (for tests and diagnostics)."""

    def describe(self) -> str:
        return f"local ({self.worker_count} worker process{'es' if self.worker_count > 1 else ''})"

    def _env_vars(self) -> dict:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "NAPARI_TRAMWAY_THREADS"):
            env[var] = "1"
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def execute(self, job: RunJob, emit, cancel: threading.Event) -> None:
        run_stages(job, emit, cancel, self._execute_stage)

    def _execute_stage(self, job: RunJob, emit, cancel: threading.Event) -> None:
        for u in job.units:
            emit(UnitEvent(QUEUED, u.label))
        todo = list(skip_done(job, emit))
        if not todo:
            return
        events: queue.Queue = queue.Queue()
        env_vars = self._env_vars()
        workers: list[_Worker] = []
        self.pids = []
        n_workers = min(self.worker_count, len(todo))
        pending = list(todo)
        finished: set[str] = set()
        total = len(todo)
        startup_failures = 0

        def spawn():
            w = _Worker(str(job.store.root), events, env_vars, self.nice)
            workers.append(w)
            self.pids.append(w.pid)
            return w

        try:
            for _ in range(n_workers):
                spawn()
            while len(finished) < total:
                if cancel.is_set():
                    break
                try:
                    w, d = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                kind = d.get("kind")
                if kind in ("ready", "idle"):
                    w.ready = True
                    w.started_ok = True
                    w.unit = None
                    if pending and not cancel.is_set():
                        unit = pending.pop(0)
                        w.unit = unit
                        w.ready = False
                        w.send({"unit": unit.to_dict(), "stage": job.stage, "environment": self.name})
                    elif not pending:
                        w.close()
                elif kind == "exit":
                    if w in workers:
                        workers.remove(w)
                    if not w.started_ok:
                        startup_failures += 1
                        if startup_failures >= 3:
                            tail = "\n".join(w.stderr_tail[-15:])
                            error = (f"worker processes exit before starting (status {d.get('returncode')}); "
                                     f"last error output:\n{tail}")
                            for unit in pending:
                                emit(UnitEvent(FAILED, unit.label, error=error, where=f"localhost:{w.pid}"))
                                finished.add(unit.label)
                            pending.clear()
                    else:
                        startup_failures = 0
                    if w.unit is not None and w.unit.label not in finished:
                        rc = d.get("returncode")
                        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit status {rc}"
                        error = f"worker process {w.pid} died while running this unit ({how})"
                        tail = "\n".join(w.stderr_tail[-10:])
                        try:
                            job.store.write_failure(w.unit, error, tail, f"localhost:{w.pid}")
                        except OSError:
                            pass
                        emit(UnitEvent(FAILED, w.unit.label, error=error, traceback=tail or None,
                                       where=f"localhost:{w.pid}"))
                        finished.add(w.unit.label)
                        w.unit = None
                    if pending and not cancel.is_set() and len(workers) < n_workers:
                        spawn()
                    if not workers and len(finished) < total and not pending:
                        break
                elif "unit" in d and kind in ("started", "progress", "done", "failed", "cancelled"):
                    ev = UnitEvent.from_dict(d)
                    emit(ev)
                    if ev.final:
                        finished.add(ev.unit)
        finally:
            stopping = cancel.is_set()
            for w in list(workers):
                if stopping or w.unit is not None:
                    w.kill()
                else:
                    w.close()
            for w in list(workers):
                w.kill()
            if stopping:
                for unit in todo:
                    if unit.label in finished:
                        continue
                    # a unit may have finished between the cancel and the workers' stop
                    if unit_status(job, unit).state == "done":
                        emit(UnitEvent(DONE, unit.label, message="finished before the cancel took effect"))
                    else:
                        emit(UnitEvent(CANCELLED, unit.label, message="run cancelled"))


__all__ = ["InProcess", "LocalHost", "default_worker_count"]
