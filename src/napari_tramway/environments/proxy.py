"""A ``ProxyCommand`` of ``~/.ssh/config`` as the socket of an SSH connection (paramiko).

The command runs as OpenSSH runs it, through the shell (``/bin/sh -c 'exec COMMAND'``, ``%h``,
``%p`` and ``%r`` already replaced), typically ``ssh -W %h:%p bastion`` or ``nc %h %p``: its stdin
and stdout carry the connection. It is stopped by its pid when the connection closes; when it
exits before the SSH handshake, its exit status and the end of its error output say why (``Host key
verification failed.`` from the bastion's ``ssh``, ``Connection refused``...). paramiko's own
``ProxyCommand`` splits the command without a shell and spins when the command exits, hence this
small class.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile


class ProxyCommandSocket:
    """The socket-like end of a running ``ProxyCommand`` (what ``paramiko.Transport`` needs:
    ``send``, ``recv``, ``settimeout``, ``close``)."""

    def __init__(self, command: str):
        self.command = command
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0,
                                        start_new_session=True)
        self.timeout: float | None = None

    # -- what paramiko's transport calls ----------------------------------------------------------
    def send(self, data: bytes) -> int:
        try:
            return self.process.stdin.write(data) or len(data)
        except (BrokenPipeError, ValueError, OSError):
            raise EOFError(f"the ProxyCommand exited: {self.why()}") from None

    def recv(self, size: int) -> bytes:
        """What the command printed so far (at most ``size`` bytes); ``b''`` once it exited."""
        fd = self.process.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], self.timeout)
        if not ready:
            raise TimeoutError()
        return os.read(fd, size)

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None

    _closed = closed

    def close(self) -> None:
        """Stop the command by its pid (SIGTERM, SIGKILL after 2 s) and wait for it."""
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)
                self.process.wait(2)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    # -- diagnostics ------------------------------------------------------------------------------
    def why(self, lines: int = 3) -> str:
        """``exited with status 255: Host key verification failed.`` (or ``still running``)."""
        try:
            status = self.process.wait(1)
        except subprocess.TimeoutExpired:
            status = None
        self._stderr.seek(0)
        tail = self._stderr.read()[-4000:].decode("utf-8", "replace").strip().splitlines()[-lines:]
        head = "still running" if status is None else f"exited with status {status}"
        return head + (": " + " ".join(line.strip() for line in tail) if tail else "")


__all__ = ["ProxyCommandSocket"]
