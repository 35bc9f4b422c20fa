# size: one idea, one SSH connection: where to connect (~/.ssh/config, ProxyJump, ProxyCommand), whom to trust (host
# keys), how to log in (keys, agent, secrets asked through a callback) and running commands on it share
# one transport and its lock; split, they would pass the transport around.
"""The SSH layer of remote environments (paramiko): verified host keys, callbacks for secrets,
``~/.ssh/config``, timeouts on every command, reconnection with back-off, quoted paths.

Security rules, all enforced here:

- Host keys are checked against the user's ``~/.ssh/known_hosts`` and napari-tramway's own
  ``known_hosts``. An unknown key is shown to ``confirm_host_key(host, key_type, fingerprint)``
  (SHA256 fingerprint, as OpenSSH prints it); refused unless it returns True, and then remembered
  in napari-tramway's file. A key that differs from the known one is always refused
  (:class:`HostKeyMismatch`, with both fingerprints).
- Keys and the SSH agent are tried first; passwords and one-time codes are asked through the
  ``ask_secret(prompt, echo)`` callback and never stored (not even in memory beyond the call).
- Every remote command has a timeout; a dropped connection is reopened with exponential back-off.
- A cluster behind a bastion: ``ProxyJump`` (chains ``a,b``; each hop's host key is checked
  here) or ``ProxyCommand`` (run through the shell, :mod:`.proxy`; the command checks the
  bastion's key itself, e.g. ``ssh -W %h:%p bastion``, and the cluster's key is checked here).
  When a config entry has both, ``ProxyJump`` is used.
- Remote paths are quoted by :mod:`.slurm.commands`, which builds every command, and
  :func:`safe_local_path` refuses anything that would land outside the run's local directory.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from .ledger import config_dir

# paramiko logs a failed handshake with its traceback, which Python would print on stderr when the
# application configured no logging; the error itself is raised with one clear message
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def own_known_hosts() -> str:
    """napari-tramway's own known_hosts, where accepted host keys are added (read when asked, so
    that ``NAPARI_TRAMWAY_CONFIG`` set after import counts)."""
    return str(config_dir() / "known_hosts")


class SSHError(RuntimeError):
    """A remote operation failed; the message says which host and what."""


class HostKeyRefused(SSHError):
    """The host's key is unknown and was not accepted."""


class HostKeyMismatch(SSHError):
    """The host presented a key different from the one in known_hosts (possible attack)."""


class AuthenticationFailed(SSHError):
    pass


class Unreachable(SSHError):
    """The host does not answer (refused, timed out, no route, unknown name): ``host``, ``port``,
    ``cause``."""

    def __init__(self, target: SSHTarget, cause: BaseException):
        self.host, self.port, self.username = target.hostname, target.port, target.username
        self.cause = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        super().__init__(f"cannot reach {self.host} port {self.port} (as {self.username}): {self.cause}")


class CommandTimeout(SSHError):
    pass


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint: ``SHA256:base64`` without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def safe_local_path(base: Path, relative: str) -> Path:
    """``base / relative``, refusing absolute paths, ``..`` and symlink escapes (path traversal)."""
    rel = str(relative).replace("\\", "/")
    if rel.startswith("/") or rel.startswith("~") or any(part in ("..",) for part in rel.split("/")):
        raise SSHError(f"refusing path {relative!r} from the cluster: it would leave {base}")
    base = Path(base).resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise SSHError(f"refusing path {relative!r} from the cluster: it resolves outside {base}")
    return target


