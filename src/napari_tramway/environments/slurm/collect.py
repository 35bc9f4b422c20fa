"""Collecting a run's results: download the new ones in one tar, verify each against its
done-marker (SHA-256 and size) while writing it atomically into the local result store, and fetch
the log tails of failed tasks.

:class:`Collection` is a part of :class:`~.follower.Follower`.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile

from ...pipeline.events import DONE
from . import commands as rs


class _Rejected(Exception):
    """A downloaded result does not match its done-marker (aborts its atomic write)."""


_CAUSE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*|FATAL:.*|slurmstepd(?:-[\w.-]+)?: error: .*)$")


def cause_from_log(tail: str) -> str | None:
    """The last exception line (or container/Slurm fatal error) of a task log's tail."""
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if _CAUSE.match(line):
            return line[:300]
    return None


class Collection:
    """Downloading and verifying results, log tails (mixed into :class:`~.follower.Follower`)."""

    # -- collection ---------------------------------------------------------------------------------
    def _collect(self, done, res) -> bool:
        from ...core.archive import atomic_write
        from ..ssh import SSHError, safe_local_path

        changed = False
        if res.tar is None:
            for path, mtime, label, _ in done:
                n = self.collect_attempts[label] = self.collect_attempts.get(label, 0) + 1
                if n >= 3:
                    self._fail(label, None, None, f"done-marker {path} without its result file on the cluster"
                               + (f" ({res.tar_error})" if res.tar_error else ""), "")
                    self.seen[path] = mtime
                    changed = True
            return changed
        remote_tar = f"{self.record['remote_dir'].rstrip('/')}/{res.tar[0]}"
        self.store.root.mkdir(parents=True, exist_ok=True)
        local_tar = self.store.root / f".incoming-{self.record['run_id']}.tar"
        try:
            self.site.session().get(remote_tar, local_tar)
            with tarfile.open(local_tar, "r:") as tf:
                members = {m.name: m for m in tf.getmembers() if m.isfile()}
                for path, mtime, label, text in done:
                    rel = path[: -len(".done.json")] + ".ntw"
                    try:
                        marker = json.loads(text)
                        expected, size = str(marker["sha256"]), int(marker["size"])
                    except (ValueError, KeyError, TypeError):
                        self._fail(label, None, None, f"unreadable done-marker {path}", text[-500:])
                        self.seen[path] = mtime
                        changed = True
                        continue
                    member = members.get(rel)
                    if member is None:
                        n = self.collect_attempts[label] = self.collect_attempts.get(label, 0) + 1
                        if n >= 3:
                            self._fail(label, None, None, f"result file {rel} missing on the cluster", "")
                            self.seen[path] = mtime
                            changed = True
                        continue
                    try:
                        target = safe_local_path(self.store.root, rel)
                    except SSHError as exc:
                        self._fail(label, None, None, str(exc), "")
                        self.seen[path] = mtime
                        changed = True
                        continue
                    h = hashlib.sha256()
                    n_bytes = 0
                    src = tf.extractfile(member)
                    try:  # verified before it is put in place; a rejected file leaves nothing behind
                        with atomic_write(target) as fh:
                            while chunk := src.read(1 << 20):
                                h.update(chunk)
                                n_bytes += len(chunk)
                                fh.write(chunk)
                            if h.hexdigest() != expected or n_bytes != size:
                                raise _Rejected
                    except _Rejected:
                        self._fail(label, self._ts(label, res), None,
                                   f"checksum mismatch: {rel} on the cluster has sha256 {h.hexdigest()[:16]}… and "
                                   f"{n_bytes} B, its done-marker says {expected[:16]}… and {size} B; the file was "
                                   "rejected", "")
                        self.seen[path] = mtime
                        changed = True
                        continue
                    self.store.write_marker(target, str(marker.get("format") or ""), marker.get("label") or label,
                                            fingerprint=marker.get("fingerprint"), data_sha256=marker.get("data_sha256"))
                    ts = self._ts(label, res)
                    self._set(label, DONE, slurm=ts.state if ts else None, node=ts.node if ts else None)
                    self._event(label, DONE, message=f"collected {n_bytes / 1024:.0f} KiB, sha256 verified",
                                state=ts.state if ts and ts.terminal else None, where=ts.node if ts else None)
                    self.seen[path] = mtime
                    fail = self.failures.pop(label, None)
                    if fail is not None:
                        self.seen[fail.path] = fail.mtime
                    changed = True
        finally:
            try:
                local_tar.unlink()
            except FileNotFoundError:
                pass
        return changed

    def _ts(self, label, res):
        task = self.task_of.get(label)
        return res.states.get(task) if task else None

    def _log_name(self, label) -> str | None:
        task = self.task_of.get(label)
        if not task:
            return None
        job = self.job_of_task.get(task, {})
        pattern = self.record.get("log_pattern", "logs/{stage}-{job}_{index}.out")
        return pattern.format(stage=job.get("stage", self.record["stage"]), job=task[0], index=task[1])

    def _log_tails(self, labels) -> dict:
        from ..ssh import SSHError

        names = {lbl: self._log_name(lbl) for lbl in labels}
        names = {k: v for k, v in names.items() if v}
        if not names:
            return {}
        try:
            _, out, _ = self.site.session().run(rs.logs_script(run_dir=self.record["remote_dir"],
                                                               logs=sorted(set(names.values()))), check=False)
        except SSHError:
            return {}
        by_name = {}
        current = None
        for line in out.splitlines():
            if line.startswith("@@LOG "):
                current = line[6:]
                by_name[current] = []
            elif line.startswith("@@ENDLOG") or line.startswith("@@END"):
                current = None
            elif current is not None:
                by_name[current].append(line)
        return {lbl: (name, "\n".join(by_name.get(name, []))) for lbl, name in names.items()}
