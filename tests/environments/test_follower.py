"""The polling loop's state machine with a scripted fake SSH session (no cluster needed): state
changes reported once, unknown tasks, tasks that complete without a result, detach."""

from __future__ import annotations

import json
import threading

from napari_tramway.environments import SlurmOverSSH, ledger
from napari_tramway.pipeline.events import UnitEvent


class FakeSession:
    def __init__(self, polls):
        self.polls = list(polls)
        self.commands = []
        self.round_trips = 0
        self.target = type("T", (), {"display": "u@fake"})()

    def connect(self):
        return self

    def close(self):
        pass

    def run(self, script, stdin=None, check=True, timeout=None, login=True):
        self.round_trips += 1
        self.commands.append(script)
        if "@@SQUEUE" in script or "@@NORUN" in script and "find units" in script:
            out = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
            return 0, out + "\n@@END\n", ""
        if "@@LOG" in script:
            return 0, "@@LOG logs/infer-7_0.out\nTraceback...\nRuntimeError: node lost\n@@ENDLOG\n@@END\n", ""
        if "rm -rf" in script:
            return 0, "@@REMOVED\n", ""
        return 0, "@@END\n", ""


class Fake(SlurmOverSSH):
    @classmethod
    def hostname(cls):
        return "fake.example"

    @classmethod
    def scratch(cls, username):
        return "/scratch/" + username


def make_record(tmp_path, n=2):
    units = [{"index": i, "unit": {"file_index": 0, "file_label": "c", "region_label": f"roi00{i}", "label":
                                   f"c/roi00{i}"}, "input": None} for i in range(n)]
    rec = {"run_id": "20250101-000000-abcdef", "status": "submitted", "site": {}, "remote_dir":
           "/scratch/u/napari-tramway/20250101-000000-abcdef", "stage": "infer", "local_store": str(tmp_path / "s"),
           "units": units, "jobs": [{"job_id": "7", "stage": "infer", "indices": None}],
           "log_pattern": "logs/{stage}-{job}_{index}.out"}
    ledger.save(rec)
    return rec


def follow(tmp_path, polls, **settings):
    env = Fake(username="u", poll_interval=0.01, max_poll_interval=0.02, completion_grace=0.0,
               unknown_timeout=3600, **settings)
    env._session = FakeSession(polls)
    rec = make_record(tmp_path)
    events = []
    env.follow(rec, emit=events.append)
    return env, rec, events


def test_state_changes_unknown_tasks_and_missing_results(tmp_path):
    failure = json.dumps({"error": "ValueError: boom", "traceback": "Traceback...\nValueError: boom", "where": "n1:42"})
    polls = [
        "@@SACCT\nsacct: error: Slurm accounting storage is disabled\n@@RC 1\n"
        "@@SQUEUE\n7_0|PENDING|Priority|\n7_1|PENDING|Priority|\n@@RC 0",
        "@@SQUEUE\n7_0|PENDING|Priority|\n7_1|RUNNING|None|n1\n@@RC 0",
        "@@SQUEUE\n7_0|RUNNING|None|n1\n7_1|RUNNING|None|n1\n@@RC 0",
        "@@SQUEUE\n7_0|RUNNING|None|n1\n@@RC 0",  # 7_1 left the queue: unknown
        "@@SQUEUE\n7_0|COMPLETED|None|n1\n@@RC 0",
        "@@SQUEUE\n7_0|COMPLETED|None|n1\n@@RC 0\n@@FILE units/c/roi001.failed.json\t12.5\n" + failure + "\n@@ENDFILE",
    ]
    env, rec, events = follow(tmp_path, polls * 1)
    kinds = [(e.unit, e.kind, e.state, e.reason) for e in events if e.unit]
    assert kinds.count(("c/roi000", "pending", "PENDING", "Priority")) == 1  # reported once
    assert ("c/roi001", "started", "RUNNING", None) in kinds
    fails = {e.unit: e for e in events if e.kind == "failed"}
    assert "completed but left no result" in fails["c/roi000"].error
    assert "RuntimeError: node lost" in fails["c/roi000"].traceback  # the log tail
    assert fails["c/roi001"].error == "ValueError: boom" and fails["c/roi001"].where == "n1:42"
    assert fails["c/roi001"].state is None  # Slurm had forgotten the task
    msgs = " ".join(e.message for e in events if e.kind == "run")
    assert "accounting is disabled" in msgs and "not known to Slurm" in msgs
    assert rec["accounting"] == "disabled" and rec["status"] == "failed"
    assert "sacct" not in env._session.commands[-2]  # no more sacct once it said disabled
    assert rec["seen"] == {"units/c/roi001.failed.json": "12.5"}
    assert ledger.load(rec["run_id"])["states"]["c/roi001"]["kind"] == "failed"