@dataclass
class SSHTarget:
    """Where to connect: host, port, user, key files and jump host or proxy command, after
    ``~/.ssh/config``."""

    hostname: str
    port: int = 22
    username: str | None = None
    key_filenames: list[str] = field(default_factory=list)
    proxy_jump: str | None = None
    proxy_command: str | None = None
    """``ProxyCommand`` of the SSH config (``%h``, ``%p``, ``%r`` replaced); used without a ProxyJump."""
    alias: str | None = None
    known_hosts: list[str] = field(default_factory=list)
    config_path: str | None = None
    """The SSH config file it was resolved with (jump hosts are resolved with it too)."""

    @classmethod
    def resolve(cls, host: str, port: int | None = None, username: str | None = None,
                key_filename: str | list[str] | None = None, config_path: str | None = None) -> SSHTarget:
        """Apply ``~/.ssh/config`` (HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand,
        UserKnownHostsFile)."""
        cfg = paramiko.SSHConfig()
        path = Path(config_path or Path.home() / ".ssh" / "config").expanduser()
        if path.exists():
            try:
                cfg = paramiko.SSHConfig.from_path(str(path))
            except Exception as exc:
                raise SSHError(f"{path}: cannot parse SSH config ({exc})") from None
        entry = cfg.lookup(host) if path.exists() else {"hostname": host}
        keys = []
        if key_filename:
            keys = [key_filename] if isinstance(key_filename, str) else list(key_filename)
        elif "identityfile" in entry:
            keys = [os.path.expanduser(k) for k in entry["identityfile"]]
        known = [os.path.expanduser(k) for k in str(entry.get("userknownhostsfile", "")).split() if k]
        return cls(
            hostname=entry.get("hostname", host),
            port=int(port or entry.get("port", 22)),
            username=username or entry.get("user") or _local_user(),
            key_filenames=keys,
            proxy_jump=entry.get("proxyjump"),
            proxy_command=entry.get("proxycommand"),
            alias=host,
            known_hosts=known,
            config_path=config_path,
        )

    @property
    def display(self) -> str:
        p = "" if self.port == 22 else f":{self.port}"
        return f"{self.username}@{self.hostname}{p}"


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "user"


