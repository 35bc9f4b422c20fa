"""The unit worker: runs units of an analysis from its result store and writes their results.

Needs only :mod:`napari_tramway.core`, :mod:`napari_tramway.pipeline` and the packages of
:mod:`.requirements` (numpy, scipy, pandas, shapely), so
it runs on cluster nodes inside containers. Every environment uses it:

``python -m napari_tramway.pipeline.worker run --store DIR --unit LABEL [--stage S] [--input STEPS.ntw]``
    run one unit (exit status 0 when done, 1 when it failed, 3 when cancelled).
``python -m napari_tramway.pipeline.worker array --store DIR --units UNITS.json --task-id N``
    run the N-th unit of a list (Slurm array tasks; N defaults to ``$SLURM_ARRAY_TASK_ID``).
``python -m napari_tramway.pipeline.worker serve --store DIR``
    a long-lived worker for :class:`~napari_tramway.environments.LocalHost`: reads one JSON command
    per line on stdin (``{"unit": {...}}``), writes JSON events per line on stdout.

The analysis spec is read from the store (``store.json``). A failure writes the unit's
``.failed.json`` record (error, traceback, host:pid) and reports it; nothing half-written ever
looks done (see :mod:`napari_tramway.pipeline.store`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    loc = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}" if frame else "?"
    return f"{socket.gethostname()}:{os.getpid()} {loc}"


def _load(store_dir):
    from .store import ResultStore

    store = ResultStore(store_dir)
    spec = store.spec()
    return store, spec


_TERMINATING = threading.Event()
"""Set when this process received SIGTERM (a cancel, or Slurm's scancel)."""


def _on_sigterm(*_):
    _TERMINATING.set()
    sys.exit(143)


def run_one(store, spec, unit, stage=None, steps=None, emit=None, cancel=None, environment="worker") -> str:
    """Run ``unit``; report through ``emit(dict)``; return the final kind (done/failed/cancelled).

    ``steps`` is the unit's :class:`~napari_tramway.pipeline.inputs.UnitInput` (pre-cropped
    steps), or a callable returning it (so that failing to read a unit's input is recorded like
    any failure of the unit), or None to read the data file.
    """
    from .stages import Cancelled, run_unit

    emit = emit or (lambda d: None)
    last = [0.0]

    def progress(fraction, message):
        now = time.monotonic()
        if now - last[0] >= 0.1 or fraction in (0.0, 1.0):
            last[0] = now
            emit({"kind": "progress", "unit": unit.label, "fraction": fraction, "message": message})

    emit({"kind": "started", "unit": unit.label, "where": f"{socket.gethostname()}:{os.getpid()}"})
    try:
        if callable(steps):
            steps = steps()
        maps, meta = run_unit(spec, unit, store, stage=stage, unit_input=steps, progress=progress,
                              cancel=cancel, environment=environment)
    except Cancelled:
        emit({"kind": "cancelled", "unit": unit.label, "message": "cancelled"})
        return "cancelled"
    except (KeyboardInterrupt, SystemExit):
        # interrupted (Ctrl-C, SIGTERM from a cancel): not a failure of the unit; nothing written
        emit({"kind": "cancelled", "unit": unit.label, "message": "interrupted"})
        raise
    except Exception as exc:  # every failure is reported, nothing escapes unrecorded
        if _TERMINATING.is_set():
            # the stop turned into another exception on its way out (a cleanup that failed
            # half-way): it is the cancel, not a failure of the unit; nothing written
            emit({"kind": "cancelled", "unit": unit.label, "message": "interrupted"})
            raise SystemExit(143) from exc
        error = f"{type(exc).__name__}: {exc}"
        where = _where(exc)
        tb = traceback.format_exc()
        try:
            store.write_failure(unit, error, tb, where, stage=stage or spec.stage)
        except Exception:
            pass
        emit({"kind": "failed", "unit": unit.label, "error": error, "traceback": tb, "where": where})
        return "failed"
    timings = meta.get("timings", {}) if meta else {}
    with_steps = f" ({meta['n_cells_with_steps']} with steps)" if "n_cells_with_steps" in meta else ""
    emit({"kind": "done", "unit": unit.label, "message": f"{meta.get('n_cells', '?')} cells{with_steps} in "
          f"{timings.get('total', 0):.2f} s"})
    return "done"


def _cmd_run(args) -> int:
    from .inputs import read_unit_input
    from .units import Unit

    store, spec = _load(args.store)
    unit = Unit.from_dict(json.loads(args.unit_json))
    steps = (lambda: read_unit_input(args.input)) if args.input else None
    kind = run_one(store, spec, unit, stage=args.stage, steps=steps, emit=_print_event, environment=args.env)
    return EXIT_STATUS[kind]


def _cmd_array(args) -> int:
    from .inputs import read_unit_input
    from .units import Unit

    task = args.task_id if args.task_id is not None else int(os.environ.get("SLURM_ARRAY_TASK_ID", "-1"))
    with open(args.units, encoding="utf-8") as fh:
        plan = json.load(fh)
    entries = plan["units"]
    if not 0 <= task < len(entries):
        print(f"task id {task} outside the {len(entries)} units of {args.units}", file=sys.stderr)
        return 2
    entry = entries[task]
    unit = Unit.from_dict(entry["unit"])
    store, spec = _load(args.store)
    steps = None
    if entry.get("input"):
        path = os.path.join(os.path.dirname(os.path.abspath(args.units)), entry["input"])
        steps = lambda: read_unit_input(path)  # noqa: E731
    kind = run_one(store, spec, unit, stage=plan.get("stage"), steps=steps, emit=_print_event,
                   environment=plan.get("environment", "slurm"))
    return EXIT_STATUS[kind]


EXIT_STATUS = {"done": 0, "failed": 1, "cancelled": 3}


def _print_event(d) -> None:
    line = json.dumps(d, default=str)
    print("NTW-EVENT " + line, flush=True)


def _cmd_serve(args) -> int:
    """Long-lived worker: one command per stdin line, events on the original stdout."""
    from .units import Unit

    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    lock = threading.Lock()

    def emit(d):
        with lock:
            proto.write(json.dumps(d, default=str) + "\n")
            proto.flush()

    store, spec = _load(args.store)
    emit({"kind": "ready", "pid": os.getpid()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
        except ValueError:
            emit({"kind": "error", "message": f"bad command {line[:80]!r}"})
            continue
        if cmd.get("quit"):
            break
        unit = Unit.from_dict(cmd["unit"])
        run_one(store, spec, unit, stage=cmd.get("stage"), emit=emit, environment=cmd.get("environment", "local"))
        emit({"kind": "idle", "pid": os.getpid()})
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m napari_tramway.pipeline.worker", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run one unit")
    p.add_argument("--store", required=True)
    p.add_argument("--unit-json", required=True, help="the unit, as JSON (Unit.to_dict)")
    p.add_argument("--stage", default=None)
    p.add_argument("--input", default=None, help="pre-cropped steps of the unit's region")
    p.add_argument("--env", default="worker")
    p = sub.add_parser("array", help="run the N-th unit of a unit list (Slurm array task)")
    p.add_argument("--store", required=True)
    p.add_argument("--units", required=True)
    p.add_argument("--task-id", type=int, default=None)
    p = sub.add_parser("serve", help="long-lived worker speaking JSON lines")
    p.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "array":
        return _cmd_array(args)
    return _cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