def test_detach_stops_following_without_cancelling(tmp_path):
    env = Fake(username="u", poll_interval=0.01, max_poll_interval=0.02)
    env._session = FakeSession(["@@SQUEUE\n7_0|RUNNING|None|n1\n7_1|RUNNING|None|n1\n@@RC 0"])
    rec = make_record(tmp_path)
    events: list[UnitEvent] = []
    threading.Timer(0.3, env.detach).start()
    env.follow(rec, emit=events.append)
    assert rec["status"] == "detached"
    assert not any("scancel" in c for c in env._session.commands)
    assert not any(e.kind in ("cancelled", "failed") for e in events)


def test_cancel_scancels_and_waits(tmp_path):
    env = Fake(username="u", poll_interval=0.01, max_poll_interval=0.02)
    session = FakeSession(["@@SQUEUE\n7_0|RUNNING|None|n1\n7_1|PENDING|Resources|\n@@RC 0"])
    env._session = session
    rec = make_record(tmp_path)
    ev = threading.Event()
    events: list[UnitEvent] = []
    threading.Timer(0.2, ev.set).start()
    env.follow(rec, emit=events.append, cancel=ev)
    (cmd,) = [c for c in session.commands if "scancel" in c]
    assert "scancel 7" in cmd and "squeue -h -r -j 7" in cmd
    assert rec["status"] == "cancelled" and rec["remote_removed"]
    assert {e.unit for e in events if e.kind == "cancelled"} == {"c/roi000", "c/roi001"}


def test_remote_directory_removed_on_the_cluster(tmp_path):
    """A run directory purged by the cluster's admins: its units fail (after two polls, not on one
    hiccup), the ledger says it is gone, nobody is told to resubmit into it, and resubmit refuses."""
    import pytest

    from napari_tramway.environments.slurm import SiteError, resubmit

    env, rec, events = follow(tmp_path, ["@@NORUN"])
    assert [c for c in env._session.commands if "@@SQUEUE" in c].__len__() == 2
    fails = [e for e in events if e.kind == "failed"]
    assert {e.unit for e in fails} == {"c/roi000", "c/roi001"} and "is gone" in fails[0].error
    rec = ledger.load(rec["run_id"])
    assert rec["status"] == "failed" and rec["remote_removed"] and rec["remote_gone"]
    msgs = " ".join(e.message for e in events if e.kind == "run")
    assert "removed on the cluster" in msgs and "napari-tramway resubmit" not in msgs
    assert not any("rm -rf" in c for c in env._session.commands)
    with pytest.raises(SiteError, match="removed"):
        resubmit(rec["run_id"])


def test_one_missing_run_directory_is_not_fatal(tmp_path):
    env, rec, events = follow(tmp_path, ["@@NORUN", "@@SQUEUE\n7_0|CANCELLED|None|\n7_1|CANCELLED by 5|None|\n@@RC 0"])
    assert not [e for e in events if e.kind == "failed"]
    assert {lbl: st["kind"] for lbl, st in rec["states"].items()} == {"c/roi000": "cancelled", "c/roi001": "cancelled"}
    assert not rec.get("remote_gone")


def test_cancel_run_scancels_once(tmp_path, monkeypatch):
    from napari_tramway.environments.slurm import cancel_run

    rec = make_record(tmp_path)
    rec["site"] = {"name": "test_follower:Fake", "options": {"username": "u", "poll_interval": 0.01}}
    ledger.save(rec)
    session = FakeSession(["@@SQUEUE\n7_0|CANCELLED|None|\n7_1|CANCELLED|None|\n@@RC 0"])
    monkeypatch.setattr(Fake, "session", lambda self: session)
    out = cancel_run(rec["run_id"])
    assert len([c for c in session.commands if "scancel" in c]) == 1
    assert out["status"] == "cancelled" and out["remote_removed"]