class SSHSession:
    """One authenticated SSH connection with SFTP, reopened transparently when it drops.

    Parameters
    ----------
    target : SSHTarget
    confirm_host_key : callable(host, key_type, fingerprint) -> bool, optional
        Asked when the host key is unknown; None means refuse unknown keys.
    ask_secret : callable(prompt, echo) -> str or None, optional
        Asked for passwords and one-time codes; never stored.
    known_hosts_files : list of paths
        Files searched for known keys; the last one is napari-tramway's own, where accepted
        keys are added.
    connect_timeout, command_timeout : float (s)
    allow_agent, look_for_keys : bool
    """

    def __init__(self, target: SSHTarget, *, confirm_host_key: Callable | None = None,
                 ask_secret: Callable | None = None, known_hosts_files: list | None = None,
                 connect_timeout: float = 15.0, command_timeout: float = 120.0,
                 allow_agent: bool = True, look_for_keys: bool = True, max_retries: int = 6,
                 backoff: float = 1.0, backoff_max: float = 30.0, _hops: int = 0):
        self.target = target
        self.confirm_host_key = confirm_host_key
        self.ask_secret = ask_secret
        if known_hosts_files is None:
            known_hosts_files = list(target.known_hosts) or [str(Path.home() / ".ssh" / "known_hosts")]
            known_hosts_files.append(own_known_hosts())
        self.known_hosts_files = [str(p) for p in known_hosts_files]
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.allow_agent = allow_agent
        self.look_for_keys = look_for_keys
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._jump: SSHSession | None = None
        self._lock = threading.RLock()
        self._hops = _hops
        self.round_trips = 0
        """Number of remote commands and SFTP operations issued (for efficiency checks)."""
        self.bytes_uploaded = 0
        self.reconnects = 0

    # -- connection ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.is_active() and self._transport.is_authenticated()

    def connect(self) -> SSHSession:
        with self._lock:
            if self.connected:
                return self
            self._close_transport()
            self._transport = self._open()
            return self

    def _host_key_name(self) -> str:
        t = self.target
        return t.hostname if t.port == 22 else f"[{t.hostname}]:{t.port}"

    def _known_keys(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        for path in self.known_hosts_files:
            if os.path.exists(path):
                try:
                    keys.load(path)
                except (OSError, paramiko.SSHException) as exc:
                    raise SSHError(f"{path}: unreadable known_hosts file ({exc})") from None
        return keys

    def _revoked(self) -> set[bytes]:
        """Keys marked ``@revoked`` in the known_hosts files (paramiko skips those lines)."""
        out = set()
        for path in self.known_hosts_files:
            try:
                lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) >= 4 and fields[0] == "@revoked":
                    try:
                        out.add(base64.b64decode(fields[3]))
                    except ValueError:
                        continue
        return out

    def _check_host_key(self, key: paramiko.PKey) -> None:
        name = self._host_key_name()
        if key.asbytes() in self._revoked():
            raise HostKeyRefused(f"the host key of {name} ({key.get_name()} {fingerprint(key)}) is marked @revoked "
                                 "in known_hosts; not connecting")
        names = {name, self.target.hostname if self.target.port == 22 else name}
        if self.target.alias:
            names.add(self.target.alias if self.target.port == 22 else f"[{self.target.alias}]:{self.target.port}")
        known = self._known_keys()
        entries = {}
        for n in names:
            e = known.lookup(n)
            if e:
                entries.update(dict(e.items()))
        fp = fingerprint(key)
        if entries:
            same_type = entries.get(key.get_name())
            if same_type is not None:
                if same_type.asbytes() == key.asbytes():
                    return
                raise HostKeyMismatch(
                    f"HOST KEY MISMATCH for {name}: known_hosts has {same_type.get_name()} {fingerprint(same_type)} "
                    f"but the server presented {fp}. Someone may be intercepting the connection, or the host "
                    f"was reinstalled; check with the cluster admins, then remove the old key from known_hosts."
                )
            others = ", ".join(f"{k} {fingerprint(v)}" for k, v in entries.items())
            raise HostKeyMismatch(
                f"HOST KEY MISMATCH for {name}: the server presented {key.get_name()} {fp}, "
                f"but known_hosts only has {others}; refusing to connect."
            )
        accepted = False
        if self.confirm_host_key is not None:
            accepted = bool(self.confirm_host_key(name, key.get_name(), fp))
        if not accepted:
            raise HostKeyRefused(f"unknown host key for {name}: {key.get_name()} {fp} — not accepted, not connecting")
        own = Path(self.known_hosts_files[-1])
        own.parent.mkdir(parents=True, exist_ok=True)
        with open(own, "a", encoding="utf-8") as fh:
            fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        try:
            os.chmod(own, 0o600)
        except OSError:
            pass

    def _jump_session(self) -> SSHSession:
        """The session to the last hop of ``ProxyJump a,b,...`` (``b``, itself reached through
        ``a``), with the same config file, host-key files, callbacks and authentication settings."""
        if self._hops >= 8:
            raise SSHError(f"{self.target.display}: more than 8 ProxyJump hops (a loop in the SSH config?)")
        hops = [h.strip() for h in self.target.proxy_jump.split(",") if h.strip()]
        hop = hops[-1].removeprefix("ssh://")
        user, _, hostport = hop.rpartition("@")
        host, _, port = hostport.partition(":")
        jt = SSHTarget.resolve(host, int(port) if port else None, user or None, config_path=self.target.config_path)
        if len(hops) > 1:
            jt.proxy_jump = ",".join(hops[:-1])
        return SSHSession(jt, confirm_host_key=self.confirm_host_key, ask_secret=self.ask_secret,
                          known_hosts_files=self.known_hosts_files, connect_timeout=self.connect_timeout,
                          command_timeout=self.command_timeout, allow_agent=self.allow_agent,
                          look_for_keys=self.look_for_keys, max_retries=0, _hops=self._hops + 1)

    def _socket(self):
        if self.target.proxy_jump and self.target.proxy_jump.strip().lower() != "none":
            self._jump = self._jump_session()
            self._jump.connect()
            try:
                return self._jump._transport.open_channel(
                    "direct-tcpip", (self.target.hostname, self.target.port), ("127.0.0.1", 0),
                    timeout=self.connect_timeout)
            except (paramiko.SSHException, OSError) as exc:
                raise SSHError(f"cannot reach {self.target.display} through the jump host "
                               f"{self._jump.target.display}: {exc}") from None
        if self.target.proxy_command:
            from .proxy import ProxyCommandSocket

            try:
                return ProxyCommandSocket(self.target.proxy_command)
            except OSError as exc:
                raise SSHError(f"cannot start the ProxyCommand of {self.target.alias or self.target.hostname} "
                               f"({self.target.proxy_command}): {exc}") from None
        try:
            return socket.create_connection((self.target.hostname, self.target.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise Unreachable(self.target, exc) from None

    def _open(self) -> paramiko.Transport:
        sock = self._socket()
        t = paramiko.Transport(sock)
        t.banner_timeout = self.connect_timeout
        t.auth_timeout = self.connect_timeout
        try:
            t.start_client(timeout=self.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            t.close()
            if hasattr(sock, "why"):  # a ProxyCommand: its own words say why
                raise Unreachable(self.target, OSError(f"the ProxyCommand ({self.target.proxy_command}) "
                                                       f"{sock.why()}")) from None
            raise SSHError(f"SSH handshake with {self.target.display} failed: {exc}") from None
        try:
            self._check_host_key(t.get_remote_server_key())
            self._authenticate(t)
        except BaseException:
            t.close()
            raise
        t.set_keepalive(30)
        return t

    def _authenticate(self, t: paramiko.Transport) -> None:
        user = self.target.username
        errors = []
        allowed = None
        keys: list[paramiko.PKey] = []
        if self.allow_agent:
            try:
                keys.extend(paramiko.Agent().get_keys())
            except Exception:
                pass
        files = list(self.target.key_filenames)
        if self.look_for_keys and not files:
            for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
                p = Path.home() / ".ssh" / name
                if p.exists():
                    files.append(str(p))
        for path in files:
            try:
                keys.append(paramiko.PKey.from_path(path))
            except paramiko.PasswordRequiredException:
                if self.ask_secret is not None:
                    secret = self.ask_secret(f"Passphrase for key {path}:", False)
                    if secret:
                        try:
                            keys.append(paramiko.PKey.from_path(path, passphrase=secret))
                        except Exception as exc:
                            errors.append(f"key {path}: {exc}")
                    del secret
            except Exception as exc:
                errors.append(f"key {path}: {exc}")
        for key in keys:
            try:
                remaining = t.auth_publickey(user, key)
                if not remaining:
                    return
                allowed = remaining
                break  # partial success: continue with the next method (2FA)
            except paramiko.BadAuthenticationType as exc:
                allowed = exc.allowed_types
                break
            except paramiko.AuthenticationException as exc:
                errors.append(f"{key.get_name()} key refused ({exc})")
        if self.ask_secret is None:
            raise AuthenticationFailed(
                f"cannot log in to {self.target.display} with keys or the agent"
                + (f" ({'; '.join(errors)})" if errors else "") + "; no way to ask for a password here"
            )
        if allowed is None or "keyboard-interactive" in allowed:
            def handler(title, instructions, prompts):
                answers = []
                for prompt, echo in prompts:
                    text = (f"{title}\n" if title else "") + (f"{instructions}\n" if instructions else "") + prompt
                    answers.append(self.ask_secret(text.strip(), echo) or "")
                return answers
            try:
                remaining = t.auth_interactive(user, handler)
                if not remaining:
                    return
                allowed = remaining
            except paramiko.BadAuthenticationType as exc:
                allowed = exc.allowed_types
            except paramiko.AuthenticationException as exc:
                errors.append(f"keyboard-interactive refused ({exc})")
        if allowed is None or "password" in allowed:
            secret = self.ask_secret(f"Password for {self.target.display}:", False)
            if secret:
                try:
                    remaining = t.auth_password(user, secret)
                    del secret
                    if not remaining:
                        return
                except paramiko.AuthenticationException as exc:
                    errors.append(f"password refused ({exc})")
        raise AuthenticationFailed(f"authentication to {self.target.display} failed: " + "; ".join(errors or ["no method left"]))

    def _close_transport(self):
        for obj in (self._sftp, self._transport):
            try:
                if obj is not None:
                    obj.close()
            except Exception:
                pass
        self._sftp = None
        self._transport = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None

    def close(self) -> None:
        with self._lock:
            self._close_transport()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def _retrying(self, what: str, fn):
        """Run ``fn()``; on a dropped connection reconnect with back-off and retry."""
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            try:
                self.connect()
                return fn()
            except (HostKeyMismatch, HostKeyRefused, AuthenticationFailed, CommandTimeout):
                raise
            except (paramiko.SSHException, EOFError, OSError, SSHError) as exc:
                if attempt == self.max_retries:
                    raise SSHError(f"{what} on {self.target.display} failed after {attempt + 1} attempts: {exc}") from None
                self._close_transport()
                self.reconnects += 1
                time.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    # -- commands -----------------------------------------------------------------------------
    def run(self, command: str, timeout: float | None = None, check: bool = True, login: bool = True,
            stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run ``command`` through ``bash -l -c`` (so site modules work); return (status, stdout, stderr).

        Raises :class:`CommandTimeout` after ``timeout`` s (default: ``command_timeout``) and,
        with ``check``, :class:`SSHError` on a non-zero status (with stderr's tail).
        """
        timeout = self.command_timeout if timeout is None else timeout
        wrapped = f"bash -l -c {shlex.quote(command)}" if login else command

        def once():
            with self._lock:
                chan = self._transport.open_session(timeout=self.connect_timeout)
            self.round_trips += 1
            chan.settimeout(1.0)
            chan.exec_command(wrapped)
            if stdin is not None:
                # a large stdin (an upload) may wait for the remote side's window: allow the
                # command's timeout rather than the 1 s read poll
                chan.settimeout(timeout)
                chan.sendall(stdin)
                chan.shutdown_write()
                chan.settimeout(1.0)
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    chan.close()
                    raise CommandTimeout(f"command timed out after {timeout:.0f} s on {self.target.display}: "
                                         f"{command[:200]}")
                if not self._transport.is_active():
                    raise EOFError("connection lost while the command ran")
                time.sleep(0.01)
            status = chan.recv_exit_status()
            chan.close()
            return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

        status, out, err = self._retrying("command", once)
        if stdin:
            self.bytes_uploaded += len(stdin)
        if check and status != 0:
            tail = "\n".join(err.strip().splitlines()[-15:])
            raise SSHError(f"remote command failed with status {status} on {self.target.display}: "
                           f"{command[:300]}\n{tail}")
        return status, out, err

    # -- files --------------------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            self.connect()
            if self._sftp is None:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport)
                self._sftp.get_channel().settimeout(self.command_timeout)
            return self._sftp

    def _abs(self, remote: str) -> str:
        if remote.startswith("~/"):
            return remote[2:]  # SFTP paths are relative to the home directory
        return remote

    def put(self, local, remote: str) -> int:
        """Upload a file; return its size in bytes."""
        size = os.path.getsize(local)

        def once():
            self.sftp().put(str(local), self._abs(remote))
            self.round_trips += 1
            return size

        self._retrying("upload", once)
        self.bytes_uploaded += size
        return size

    def get(self, remote: str, local: Path) -> None:
        """Download ``remote`` to ``local`` (written to a temporary name, then renamed)."""
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part")

        def once():
            self.sftp().get(self._abs(remote), str(tmp))
            self.round_trips += 1

        try:
            self._retrying("download", once)
            os.replace(tmp, local)
        finally:
            if tmp.exists():
                tmp.unlink()
